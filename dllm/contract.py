"""The engine's boundary, without torch: what a caller passes in and what it gets back.

Everything a server, the CLI or a benchmark needs to drive an engine lives here: the sampler settings
(`SamplerConfig`, validated when built, `with_overrides` for settings that come from users), the
result (`Completion` and its `Stats`), the `CancelToken` polled once per denoising step, the
`Constraint` protocol a syntax checker implements (`grammars.SyntaxConstraint` does) and the
`Infiller` protocol both decoders (`Engine`, `ARDecoder`) implement, which settings only one of them
reads (`unread`), the warm-up call, and an exception in one line (`describe`). Importing this module
imports no torch, so a server can hold tokens, settings and constraints before (or without) loading a model.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

JUDGED_CHARS = 8_000  # text each side of the cursor the syntax constraint parses, at most (compile cost)
MODES = ("single", "multi")  # who picks one: `lsp_server.trigger.decide`, or the caller
CONFIDENCES = ("probability", "margin", "entropy")  # defined in `kernels/reference.py`
SEEDS = 2**63  # seeds are 0 <= seed < SEEDS (what torch.Generator takes, with room for alternatives' offsets)
ALTERNATIVE_TEMPERATURE = 0.8  # the least temperature of a suggestion beside the best one
# the `SamplerConfig` fields only one kind of decoder reads: a request setting one for the other kind is refused
DIFFUSION_ONLY = frozenset({"threshold", "confidence", "entropy_budget", "max_steps", "block_size", "use_cache",
                            "refresh_each_block", "remask_budget", "ordered_end"})
AR_ONLY = frozenset({"draft_tokens"})


def unread(overrides: dict[str, Any], kind: str | None) -> list[str]:
    """The sampler settings in `overrides` that a decoder of `kind` ("diffusion", "ar") never reads, set
    to other than their defaults (a client that sends every setting sends those too)."""
    fields, defaults = {"diffusion": AR_ONLY, "ar": DIFFUSION_ONLY}.get(kind or "", frozenset()), SamplerConfig()
    return sorted(k for k, v in overrides.items() if k in fields and v != getattr(defaults, k))


def unread_reason(names: Sequence[str], kind: str) -> str:
    """The one-line reason that settings `names` (from `unread`) are refused or ignored."""
    return f"{', '.join(names)}: not used by {'autoregressive' if kind == 'ar' else kind} models"


class SamplerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the denoising loop commits slots (`sampler.py`, `schedule.py`). Defaults are measured."""
    threshold: float = 0.9
    confidence: str = "probability"
    # > 0: commit the surest slots while the sum of their -log(confidence) stays within this (the
    # EB-sampler), instead of every slot above `threshold`
    entropy_budget: float = 0.0
    # cap on denoising steps for one canvas, but at least one a block (blocks smaller than
    # canvas / max_steps take one step each, so more in all); 16 measured better and ~2x faster
    # than 32 on multi-line HumanEval-infilling (single-line canvases rarely reach it)
    max_steps: int = 16
    # semi-autoregressive blocks of this many slots (LLaDA's recipe), 0 = the whole span in parallel,
    # None = the mode's measured default (`schedule.BLOCK_SIZES`: 4 single-line, 16 multi-line)
    block_size: int | None = None
    temperature: float = 0.0  # 0 = greedy and deterministic
    seed: int = 0
    use_cache: bool = True
    # True: a block's first step runs the whole canvas again, refreshing the prefix/suffix keys and
    # values (Fast-dLLM's dual cache); False: only a canvas's first step does. False measured as good
    # and 1.30x faster on multi-line HumanEval-infilling (500 holes: 10 passes each, p50 81 -> 62 ms)
    refresh_each_block: bool = False
    context_tokens: int = 0  # prefix + suffix budget; 0 = the model's trained context
    # a fixed canvas of this many slots, never grown, whatever max_tokens says (the published
    # fixed-length protocols, bench/humaneval_infill.py);
    # 0 = start small and grow while it fills with real code (`schedule.py`)
    canvas: int = 0
    remask_budget: int = 48  # tokens a syntax constraint may re-mask per request
    ordered_end: bool = False  # an end commits only at the leftmost masked slot (measured: slower, no gain yet)
    allow_empty: bool = True  # False: no end (single-line: no newline) before the first non-blank token
    fill_broken: bool = False  # True: allow_empty=False where a syntax constraint finds the file broken at the cursor
    # autoregressive decoding only: up to this many tokens drafted by prompt lookup (the longest recent
    # n-gram of the text found earlier in the context, and what followed it) and checked in one model
    # call; greedy output unchanged (llama.cpp's and transformers' prompt-lookup decoding). 0 = off
    draft_tokens: int = 0

    def __post_init__(self) -> None:
        for name, kind in _SAMPLER_FIELDS:  # msgspec checks types when decoding, not when built
            try:
                msgspec.convert(getattr(self, name), kind)
            except msgspec.ValidationError as exc:
                raise ValueError(f"{name}: {exc}") from None
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.confidence not in CONFIDENCES:
            raise ValueError(f"confidence must be one of {', '.join(CONFIDENCES)}, got {self.confidence!r}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")
        if not math.isfinite(self.entropy_budget) or self.entropy_budget < 0:
            raise ValueError(f"entropy_budget must be a finite number >= 0, got {self.entropy_budget}")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 <= self.seed < SEEDS:
            raise ValueError(f"seed must be in [0, 2**63), got {self.seed}")
        for name in ("block_size", "canvas", "context_tokens", "draft_tokens", "remask_budget"):
            if (getattr(self, name) or 0) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def alternative(self, i: int) -> SamplerConfig:
        """The settings of the i-th extra suggestion beside the best one: sampled, with a seed of its own."""
        return msgspec.structs.replace(self, temperature=max(self.temperature, ALTERNATIVE_TEMPERATURE),
                                       seed=(self.seed + i) % SEEDS)

    def with_overrides(self, overrides: dict[str, Any]) -> SamplerConfig:
        """These settings with `overrides` (field name -> value, from a user); ValueError in one line."""
        if not overrides:
            return self
        try:
            return msgspec.convert({**msgspec.structs.asdict(self), **overrides}, SamplerConfig)
        except (msgspec.ValidationError, TypeError, ValueError) as exc:
            raise ValueError(f"sampler: {str(exc).strip().splitlines()[0]}") from None


