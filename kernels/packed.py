"""bf16 GEMMs of a few rows on the CPU, with the weight laid out for oneDNN once instead of at every call.

torch's CPU linear in bf16 hands oneDNN the plain (out, in) weight, which oneDNN reorders into its
blocked (AMX / AVX-512) layout inside every call. Over a denoising step's window of 16 slots that
reorder is a large share of the GEMM: the default model's 8k-row LM head took 247 µs at 16 rows,
148 µs with its weight packed once; its 256 -> 1536 projection 57 -> 35 µs (2-core Intel Xeon with
AMX, 2 threads). `register` packs a weight once (the load's fast path, `dllm.forward.fast_path`);
`linear` serves a registered weight from its packed twin for up to `SMALL_ROWS` rows and runs the
plain `F.linear` otherwise (a canvas's full forward: there the reorder is amortised, and the plain
call was as fast). oneDNN runs the same kernel either way, so the outputs are equal
(`tests/kernels/test_packed.py`). A weight changed in place after `register` (its version counter
moved; an inference tensor has none) is served plainly again.
"""

from __future__ import annotations

import functools
import weakref

import torch
import torch.nn.functional as F

SMALL_ROWS = 256  # rows up to which a registered weight runs packed
PACKED_FOR = 16  # the row count oneDNN is told to lay the weight out for: a denoising step's window

_packed: dict[int, tuple] = {}  # id(weight) -> (weakref to it, its version, packed twin), while it lives


def _pack(weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight, PACKED_FOR)


def _run(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


@functools.cache
def available() -> bool:
    """Whether this torch has oneDNN's packed linear and it gives `F.linear`'s numbers (a probe, once)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        gen = torch.Generator().manual_seed(0)
        w = torch.randn(96, 64, generator=gen).to(torch.bfloat16)
        b = torch.randn(96, generator=gen).to(torch.bfloat16)
        x = torch.randn(2, 5, 64, generator=gen).to(torch.bfloat16)
        with torch.inference_mode():
            return torch.equal(_run(x, _pack(w), b), F.linear(x, w, b))
    except Exception:  # noqa: BLE001 - a torch without the op, or a build that refuses it: plain GEMMs
        return False


def _version(weight: torch.Tensor) -> int | None:
    """How often `weight` was changed in place (None for an inference tensor: torch does not count there)."""
    return None if weight.is_inference() else weight._version


def register(weight: torch.Tensor) -> bool:
    """Pack `weight` (out, in) for `linear` where that helps (bf16 on the CPU); whether it was packed."""
    if weight.device.type != "cpu" or weight.dtype != torch.bfloat16 or weight.dim() != 2 or not available():
        return False
    with torch.inference_mode():
        twin = _pack(weight.detach())
    if id(weight) not in _packed:
        weakref.finalize(weight, _packed.pop, id(weight), None)
    _packed[id(weight)] = (weakref.ref(weight), _version(weight), twin)
    return True


def _twin(weight: torch.Tensor) -> torch.Tensor | None:
    """`weight`'s packed twin, while it is registered and unchanged."""
    entry = _packed.get(id(weight))
    return entry[2] if entry is not None and entry[0]() is weight and entry[1] == _version(weight) else None


def is_packed(weight: torch.Tensor) -> bool:
    """Whether `linear` serves `weight` from a packed twin."""
    return _twin(weight) is not None


def forget(weight: torch.Tensor) -> None:
    """Serve `weight` plainly from now on (to measure what packing gives)."""
    _packed.pop(id(weight), None)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)`; from the packed twin when `weight` is registered and x has few rows
    (without autograd: the packed op has no backward)."""
    if _packed and x.dtype == torch.bfloat16 and x.numel() <= SMALL_ROWS * x.shape[-1] and not torch.is_grad_enabled():
        twin = _twin(weight)
        if twin is not None:
            return _run(x, twin, bias)
    return F.linear(x, weight, bias)
