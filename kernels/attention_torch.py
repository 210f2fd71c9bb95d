"""Grouped-query attention for a denoising step (and an AR decode step) on the CPU.

The queries of the heads that share a key/value head are stacked into one matrix, so each KV head
costs two plain batched GEMMs (scores, then values) with a float32 softmax in between; long queries
(a canvas's full forward) go through in chunks of rows. For a step's shapes (tens of query rows
against a few hundred to a few thousand cached slots) and for the full forward this beats SDPA's CPU
kernel; its spec is `F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)`
(`attention_reference`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """q (B, H, T, D), k/v (B, Hkv, S, D), mask (T, S) or (B, T, S) bool (True = may attend) -> (B, H, T, D).

    Query head h reads KV head h // (H / Hkv).
    """
    mask = mask[:, None] if mask is not None and mask.dim() == 3 else mask
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=q.shape[1] != k.shape[1])


# One stacked pass wins while one KV head's float32 scores (G*T x S) stay in a core's L2; beyond, it lost
# to SDPA's tiles. bf16, 1 thread, AMD EPYC Zen 4 (1 MB L2), H=4, Hkv=2, D=64, SDPA / one-pass time:
# T=1: 2.1-12x at S=300..2100; T=32: 1.5x (S=300), 4.7x (600), 3.7x (1100), 0.71x (2100);
# T=96: 2.1x (300, 600), 0.62x (1100). Scores of 120k elements = 480 KB.
MAX_STACKED_SCORES = 120_000
# Past that, the queries go in chunks of about this many scores, which beats SDPA too: a canvas's full
# forward (T = S = 250..2000) 1.3-1.9x per call at 1 thread, 1.3-1.5x at 2; Qwen2 head shapes (14/2, 28/4
# heads, 1k-4k slots) 1.0-1.6x at 2 threads; the engine end to end 1.06-1.10x (2 threads) / 1.12-1.20x
# (1 thread) per hole at a 1,000-token context (`bench/kernels.py --engine`, arm `unchunked`).
CHUNK_SCORES = 65_536


def grouped_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    B, H, T, D = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    G = H // Hkv
    chunk = T if G * T * S <= MAX_STACKED_SCORES else max(16, CHUNK_SCORES // (G * S) // 16 * 16)
    if chunk >= T:
        return _stacked(q.reshape(B, Hkv, G * T, D), k, v, mask, G).reshape(B, H, T, D)
    out = torch.empty_like(q)
    grouped, grouped_out = q.view(B, Hkv, G, T, D), out.view(B, Hkv, G, T, D)
    for s in range(0, T, chunk):
        e = min(T, s + chunk)
        rows = grouped[:, :, :, s:e].reshape(B, Hkv, G * (e - s), D)
        part = _stacked(rows, k, v, None if mask is None else mask[..., s:e, :], G)
        grouped_out[:, :, :, s:e] = part.view(B, Hkv, G, e - s, D)
    return out


def _stacked(rows: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
             G: int) -> torch.Tensor:
    """rows (B, Hkv, G*T, D): the queries of one KV head's group stacked (head-major); mask (T, S) or
    (B, T, S)."""
    scores = torch.matmul(rows, k.transpose(-1, -2)).float() * rows.shape[-1] ** -0.5  # (B, Hkv, G*T, S)
    if mask is not None:
        stacked = mask.repeat(G, 1) if mask.dim() == 2 else mask.repeat(1, G, 1)[:, None]  # (G*T, S) / (B, 1, G*T, S)
        scores = scores.masked_fill(~stacked, float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(v.dtype)
    return torch.matmul(probs, v)  # (B, Hkv, G*T, D)
