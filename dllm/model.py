"""The transformer forward pass, and nothing else.

A Llama/Qwen2-style decoder stack (RMSNorm, rotary embeddings, SwiGLU MLP, grouped-query attention)
that is bidirectional by default, as masked-diffusion models are, and causal on request (the
autoregressive twin). It knows nothing of tokenizers, sampling or checkpoints on disk: `checkpoint.py` maps
weights onto it and `engine.py` decides what to feed it.

A forward pass takes token ids and their canvas positions; when given a `KVCache` it writes the new
keys/values into the cache slots named by the positions and attends over every slot the cache holds,
which serves both the diffusion dual cache (prefix and suffix slots stay, middle slots are rewritten
each step) and autoregressive decoding (slots filled left to right, attention masked causally).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from dllm_complete.kernels import packed

from .cache import KVCache

try:  # optional, CUDA only; never required
    from flash_attn import flash_attn_func  # type: ignore[import-not-found]
except Exception:  # noqa: BLE001 - any import failure means "not available"
    flash_attn_func = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    intermediate_size: int
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    qkv_bias: bool = False
    tie_embeddings: bool = False
    causal: bool = False
    max_seq_len: int = 4096
    head_size: int | None = None  # per-head width where it is not dim / n_heads (Qwen3)
    qk_norm: bool = False  # RMSNorm over each head's queries and keys before rotary (Qwen3)

    def __post_init__(self) -> None:
        if self.head_size is None and self.dim % self.n_heads:
            raise ValueError(f"dim {self.dim} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.n_kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.head_size or self.dim // self.n_heads


class Linear(nn.Linear):
    """`nn.Linear` that runs its weight's packed twin once one is registered (`kernels/packed.py`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return packed.linear(x, self.weight, self.bias)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables (max_len, head_dim) in the "rotate half" layout of Llama/Qwen2, made on the CPU."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device="cpu") / head_dim)
    freqs = torch.outer(torch.arange(max_len, dtype=torch.float32, device="cpu"), inv_freq)  # (T, D/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, D)
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, H, T, D); cos/sin: (B, 1, T, D)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.layer = layer
        hd = cfg.head_dim
        self.q_proj = Linear(cfg.dim, cfg.n_heads * hd, bias=cfg.qkv_bias)
        self.k_proj = Linear(cfg.dim, cfg.n_kv_heads * hd, bias=cfg.qkv_bias)
        self.v_proj = Linear(cfg.dim, cfg.n_kv_heads * hd, bias=cfg.qkv_bias)
        self.o_proj = Linear(cfg.n_heads * hd, cfg.dim, bias=False)
        if cfg.qk_norm:
            self.q_norm, self.k_norm = RMSNorm(hd, cfg.norm_eps), RMSNorm(hd, cfg.norm_eps)
        self.attend = None  # set by Transformer.use_attention
        self.qkv = None  # (weight, bias) of q/k/v stacked, set by Transformer.fuse_projections

    def forward(self, x, cos, sin, slots, cache: KVCache | None, mask):
        B, T, _ = x.shape
        hd, H, Hkv = self.cfg.head_dim, self.cfg.n_heads, self.cfg.n_kv_heads
        if self.qkv is None:
            q = self.q_proj(x).view(B, T, H, hd).transpose(1, 2)  # (B, H, T, D)
            k = self.k_proj(x).view(B, T, Hkv, hd).transpose(1, 2)  # (B, Hkv, T, D)
            v = self.v_proj(x).view(B, T, Hkv, hd).transpose(1, 2)
            if self.cfg.qk_norm:
                q, k = self.q_norm(q), self.k_norm(k)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        else:  # one GEMM for q, k and v, one rotary pass for q and k: the same numbers
            qkv = packed.linear(x, *self.qkv).view(B, T, H + 2 * Hkv, hd).transpose(1, 2)  # (B, H + 2Hkv, T, D)
            qk = qkv[:, :H + Hkv]
            if self.cfg.qk_norm:
                qk = torch.cat([self.q_norm(qk[:, :H]), self.k_norm(qk[:, H:])], dim=1)
            qk = apply_rope(qk, cos, sin)
            q, k, v = qk[:, :H], qk[:, H:], qkv[:, H + Hkv:]
        if cache is not None:
            k, v = cache.update(self.layer, slots, k, v)  # (B, Hkv, S, D)
        if self.attend is not None and (mask is not None or not self.cfg.causal):
            out = self.attend(q, k, v, mask)
        elif (flash_attn_func is not None and q.is_cuda and mask is None and cache is None
                and q.dtype in (torch.float16, torch.bfloat16)):
            out = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                  causal=self.cfg.causal).transpose(1, 2)
        else:
            is_causal = self.cfg.causal and mask is None
            if mask is not None and mask.dim() == 3:
                mask = mask[:, None]  # (B, 1, T, S): one mask per row, for every head
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                                 enable_gqa=H != Hkv)  # (B, H, T, D)
        return self.o_proj(out.transpose(1, 2).reshape(B, T, H * hd))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = Linear(cfg.dim, cfg.intermediate_size, bias=False)
        self.up_proj = Linear(cfg.dim, cfg.intermediate_size, bias=False)
        self.down_proj = Linear(cfg.intermediate_size, cfg.dim, bias=False)
        self.gate_up = None  # gate and up weights stacked, set by Transformer.fuse_projections

    def forward(self, x):
        if self.gate_up is None:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        gate, up = packed.linear(x, self.gate_up).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.self_attn = Attention(cfg, layer)
        self.post_attention_layernorm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, slots, cache, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, slots, cache, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # Weights come from init_weights or a checkpoint. On the meta device nn.Embedding's own init, like
        # any op torch runs there through its Python references, imports torch._dynamo: ~0.9 s of a cold start.
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.dim, _weight=torch.zeros(cfg.vocab_size, cfg.dim))
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.lm_head = Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        device = self.embed_tokens.weight.device
        for name in ("rope_cos", "rope_sin"):  # empty_like on the meta device would import torch.fx
            self.register_buffer(name, torch.empty(cfg.max_seq_len, cfg.head_dim, device=device), persistent=False)
        if device.type != "meta":  # on the meta device the loader calls it once the weights are in place
            self.make_rope(device)

    def make_rope(self, device: torch.device) -> None:
        """The rotary tables on `device`."""
        cos, sin = rope_tables(self.cfg.head_dim, self.cfg.max_seq_len, self.cfg.rope_theta)
        self.rope_cos, self.rope_sin = cos.to(device), sin.to(device)

    def init_weights(self, seed: int = 0) -> None:
        """Fresh initialisation for training: N(0, 0.02), output projections scaled by depth."""
        gen = torch.Generator().manual_seed(seed)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p) if "norm" in name else nn.init.zeros_(p)
                continue
            std = 0.02 / math.sqrt(2 * self.cfg.n_layers) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen) * std)

    def fuse_projections(self, on: bool = True) -> None:
        """Serve q/k/v and gate/up as one GEMM each, once the model is on its device (inference: the separate
        weights become views of the stacked ones, so no memory is added and a checkpoint's names stay; gradients
        no longer reach them). `on=False` runs the separate weights again (for A/B measurements)."""
        for layer in self.layers:
            attn, mlp = layer.self_attn, layer.mlp
            if not on:
                attn.qkv = mlp.gate_up = None
            elif attn.qkv is None:
                attn.qkv = _stack(attn.q_proj, attn.k_proj, attn.v_proj)
                mlp.gate_up = _stack(mlp.gate_proj, mlp.up_proj)[0]

    def gemm_weights(self) -> list[torch.Tensor]:
        """The weights of the GEMMs an inference forward runs (the stacked ones once fused), LM head last."""
        weights = []
        for layer in self.layers:
            attn, mlp = layer.self_attn, layer.mlp
            weights += [attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight] if attn.qkv is None else [attn.qkv[0]]
            weights += [attn.o_proj.weight]
            weights += [mlp.gate_proj.weight, mlp.up_proj.weight] if mlp.gate_up is None else [mlp.gate_up]
            weights += [mlp.down_proj.weight]
        return weights + [self.lm_head.weight]

    def use_attention(self, attend) -> None:
        """Run attention with `attend(q, k, v, mask)` (a `kernels` op) unless it is implicitly causal; None = SDPA."""
        for layer in self.layers:
            layer.self_attn.attend = attend

    def new_cache(self, batch: int, slots: int) -> KVCache:
        p = self.embed_tokens.weight
        c = self.cfg
        return KVCache(c.n_layers, batch, c.n_kv_heads, slots, c.head_dim, p.dtype, p.device)

    def hidden(self, tokens: torch.Tensor, positions: torch.Tensor, cache: KVCache | None = None,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        """Final hidden states (B, T, dim) of `tokens` (B, T) at canvas `positions` (T,), or (B, T): each
        row its own (a batch of canvases).

        With a cache, keys/values go to the slots `positions` and attention covers every slot;
        `mask` (T, S) of booleans (True = may attend), or (B, T, S) per row, restricts it, e.g. causally.
        """
        rows = slice(None) if positions.dim() == 2 else None
        cos = self.rope_cos[positions][rows, None]  # (1 or B, 1, T, D)
        sin = self.rope_sin[positions][rows, None]
        x = self.embed_tokens(tokens)  # (B, T, dim)
        for layer in self.layers:
            x = layer(x, cos, sin, positions, cache, mask)
        return self.norm(x)

    def forward(self, tokens, positions=None, cache=None, mask=None) -> torch.Tensor:
        """Logits (B, T, V)."""
        if positions is None:
            positions = torch.arange(tokens.shape[1], device=tokens.device)
        return self.lm_head(self.hidden(tokens, positions, cache, mask))

    def num_params(self, embeddings: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n if embeddings else n - self.embed_tokens.weight.numel()


def _stack(*linears: nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, bias) of the linears stacked by output rows; each linear's own tensors become views of them."""
    with torch.no_grad():
        weight = torch.cat([lin.weight for lin in linears])
        bias = None if linears[0].bias is None else torch.cat([lin.bias for lin in linears])
    row = 0
    for lin in linears:
        rows = slice(row, row + lin.weight.shape[0])
        lin.weight = nn.Parameter(weight[rows], requires_grad=False)
        if bias is not None:
            lin.bias = nn.Parameter(bias[rows], requires_grad=False)
        row = rows.stop
    return weight, bias
