"""Weights packed once for oneDNN give exactly the plain GEMM's numbers, and only where registered."""

import pytest
import torch
import torch.nn.functional as F

from dllm_complete import dllm
from dllm_complete.kernels import packed

needs_packing = pytest.mark.skipif(not packed.available(), reason="this torch has no usable oneDNN packed linear")

# the default model's GEMMs: (out, in) of q/k/v stacked, o, gate/up stacked, down, the LM head
SHAPES = [(512, 256), (256, 256), (1536, 256), (256, 768), (8192, 256)]


def _bf16(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(torch.bfloat16)


@needs_packing
@pytest.mark.parametrize("out_in", SHAPES)
def test_a_registered_weight_gives_the_plain_gemms_numbers(out_in):
    weight, bias = _bf16(*out_in), _bf16(out_in[0], seed=1)
    assert packed.register(weight)
    with torch.inference_mode():
        for rows in (1, 5, 16, 33, packed.SMALL_ROWS, packed.SMALL_ROWS + 1, 600):
            x = _bf16(rows, out_in[1], seed=rows)
            assert torch.equal(packed.linear(x, weight), F.linear(x, weight)), rows
            assert torch.equal(packed.linear(x, weight, bias), F.linear(x, weight, bias)), rows
            assert torch.equal(packed.linear(x[None], weight), F.linear(x[None], weight)), rows  # (1, T, in)


@needs_packing
def test_few_rows_run_packed_and_many_plain(monkeypatch):
    weight = _bf16(256, 256)
    packed.register(weight)
    calls = []
    run = packed._run
    monkeypatch.setattr(packed, "_run", lambda *a: calls.append(a[0].shape) or run(*a))
    with torch.inference_mode():
        packed.linear(_bf16(16, 256), weight)
        packed.linear(_bf16(packed.SMALL_ROWS + 1, 256), weight)
        packed.linear(_bf16(16, 256), _bf16(256, 256, seed=3))  # never registered
        packed.linear(_bf16(16, 256).float(), weight.float())  # float32: plain
    assert calls == [torch.Size([16, 256])]


@needs_packing
def test_a_weight_changed_in_place_is_served_plainly_again():
    weight = _bf16(256, 256)
    packed.register(weight)
    x = _bf16(16, 256, seed=2)
    with torch.inference_mode():
        weight.mul_(2)
        assert torch.equal(packed.linear(x, weight), F.linear(x, weight))


def test_autograd_and_other_devices_and_dtypes_stay_plain():
    weight = _bf16(64, 32).requires_grad_(True)
    packed.register(weight)
    y = packed.linear(_bf16(4, 32), weight)
    assert y.grad_fn is not None  # the packed op has no backward: with autograd on, the plain GEMM
    assert not packed.register(torch.randn(64, 32))  # float32 stays on MKL's GEMM
    assert not packed.register(_bf16(64))  # not a matrix


@needs_packing
def test_the_default_model_completes_alike_packed_and_plain():
    engine = dllm.load()
    weights = engine.model.gemm_weights()
    assert len(weights) == 4 * engine.model.cfg.n_layers + 1 and all(id(w) in packed._packed for w in weights)
    prefix, suffix = "def mean(values):\n    total = sum(values)\n    return ", "\n\nprint(mean([1, 2]))\n"
    packed_run = engine.infill(prefix, suffix, mode="single")
    for w in weights:
        packed.forget(w)
    try:
        plain_run = engine.infill(prefix, suffix, mode="single")
    finally:
        for w in weights:
            packed.register(w)
    assert (packed_run.text, packed_run.stats.nfe) == (plain_run.text, plain_run.stats.nfe)
