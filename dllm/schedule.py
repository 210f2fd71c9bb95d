"""How big the canvas is, how it is split into blocks, and how many slots a step must commit.

Pure functions of integers, no tensors. The adaptive step count comes from the threshold rule in
`sampler.py`; the floor here guarantees the hard cap: with `r` masked slots and `s` steps left, a step
commits at least ceil(r / s).
"""

from __future__ import annotations

import math

# HumanEval-infilling's lines, in our tokens: single-line median 8, 90th percentile 19, 1.4% over 32;
# multi-line median 37, 12% over 96. A canvas starts small and grows while it fills with real code.
SINGLE_LINE_TOKENS, SINGLE_LINE_START = 32, 16
MULTI_LINE_TOKENS, MULTI_LINE_START = 96, 48


def canvas_sizes(mode: str, max_tokens: int | None) -> tuple[int, int]:
    """(first canvas length, largest it may grow to) for a mode."""
    if mode == "single":
        cap = max_tokens or SINGLE_LINE_TOKENS
        return min(cap, SINGLE_LINE_START), cap
    cap = max_tokens or MULTI_LINE_TOKENS
    return min(cap, MULTI_LINE_START), cap


def grow(length: int, cap: int) -> int:
    """The next canvas length when the current one filled up with real code."""
    return min(cap, length + max(16, length // 2))


def canvas_lengths(length: int, cap: int) -> list[int]:
    """Every length a canvas may have, in order: `length`, then grown while below `cap`."""
    lengths = [length]
    while lengths[-1] < cap:
        lengths.append(grow(lengths[-1], cap))
    return lengths


# Semi-autoregressive blocks (LLaDA) per mode. Measured on HumanEval-infilling, 500 holes per split
# (`python -m bench.arena --limit 500` with `?block=4|8|16`): single-line passes 59 / 50 / 36 at p50
# 31 / 34 / 51 ms, multi-line 7 / 10 / 14 at 94 / 60 / 44 ms. Both modes: three or four blocks a canvas.
BLOCK_SIZES = {"single": 4, "multi": 16}


def block_size(asked: int | None, mode: str) -> int:
    """The sampler's block size, or the mode's default when it asks for none (None)."""
    return BLOCK_SIZES[mode] if asked is None else asked


def blocks(length: int, block_size: int) -> list[tuple[int, int]]:
    """[start, end) ranges that are denoised one after the other; one block when block_size is 0."""
    if block_size <= 0 or block_size >= length:
        return [(0, length)]
    return [(s, min(length, s + block_size)) for s in range(0, length, block_size)]


def step_budget(max_steps: int, block_len: int, length: int) -> int:
    """The share of the step cap that one block of `block_len` out of `length` slots gets."""
    return max(1, math.ceil(max_steps * block_len / length))


def min_commits(masked: int, steps_left: int) -> int:
    return max(1, math.ceil(masked / max(1, steps_left)))
