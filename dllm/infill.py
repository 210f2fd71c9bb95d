"""The start and the end every decoder shares (diffusion `Engine`, `ARDecoder`, the slow twin, the
`transformers` backend of the benchmarks): check the mode, size the canvas, cut the context, apply the
constraint's say on empty answers; then cut the decoded text to the mode, after what was typed, back
to what the constraint accepts, with the stats' phase timings. The middle between is each decoder's own.
"""

from __future__ import annotations

import dataclasses
import time

import msgspec

from .canvas import Context, build_context
from .contract import MODES, Completion, Constraint, SamplerConfig, Stats
from .schedule import canvas_lengths, canvas_sizes
from .tokenizer import Tokenizer


REPLACEMENT = "\ufffd"  # what decoding makes of bytes that are not whole UTF-8 characters
MIN_CONTEXT = 16  # context tokens kept, however long the canvas
SPECIAL_TOKENS = 8  # room kept for the tokens a layout adds around the context (BOS, FIM sentinels)


@dataclasses.dataclass
class Start:
    ctx: Context
    cfg: SamplerConfig  # the call's settings, after the constraint's say on empty answers
    mode: str
    first: int  # first canvas length (diffusion)
    cap: int  # most tokens the middle may have
    lengths: list[int]  # every length the canvas may have, in order (grown while it fills with real code)
    stats: Stats
    constraint: Constraint | None
    marks: list[float]  # perf_counter at the start, after the context, ...


def begin(tokenizer: Tokenizer, prefix: str, suffix: str, mode: str, max_tokens: int | None,
          cfg: SamplerConfig, constraint: Constraint | None, context_tokens: int,
          positions: int | None = None, shifted: bool = False) -> Start:
    """`context_tokens`: the model's trained context (the call's `cfg.context_tokens` overrides it), which
    context and canvas share, the context keeping at least a quarter; `positions`: what the model can
    read at all, which context, canvas and special tokens never pass (a bigger `max_tokens` or context
    is cut down to fit); `shifted`: the model reads each slot's token at the position before it, so an
    empty prefix gets one token to read the first slot at (BOS, else EOS, else end-of-middle)."""
    t0 = time.perf_counter()
    if not isinstance(prefix, str) or not isinstance(suffix, str):
        raise TypeError(f"prefix and suffix must be str, got {type(prefix).__name__} and {type(suffix).__name__}")
    if not isinstance(cfg, SamplerConfig):
        raise TypeError(f"sampler must be a SamplerConfig, got {type(cfg).__name__}")
    if constraint is not None and not callable(getattr(constraint, "remask", None)):
        raise TypeError("constraint must be one of grammars.constraint_for's (or None), "
                        f"got {type(constraint).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise ValueError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
    first, cap = canvas_sizes(mode, max_tokens)
    if cfg.canvas:
        first, cap = cfg.canvas, max(cap, cfg.canvas)
    budget = cfg.context_tokens or context_tokens
    if positions is not None:
        budget = min(budget, positions - SPECIAL_TOKENS)
    cap = max(1, min(cap, budget - max(MIN_CONTEXT, budget // 4)))
    first = min(first, cap)
    lengths = [first] if cfg.canvas else canvas_lengths(first, cap)
    ctx = build_context(tokenizer, prefix, suffix, max(budget - cap, MIN_CONTEXT))
    if shifted and not ctx.prefix_ids:
        sp = tokenizer.special
        ctx = dataclasses.replace(ctx, prefix_ids=[next(i for i in (sp.bos, sp.eos, sp.eom) if i is not None)])
    if (constraint is not None and cfg.fill_broken and cfg.allow_empty
            and constraint.needs_text(ctx.judged_prefix + ctx.typed, ctx.judged_suffix)):
        cfg = msgspec.structs.replace(cfg, allow_empty=False)  # the file is broken at the cursor: write something
    stats = Stats(cap=cap, context_tokens=len(ctx.prefix_ids) + len(ctx.suffix_ids))
    return Start(ctx, cfg, mode, first, cap, lengths, stats, constraint, [t0, time.perf_counter()])


def whole_characters(decoded: str, *context: str) -> str:
    """`decoded` before its first broken character: a byte-level tokenizer decodes tokens that leave
    a UTF-8 sequence unfinished (or start one midway) as U+FFFD, which must not reach the user's file;
    kept where the file (the `context` texts) holds U+FFFD itself."""
    at = decoded.find(REPLACEMENT)
    return decoded if at < 0 or any(REPLACEMENT in text for text in context) else decoded[:at]


def end(start: Start, decoded: str) -> Completion:
    """The completion of the decoded middle: its first line in single-line mode, after the blanks or
    word typed already, cut back by the constraint (judging the file as the user has it)."""
    ctx, t2 = start.ctx, time.perf_counter()
    decoded = whole_characters(decoded, ctx.judged_prefix, ctx.typed, ctx.judged_suffix)
    text = ctx.after_typed(decoded.split("\n", 1)[0] if start.mode == "single" else decoded)
    if start.constraint is not None and text:
        text = start.constraint.finalize(ctx.judged_prefix + ctx.typed, text, ctx.judged_suffix)
    t0, t1, t3 = start.marks[0], start.marks[1], time.perf_counter()
    start.stats.timings_ms = {"context": (t1 - t0) * 1e3, "model": (t2 - t1) * 1e3, "finalize": (t3 - t2) * 1e3,
                              "total": (t3 - t0) * 1e3}
    return Completion(text=text, stats=start.stats)
