"""What an infill returns: the completion text and how it was made."""

from __future__ import annotations

import msgspec


class Stats(msgspec.Struct, kw_only=True):
    nfe: int = 0  # model forward passes
    steps: int = 0  # denoising steps (diffusion) or decoded tokens (AR)
    tokens: int = 0  # tokens in the completion
    canvas: int = 0  # final canvas length (diffusion) or token budget (AR)
    remasked: int = 0  # tokens masked again by the syntax constraint
    context_tokens: int = 0
    timings_ms: dict[str, float] = msgspec.field(default_factory=dict)


class Completion(msgspec.Struct, kw_only=True):
    text: str
    stats: Stats


def phase_timings(t0: float, t1: float, t2: float, t3: float) -> dict[str, float]:
    """Milliseconds spent on context, model and finalize between perf_counter marks, and in total."""
    return {"context": (t1 - t0) * 1e3, "model": (t2 - t1) * 1e3, "finalize": (t3 - t2) * 1e3,
            "total": (t3 - t0) * 1e3}


def first_line(text: str, mode: str) -> str:
    """Single-line mode ends the completion at its first newline."""
    return text.split("\n", 1)[0] if mode == "single" else text
