"""Losses: masked diffusion (MDLM / LLaDA) for the default model, next-token + FIM for the AR twin.

Diffusion: a fraction t of positions is masked, cross-entropy on the masked positions is weighted by
1/t (the MDLM / LLaDA bound). t is stratified over the batch and kept >= 1/n for n maskable slots, so
no row's weight explodes on a short infilling canvas. Half the rows are plain text windows, half are infilling
canvases (prefix, middle padded with end-of-middle tokens, suffix) where only the canvas is masked.
With `shift` (a model adapted from the AR twin, as Dream 7B was from Qwen2.5) the output at position i
predicts the token at i + 1, so the targets move one place left and position 0 is never masked.
AR twin: the same holes as prefix-suffix-middle FIM rows with sentinels (Bavarian et al. 2022),
mixed with plain next-token rows, loss on every real token.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from ..tokenizer import Tokenizer
from .corpus import SourceFile
from .examples import make_hole, token_window

IGNORE = -100
CANVAS_SIZES = (16, 24, 32, 48, 64, 96)


def _infill_row(tok: Tokenizer, f: SourceFile, rng: random.Random, length: int, max_middle: int):
    """(tokens, canvas_start, canvas_len, real_len) of one diffusion infilling row."""
    sp = tok.special
    max_middle = min(max_middle, length // 2)
    hole = make_hole(tok, f, rng, max_middle, length)
    canvas = max(len(hole.middle), rng.choice(CANVAS_SIZES))
    canvas = min(canvas, max_middle)
    prefix, suffix = hole.context(length - canvas - 2, sp, rng)
    middle = hole.middle + [sp.eom] * (canvas - len(hole.middle))
    row = prefix + middle + suffix
    real = len(row)
    return row + [sp.eom] * (length - real), len(prefix), canvas, real


def diffusion_batch(tok: Tokenizer, files: list[SourceFile], rng: random.Random, batch: int,
                    length: int, infill_fraction: float = 0.5, max_middle: int = 96, shift: bool = False):
    """tokens (B, T) with masks applied, targets (B, T) (IGNORE where not masked), weights (B,)."""
    sp = tok.special
    rows, targets, weights = [], [], []
    for b in range(batch):
        u = (b + rng.random()) / batch  # stratified over the batch: lower-variance estimate of the bound
        if rng.random() < infill_fraction:
            row, start, span, _ = _infill_row(tok, files[rng.randrange(len(files))], rng, length, max_middle)
            if shift and start == 0:
                row, start = [sp.bos] + row[:-1], 1
            candidates = range(start, start + span)
        else:
            row = token_window(tok, files, rng, length)
            candidates = range(int(shift), length)
        norm = len(candidates)
        t = 1 / norm + (1 - 1 / norm) * u  # at least one token masked on average: weights stay <= 1
        masked = [i for i in candidates if rng.random() < t] or [rng.choice(list(candidates))]
        target = [IGNORE] * length
        for i in masked:
            target[i] = row[i]
            row[i] = sp.mask
        if shift:
            target = target[1:] + [IGNORE]
        rows.append(row)
        targets.append(target)
        weights.append(1.0 / (t * norm))
    return torch.tensor(rows), torch.tensor(targets), torch.tensor(weights)


def ar_batch(tok: Tokenizer, files: list[SourceFile], rng: random.Random, batch: int, length: int,
             fim_fraction: float = 0.5, max_middle: int = 96):
    """tokens (B, T), next-token targets (B, T) (IGNORE on padding), weights (B,)."""
    sp = tok.special
    rows, targets, weights = [], [], []
    for _ in range(batch):
        if rng.random() < fim_fraction:
            hole = make_hole(tok, files[rng.randrange(len(files))], rng, max_middle, length)
            prefix, suffix = hole.context(length + 1 - len(hole.middle) - 6, sp, rng)
            seq = ([sp.fim_prefix] + prefix + [sp.fim_suffix] + suffix + [sp.fim_middle]
                   + hole.middle + [sp.eom])[: length + 1]
        else:
            seq = token_window(tok, files, rng, length + 1)
        real = len(seq)
        seq = seq + [sp.eom] * (length + 1 - real)
        target = seq[1:real] + [IGNORE] * (length + 1 - real)
        rows.append(seq[:length])
        targets.append(target)
        weights.append(1.0 / max(1, real - 1))
    return torch.tensor(rows), torch.tensor(targets), torch.tensor(weights)


def position_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_i w_b * CE(b, i) over target positions, averaged over the batch rows; logits (B, T, V)."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                         reduction="none").view_as(targets)  # (B, T)
    return (ce.sum(1) * weights).mean()


def weighted_loss(model, tokens: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """`position_loss` of the model on `tokens`. Where most positions are untargeted context (a diffusion
    batch), the output projection runs on the target positions only: the (positions x vocabulary)
    logits are most of a small model's step."""
    hidden = model.hidden(tokens, torch.arange(tokens.shape[1], device=tokens.device))  # (B, T, D)
    scored = targets != IGNORE  # (B, T)
    if 2 * int(scored.sum()) > scored.numel():  # nearly every position (AR): a gather would only cost
        return position_loss(model.lm_head(hidden), targets, weights)
    ce = F.cross_entropy(model.lm_head(hidden[scored]).float(), targets[scored], reduction="none")  # (M,)
    rows = scored.nonzero()[:, 0]  # (M,) the batch row of each target
    per_row = torch.zeros(targets.shape[0], dtype=ce.dtype, device=ce.device).index_add_(0, rows, ce)
    return (per_row * weights).mean()
