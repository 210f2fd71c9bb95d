"""Certainty-forcing self-distillation: teach the diffusion model to commit many slots per model call.

dParallel's recipe (Chen et al., arXiv 2509.26488) for our infilling canvases:
1. Trajectories: the model itself (the teacher, its shipped sampler: small blocks, a high threshold,
   about one slot a step) fills holes cut from the *training* corpus. Its final canvas, the answer,
   the end token and the padding after it, is the target: text the model already finds likely, so
   learning to commit it in one step asks only for certainty, not for knowledge it lacks. Blank
   answers are left out.
2. Fine-tuning: the teacher's canvas with a random share of its slots masked (the whole canvas a third
   of the time: a completion's first step), cross-entropy towards the teacher's token at each masked
   slot of the answer and its end plus `certainty` times the entropy of the slots the student already
   gets right (forcing confidence there, and only there, so that wrong guesses stay unsure and are not
   committed early). The padding after the end is left unscored: scored, it made the student sure of
   an end everywhere and cut its answers short (measured: the first run). With `only_right`, certainty
   is forced only on the leading slots where the teacher wrote the hole's real middle.
A share of ordinary diffusion rows (`objective.diffusion_batch`) keeps the model's language. What it
gives, and why the shipped weights are not distilled ones: docs/parallel.md.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from ..schedule import MULTI_LINE_START, SINGLE_LINE_START
from ..tokenizer import Tokenizer
from .corpus import SourceFile
from .examples import make_hole
from .objective import IGNORE, diffusion_batch

CANVAS = {"single": SINGLE_LINE_START, "multi": MULTI_LINE_START}  # the engine's first canvas per mode


def hole_mode(middle_text: str) -> str | None:
    """single: one line ending in a line break; multi: 2 to 6 lines; else None (not a completion shape)."""
    lines = middle_text.count("\n")
    if lines == 1 and middle_text.endswith("\n") and middle_text.strip():
        return "single"
    if 2 <= lines <= 6 and middle_text.strip():
        return "multi"
    return None


def trajectories(engine, tok: Tokenizer, files: list[SourceFile], n: int, seed: int, context: int, out: Path) -> int:
    """Write `n` teacher canvases as JSONL {"mode", "prefix", "canvas", "suffix", "truth"} (token ids; truth:
    the hole's real middle), from holes of `files` with `context` tokens of prefix + canvas + suffix.
    Returns how many were written."""
    rng = random.Random(seed)
    written = 0
    with out.open("w") as fh:
        while written < n:
            f = files[rng.randrange(len(files))]
            hole = make_hole(tok, f, rng, 64, context)
            mode = hole_mode(tok.decode(hole.middle))
            if mode is None:
                continue
            prefix, suffix = hole.context(context - CANVAS[mode] - 2, tok.special, rng)  # 2: file start, end
            canvas, _ = engine.fill_ids(prefix, suffix, CANVAS[mode], mode=mode)
            ids = canvas.tolist()
            if not tok.decode(ids[:ids.index(tok.special.eom)] if tok.special.eom in ids else ids).strip():
                continue  # a blank answer: the teacher's least useful habit, not one to make certain
            fh.write(json.dumps({"mode": mode, "prefix": prefix, "canvas": ids, "suffix": suffix,
                                 "truth": hole.middle}) + "\n")
            written += 1
    return written


def read_trajectories(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def distill_batch(tok: Tokenizer, records: list[dict], files: list[SourceFile], rng: random.Random, batch: int,
                  length: int, plain_fraction: float = 0.25, shift: bool = True, only_right: bool = False):
    """tokens (B, T), targets (B, T), weights (B,), sure (B, T): teacher canvases partly masked, and
    `plain_fraction` of ordinary diffusion rows; `sure` marks the targets whose certainty is forced (the
    distilled rows' masked slots; with `only_right`, only those where the teacher wrote the real middle)."""
    sp = tok.special
    n_plain = sum(rng.random() < plain_fraction for _ in range(batch))
    rows, targets, weights, sure = [], [], [], []
    for _ in range(batch - n_plain):
        r = records[rng.randrange(len(records))]
        prefix = r["prefix"] if r["prefix"] else [sp.bos]
        row = (prefix + r["canvas"] + r["suffix"])[:length]
        start, span = len(prefix), min(len(r["canvas"]), length - len(prefix))
        # the answer and its end are scored, not the padding after the end (the engine writes that)
        end = r["canvas"].index(sp.eom) if sp.eom in r["canvas"] else span
        scored = range(start, start + min(span, end + 1))
        t = 1.0 if rng.random() < 1 / 3 else rng.uniform(0.1, 1.0)
        masked = [i for i in scored if rng.random() < t] or [start]
        target = [IGNORE] * length
        for i in masked:
            target[i] = row[i]
            row[i] = sp.mask
        if start + end in masked:  # an undecided end: the padding after it is undecided too
            row[start + end + 1:start + span] = [sp.mask] * max(0, span - end - 1)
        right = _agreeing(r["canvas"], r.get("truth"), sp.eom) if only_right else span
        certain = [start <= i < start + right and target[i] != IGNORE for i in range(length)]
        row += [sp.eom] * (length - len(row))
        if shift:
            target, certain = target[1:] + [IGNORE], certain[1:] + [False]
        rows.append(row)
        targets.append(target)
        weights.append(1.0 / len(masked))  # the mean over its masked slots
        sure.append(certain)
    out = (torch.tensor(rows, dtype=torch.long).view(-1, length), torch.tensor(targets, dtype=torch.long).view(-1, length),
           torch.tensor(weights, dtype=torch.float32), torch.tensor(sure, dtype=torch.bool).view(-1, length))
    if not n_plain:
        return out
    plain = diffusion_batch(tok, files, rng, n_plain, length, shift=shift)
    return (*(torch.cat([a, b]) for a, b in zip(out[:3], plain)),
            torch.cat([out[3], torch.zeros_like(plain[1], dtype=torch.bool)]))


def _agreeing(canvas: list[int], truth: list[int] | None, eom: int) -> int:
    """How many leading slots of the teacher's canvas hold the hole's real middle (its end included)."""
    if truth is None:
        return 0
    real = truth + [eom]
    n = 0
    while n < min(len(canvas), len(real)) and canvas[n] == real[n]:
        n += 1
    return n


def certainty_loss(model, tokens: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, sure: torch.Tensor,
                   certainty: float = 1.0) -> torch.Tensor:
    """Cross-entropy on every row (`weights` per row) plus, on the `sure` targets that the model already
    predicts, `certainty` times their entropy."""
    hidden = model.hidden(tokens, torch.arange(tokens.shape[1], device=tokens.device))  # (B, T, D)
    scored = targets != IGNORE
    logits = model.lm_head(hidden[scored]).float()  # (M, V)
    goal = targets[scored]
    rows = scored.nonzero()[:, 0]  # (M,)
    ce = F.cross_entropy(logits, goal, reduction="none")  # (M,)
    loss = ce
    if certainty > 0:
        logp = logits.log_softmax(-1)
        entropy = -(logp.exp() * logp).sum(-1)  # (M,)
        right = (logits.argmax(-1) == goal) & sure[scored]
        loss = ce + certainty * entropy * right
    per_row = torch.zeros(tokens.shape[0], dtype=loss.dtype, device=loss.device).index_add_(0, rows, loss)
    return (per_row * weights).mean()
