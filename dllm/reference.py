"""A slow, plain twin of `Engine.infill` for parity tests.

No key/value cache, no tensor tricks: a full forward pass over the whole canvas every step and plain
Python over the slots. It follows the same rules (threshold commit with the step-cap floor, blocks,
padding after an end token, growth, or a family's expand / delete edits) so that the engine without its cache must agree with it exactly
(text, model calls, steps, tokens, canvas), and the cached engine can be measured against it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import torch

from dllm_complete.kernels.reference import confidence

from .contract import Completion
from .engine import Engine
from .infill import begin, end
from .schedule import block_size, blocks, step_budget


@dataclasses.dataclass
class Reference:
    completion: Completion  # the text; in stats the model calls, steps, tokens and canvas, as the engine counts
    commits: list[tuple[int, int, int]]  # per step: (masked slots in the block, the floor, slots committed)


def reference_infill(engine: Engine, prefix: str, suffix: str, mode: str = "single",
                     max_tokens: int | None = None) -> Reference:
    """Greedy (temperature 0) infill, unconstrained."""
    tok, model = engine.tokenizer, engine.model
    start = begin(tok, prefix, suffix, mode, max_tokens, engine.sampler, None, engine.context_tokens,
                  model.cfg.max_seq_len, engine.spec.logits_shift)
    cfg, ctx, stats, first, cap = start.cfg, start.ctx, start.stats, start.first, start.cap
    mask, eom = tok.special.mask, tok.special.eom
    ends = set(engine.stop_ids.tolist())
    newline = engine.newline.tolist()
    shift = int(engine.spec.logits_shift)
    middle: list[int] = []
    commits = []

    def is_end(token: int) -> bool:
        return token in ends or (mode == "single" and newline[token])

    expand, expand_left = tok.special.expand, cap

    def denoise() -> bool:
        """Denoise `middle` block after block; True when an edit changed it (denoise the new canvas)."""
        nonlocal middle, expand_left
        length = len(middle)
        for b0, b1 in blocks(length, block_size(cfg.block_size, mode)):
            steps, step_cap = 0, step_budget(cfg.max_steps, b1 - b0, length)
            while any(middle[j] == mask for j in range(b1)):
                if steps == step_cap:
                    raise RuntimeError(f"reference: slots {b0}-{b1} still masked after {step_cap} steps")
                canvas = ctx.prefix_ids + middle + ctx.suffix_ids
                with torch.no_grad():
                    logits = model(torch.tensor([canvas]))[0].float()
                stats.nfe += 1
                logits[:, tok.never_generated()] = float("-inf")
                logits[:, tok.vocab_size:] = float("-inf")  # padded embedding rows
                P = len(ctx.prefix_ids)
                if ctx.first_banned:  # the first token continues what was typed
                    logits[P - shift, ctx.first_banned] = float("-inf")
                if expand is not None and (expand_left <= 0 or length >= cap):
                    logits[:, expand] = float("-inf")
                proposals = {}
                for j in range(b1):
                    if middle[j] != mask:
                        continue
                    probs = torch.softmax(logits[P + j - shift], -1).tolist()
                    best = max(range(len(probs)), key=probs.__getitem__)
                    row, token = logits[P + j - shift][None], torch.tensor([best])
                    proposals[j] = (best, float(confidence(row, token, cfg.confidence)))
                need = max(1, math.ceil(len(proposals) / max(1, step_cap - steps)))
                eligible = list(proposals)
                if cfg.ordered_end:  # an end proposal commits only at the leftmost masked slot
                    leftmost = min(proposals)
                    in_order = [j for j in proposals if j == leftmost or not is_end(proposals[j][0])]
                    eligible = in_order if len(in_order) >= need else eligible
                ranked = sorted(eligible, key=lambda j: -proposals[j][1])
                if cfg.entropy_budget > 0:  # the surest slots while their summed -log(confidence) fits
                    costs = itertools.accumulate(-math.log(max(proposals[j][1], 1e-12)) for j in ranked)
                    sure = {j for j, spent in zip(ranked, costs) if spent <= cfg.entropy_budget}
                else:
                    sure = {j for j in ranked if proposals[j][1] >= cfg.threshold}
                chosen = sure | set(ranked[:need])
                for j in chosen:
                    middle[j] = proposals[j][0]
                commits.append((len(proposals), need, len(chosen)))
                ended = False
                for j in range(length):
                    if ended and middle[j] == mask:
                        middle[j] = eom
                    if middle[j] != mask and is_end(middle[j]):
                        ended = True
                steps += 1
                if expand is not None and any(t in (expand, eom) for t in middle):
                    expand_left -= middle.count(expand)
                    edited = []
                    for t in middle:
                        edited += [mask, mask] if t == expand else [] if t == eom else [t]
                    middle = edited
                    stats.steps += steps
                    return True
            stats.steps += steps
        return False

    for length in [first] if expand is not None else start.lengths:
        middle += [mask] * (length - len(middle))
        while denoise():
            pass
        if any(t != mask and is_end(t) for t in middle):
            break
    kept = []
    for t in middle:
        if t in ends or t == mask:
            break
        kept.append(t)
    stats.canvas, stats.tokens = len(middle), len(kept)
    return Reference(end(start, tok.decode(kept)), commits)
