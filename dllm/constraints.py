"""What the denoising loop calls between steps, and how a caller stops it.

`Constraint` is the protocol a syntax checker implements (`grammars.SyntaxConstraint` does, with
tree-sitter); the engine knows nothing more about syntax than this. `CancelToken` is polled once per
step; a cancelled request raises `Cancelled`. `sampler_for` and `finished` are how both decoders apply
a constraint: its say on empty answers, and the final cut.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import msgspec

from .canvas import Context
from .sampler import SamplerConfig


class Constraint(Protocol):
    def remask(self, prefix: str, pieces: Sequence[str | None], suffix: str) -> list[int]:
        """Indices of committed middle slots to mask again. pieces: text of each slot, None = masked,
        "" = end-of-middle padding."""

    def finalize(self, prefix: str, middle: str, suffix: str) -> str:
        """The completion cut back so that it leaves the file no less valid than it was."""

    def needs_text(self, prefix: str, suffix: str) -> bool:
        """Whether the file is broken right at the cursor, so that an empty completion cannot be right."""


def sampler_for(cfg: SamplerConfig, constraint: Constraint | None, ctx: Context) -> SamplerConfig:
    """`cfg`; with `fill_broken`, `cfg` that must write something where the file without a completion is
    broken at the cursor."""
    if (constraint is None or not cfg.fill_broken or not cfg.allow_empty
            or not constraint.needs_text(ctx.judged_prefix + ctx.typed, ctx.judged_suffix)):
        return cfg
    return msgspec.structs.replace(cfg, allow_empty=False)


def finished(text: str, ctx: Context, constraint: Constraint | None) -> str:
    """The completion as returned: after the blanks typed already, cut back by the constraint (judging
    the file as the user has it), with the line end the cursor needs."""
    text = ctx.after_typed(text)
    if constraint is not None and text:
        text = constraint.finalize(ctx.judged_prefix + ctx.typed, text, ctx.judged_suffix)
    return ctx.ended(text)


class Cancelled(Exception):
    """The request's CancelToken was set while it was being denoised."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()
