"""Which implementation of each fused op runs: decided once, when a model is loaded.

    backend = select_backend("auto", device)     # "auto" | "triton" | "torch"
    token, conf = backend.lm_head_score(hidden, weight, bias, "probability")   # a denoising step
    result = backend.lm_head_confidence(hidden, weight, bias)                   # all three scores

`auto` is Triton on CUDA when Triton imports, else torch. Triton off CUDA is only honoured under
Triton's interpreter (`TRITON_INTERPRET=1`), which is how the tests run it on the CPU. On a CPU with
AMX (Intel Xeon since Sapphire Rapids) the torch backend leaves attention to torch's SDPA, which is
faster there than our grouped op (kernels/README.md).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Callable

import torch

from .attention_torch import grouped_attention
from .lm_head_torch import lm_head_confidence_torch, lm_head_score_torch
from .reference import Confidence

BACKENDS = ("auto", "triton", "torch")

# The torch path on the CPU (bench/kernels.py, 1 thread, float32, AMD EPYC Zen 4): with our 8k
# vocabulary the (N, V) logits stay in cache, and one GEMM + softmax + one reduction for the asked
# score (`lm_head_score_torch`) is as fast as the plain head (1.58 vs 1.62 ms at N=32); online-softmax
# tiles cost more passes (2.1 ms). With a Qwen2-size head (152k x 896, N=32) tiles of 4096 ids win:
# 135 ms against 155 ms for the plain head and 204 ms for one untiled pass.
TORCH_TILE_FROM = 65536
TORCH_TILE = 4096


@dataclasses.dataclass(frozen=True)
class Backend:
    """One implementation of each op.

    lm_head_confidence(hidden (N, D), weight (V, D), bias (V,) | None) -> Confidence (all three scores)
    lm_head_score(hidden, weight, bias, kind) -> (token (N,), confidence (N,)): what a step needs; an
    implementation may compute only that kind.
    attention(q (B, H, T, D), k (B, Hkv, S, D), v, mask (T, S) | (B, T, S) | None) -> (B, H, T, D): attention over a
    cache, bidirectional or with an explicit mask.
    """
    name: str  # "triton" | "torch"
    lm_head_confidence: Callable[..., Confidence]
    lm_head_score: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    attention: Callable[..., torch.Tensor] | None = None  # None = the model's own (SDPA / flash)
    attention_name: str = "sdpa"


def interpreted() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


@functools.cache
def triton_import_error() -> str | None:
    """None when Triton imports, else why not (one line)."""
    try:
        from . import lm_head_triton  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - missing, or a broken install: either way unusable
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def _torch_confidence(hidden, weight, bias=None) -> Confidence:
    tile = TORCH_TILE if weight.shape[0] >= TORCH_TILE_FROM else 0
    return lm_head_confidence_torch(hidden, weight, bias, tile=tile)


def _torch_score(hidden, weight, bias, kind):
    if weight.shape[0] >= TORCH_TILE_FROM:
        out = lm_head_confidence_torch(hidden, weight, bias, tile=TORCH_TILE)
        return out.token, out.score(kind)
    return lm_head_score_torch(hidden, weight, bias, kind)


TORCH = Backend("torch", _torch_confidence, _torch_score, grouped_attention, "grouped")
TORCH_SDPA = dataclasses.replace(TORCH, attention=None, attention_name="sdpa (AMX CPU)")


@functools.cache
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX bf16 tiles (Linux: /proc/cpuinfo's flags)."""
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def _triton_backend() -> Backend:
    from .lm_head_triton import lm_head_confidence_triton

    def score(hidden, weight, bias, kind):
        out = lm_head_confidence_triton(hidden, weight, bias)
        return out.token, out.score(kind)
    return Backend("triton", lm_head_confidence_triton, score)


def select_backend(name: str = "auto", device: torch.device | str = "cpu") -> Backend:
    """The backend for `device`; raises ValueError when an explicit choice cannot run there."""
    if name not in BACKENDS:
        raise ValueError(f"kernel backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    device = torch.device(device)
    if name == "torch" or (name == "auto" and device.type != "cuda"):
        return TORCH_SDPA if device.type == "cpu" and cpu_has_amx() else TORCH
    if device.type != "cuda" and not interpreted():
        raise ValueError(f"kernel backend 'triton' is unavailable: Triton kernels need a CUDA device, got "
                         f"{device.type} (TRITON_INTERPRET=1 runs them, slowly, on the CPU)")
    why = triton_import_error()
    if why is None:
        return _triton_backend()
    if name == "triton":
        raise ValueError(f"kernel backend 'triton' is unavailable: {why}")
    return TORCH  # auto on CUDA without a working Triton
