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
