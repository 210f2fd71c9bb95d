"""LM head + confidence in plain torch (the CPU path).

Two routes, picked by vocabulary size in `dispatch.py` from measurements (README.md):
`lm_head_score_torch` makes the (N, V) logits in one GEMM (the ban folded in as its bias) and reduces
them once for the score asked for: fastest while the logits fit in cache (our 8k vocabulary).
`lm_head_confidence_torch` with `tile` > 0 (large vocabularies) computes the logits of `tile`
vocabulary rows at a time and reduces them at once to five numbers per row (`TileStats`: max, its
index, second max, sum exp(l - max), sum exp(l - max) * (l - max)); the tiles are then merged with
the online-softmax rule (Milakov & Gimelshein, 2018; the flash-decoding split-K combine), so only an
(N, tile) block of logits lives at a time. The Triton kernels compute the same statistics.
Spec: `reference.lm_head_confidence_reference`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import packed
from .reference import Confidence

NEG_INF = float("-inf")


class TileStats(NamedTuple):
    """Partial softmax statistics of N rows over T vocabulary tiles; every field (N, T)."""
    top1: torch.Tensor  # max logit of the tile
    index: torch.Tensor  # its vocabulary id (int64)
    top2: torch.Tensor  # second largest logit of the tile (-inf if none)
    sumexp: torch.Tensor  # sum exp(l - top1)
    sumexpz: torch.Tensor  # sum exp(l - top1) * (l - top1)


def _finite(x: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isinf(x), torch.zeros_like(x), x)


def tile_stats(logits: torch.Tensor, offset: int) -> TileStats:
    """Stats of one (N, Vt) float32 logits tile whose first column is vocabulary id `offset`."""
    top1, index = logits.max(-1, keepdim=True)  # (N, 1); first index on ties
    z = logits - _finite(top1)  # (N, Vt), <= 0
    e = z.exp()
    sumexp = e.sum(-1, keepdim=True)
    sumexpz = torch.where(e > 0, e * z, torch.zeros_like(z)).sum(-1, keepdim=True)
    if logits.shape[-1] > 1:
        top2 = logits.scatter(-1, index, NEG_INF).amax(-1, keepdim=True)
    else:
        top2 = torch.full_like(top1, NEG_INF)
    return TileStats(top1, index + offset, top2, sumexp, sumexpz)


def combine(st: TileStats) -> Confidence:
    """Merge (N, T) tile statistics into the per-row result (first tile wins ties, as argmax)."""
    best = st.top1.argmax(-1, keepdim=True)  # (N, 1) winning tile
    top1 = st.top1.gather(-1, best)  # (N, 1)
    m = _finite(top1)
    scale = (st.top1 - m).exp()  # (N, T); 0 for empty tiles
    shift = torch.where(st.sumexp > 0, st.sumexp * (st.top1 - m), torch.zeros_like(scale))
    sumexp = (st.sumexp * scale).sum(-1)  # (N,)
    sumexpz = (scale * (st.sumexpz + shift)).sum(-1)
    others = st.top1.scatter(-1, best, NEG_INF).amax(-1, keepdim=True) if st.top1.shape[-1] > 1 else top1 * 0 + NEG_INF
    top2 = torch.maximum(st.top2.gather(-1, best), others)  # (N, 1)
    prob = 1.0 / sumexp
    margin = (1.0 - (top2 - m).exp()).squeeze(-1) * prob
    entropy = sumexp.log() - sumexpz / sumexp
    return Confidence(st.index.gather(-1, best).squeeze(-1), prob, margin, entropy)


def _direct(logits: torch.Tensor) -> Confidence:
    """One tile covering the whole vocabulary: no merge needed."""
    st = tile_stats(logits, 0)
    prob = 1.0 / st.sumexp
    margin = (1.0 - (st.top2 - _finite(st.top1)).exp()) * prob
    entropy = st.sumexp.log() - st.sumexpz / st.sumexp
    return Confidence(st.index.squeeze(-1), prob.squeeze(-1), margin.squeeze(-1), entropy.squeeze(-1))


def lm_head_score_torch(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                        kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(token (N,), confidence (N,)) of one kind, the cheapest exact way in torch on the CPU.

    With a vocabulary whose (N, V) logits stay in cache (ours: 8k ids), one GEMM with the ban folded
    in as its bias, one softmax and one reduction beat the online-softmax tiles (bench/kernels.py):
    the extra passes the tiles need for margin and entropy cost more than re-reading cached logits.
    """
    logits = packed.linear(hidden.to(weight.dtype), weight, None if bias is None else bias.to(weight.dtype))  # (N, V)
    p = torch.softmax(logits, -1, dtype=torch.float32)  # (N, V)
    if kind == "probability":
        conf, token = p.max(-1)  # first index on ties
    elif kind == "margin":
        first, token = p.max(-1)  # topk's index is not the first on ties; max's is
        conf = first - p.topk(2, -1).values[:, 1]
    elif kind == "entropy":
        token, conf = p.argmax(-1), torch.exp(-torch.special.entr(p).sum(-1))
    else:
        raise ValueError(f"unknown confidence kind {kind!r}")
    return token, conf


def lm_head_confidence_torch(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                             tile: int = 0) -> Confidence:
    """hidden (N, D), weight (V, D), bias (V,) float32 or None; tile = vocabulary rows per tile (0 = all).

    Logits are computed in the weight's dtype and reduced in float32.
    """
    V = weight.shape[0]
    hidden = hidden.to(weight.dtype)
    if tile <= 0 or tile >= V:
        logits = F.linear(hidden, weight).float()  # (N, V)
        if bias is not None:
            logits = logits + bias
        return _direct(logits)
    parts = []
    for v0 in range(0, V, tile):
        logits = F.linear(hidden, weight[v0:v0 + tile]).float()  # (N, tile)
        if bias is not None:
            logits = logits + bias[v0:v0 + tile]
        parts.append(tile_stats(logits, v0))
    return combine(TileStats(*(torch.cat(f, -1) for f in zip(*parts))))
