"""Preallocated key/value slots shared by every denoising step (the Fast-dLLM dual cache).

Slots are canvas positions. The diffusion engine fills all slots with one full forward pass, then
each step rewrites only the middle slots and attends over all of them, so the prefix and suffix
keys/values are computed once per block. The AR path fills slots left to right.
"""

from __future__ import annotations

import torch
from torch import nn


class KVCache(nn.Module):
    """Preallocated per-layer key/value slots (B, Hkv, S, D); slots are canvas positions."""

    def __init__(self, n_layers: int, batch: int, n_kv_heads: int, slots: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device | str) -> None:
        super().__init__()
        shape = (n_layers, batch, n_kv_heads, slots, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def slots(self) -> int:
        return self.k.shape[3]

    def update(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        # slots: (T,) ; k, v: (B, Hkv, T, D)
        self.k[layer].index_copy_(2, slots, k)
        self.v[layer].index_copy_(2, slots, v)
        return self.k[layer], self.v[layer]
