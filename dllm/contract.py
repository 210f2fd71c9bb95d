"""The engine's boundary without torch: what a caller passes in to steer or stop a completion.

`Constraint` is the protocol a syntax checker implements (`grammars.SyntaxConstraint` does, with
tree-sitter); the engine knows nothing more about syntax than this. `CancelToken` is polled once per
denoising step; a cancelled request raises `Cancelled`. Importing this module imports no torch, so the
server can hold tokens and constraints before (or without) loading a model.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol


class Constraint(Protocol):
    def remask(self, prefix: str, pieces: Sequence[str | None], suffix: str) -> list[int]:
        """Indices of committed middle slots to mask again. pieces: text of each slot, None = masked,
        "" = end-of-middle padding."""

    def finalize(self, prefix: str, middle: str, suffix: str) -> str:
        """The completion cut back so that it leaves the file no less valid than it was."""

    def needs_text(self, prefix: str, suffix: str) -> bool:
        """Whether the file is broken right at the cursor, so that an empty completion cannot be right."""


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