_SAMPLER_FIELDS = tuple((f.name, f.type) for f in msgspec.structs.fields(SamplerConfig))  # read once: 75 µs a call


class Stats(msgspec.Struct, kw_only=True):
    nfe: int = 0  # model forward passes
    steps: int = 0  # denoising steps (diffusion) or decoded tokens (AR)
    tokens: int = 0  # tokens in the completion
    canvas: int = 0  # final canvas length (diffusion) or token budget (AR)
    cap: int = 0  # the most tokens the completion could have (max_tokens within the context budget)
    remasked: int = 0  # tokens masked again by the syntax constraint
    context_tokens: int = 0
    timings_ms: dict[str, float] = msgspec.field(default_factory=dict)


    @property
    def capped(self) -> bool:
        """Whether the completion stopped at its token cap (a longer one was cut there)."""
        return self.tokens >= self.cap > 0


class Completion(msgspec.Struct, kw_only=True):
    """The middle as the model wrote it (after what was typed, cut back by the constraint; one line in
    single-line mode). Where it goes in the file is post-processing's to decide (`lsp_server/postprocess.py`)."""
    text: str
    stats: Stats


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


class Infiller(Protocol):
    """What `dllm.load` returns: the diffusion `Engine` or the autoregressive `ARDecoder`."""
    sampler: SamplerConfig  # the settings a call without `sampler=` uses

    @property
    def info(self) -> dict[str, Any]:
        """Model, kind, device, dtype, parameters and the fast-path decisions made at load."""

    def infill(self, prefix: str, suffix: str, *, language: str | None = None, mode: str = "single",
               max_tokens: int | None = None, cancel: CancelToken | None = None,
               constraint: Constraint | None = None, sampler: SamplerConfig | None = None) -> Completion:
        """The middle between `prefix` and `suffix`; mode is one of MODES. Raises `Cancelled`.

        `language` names the file's language, which a local decoder does not read (a remote one sends
        it on): the syntax and scope checks come from `constraint` (`grammars.constraint_for(language,
        ...)`), None for none."""


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message, or its type's name where it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def describe(exc: BaseException) -> str:
    """An exception in one line for logs and status: `Type: first line of its message`."""
    line = first_line(exc)
    return line if line == type(exc).__name__ else f"{type(exc).__name__}: {line}"


def warm_up(infiller: Any) -> Completion:
    """One small infill (an `Infiller`, or anything with its `infill`): a first call's one-time costs
    (kernels built, caches sized) paid before anyone waits on it."""
    return infiller.infill("def add(a, b):\n    return ", "\n", mode="single", max_tokens=8)
