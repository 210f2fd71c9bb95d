"""The step's forwards: padded static shapes (what the CUDA graphs replay) change nothing."""

import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm import forward as fwd
from dllm_complete.dllm.forward import EagerDecode, EagerForward, GraphedDecode, GraphedForward, choose
from dllm_complete.dllm.testing import sample_holes, tiny_checkpoint


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _runs(engine, block_size):
    engine.sampler = dllm.SamplerConfig(threshold=0.3, block_size=block_size)
    out = []
    for prefix, suffix in sample_holes(5):
        for mode in ("single", "multi"):
            c = engine.infill(prefix, suffix, mode=mode)
            out.append((c.text, c.stats.nfe, c.stats.steps))
    return out


@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("block_size", [0, 8])
def test_padded_static_shapes_give_the_same_completions(tmp_path, shift, block_size):
    engine = dllm.load(str(tiny_checkpoint(tmp_path / "m", logits_shift=shift)))
    assert isinstance(engine.forward, EagerForward)
    padded = _runs(engine, block_size)  # the CPU's buckets
    engine.forward = EagerForward(engine.model)
    eager = _runs(engine, block_size)
    assert padded == eager
    engine.forward = GraphedForward(engine.model, capture=False, bucket_size=64)
    assert _runs(engine, block_size) == eager
    assert any(text for text, *_ in eager)  # the holes are not all answered empty


def test_ar_decoding_at_padded_static_shapes_gives_the_same_completions(tiny_ar_dir):
    decoder = dllm.load(str(tiny_ar_dir))
    assert isinstance(decoder.decode, EagerDecode)
    padded = _runs(decoder, 0)  # the CPU's buckets
    decoder.decode = EagerDecode(decoder.model)
    eager = _runs(decoder, 0)
    assert padded == eager
    decoder.decode = GraphedDecode(decoder.model, capture=False, bucket_size=64)
    assert _runs(decoder, 0) == eager
    assert len(decoder.decode.shapes.shapes) >= 2  # several buckets were used


def test_padded_decode_logits_match(tiny_ar_dir):
    model = dllm.load(str(tiny_ar_dir)).model
    eager, static = EagerDecode(model), GraphedDecode(model, capture=False, bucket_size=64)
    prompt = torch.randint(0, model.cfg.vocab_size, (1, 50), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(static.prefill(prompt, 60), eager.prefill(prompt, 60), atol=1e-4, rtol=1e-4)
        for i, token in enumerate([5, 9, 300, 2]):
            torch.testing.assert_close(static.step(token, 50 + i), eager.step(token, 50 + i), atol=1e-4, rtol=1e-4)


def test_padded_hidden_states_match_and_buffers_are_reused(tiny_dir):
    model = dllm.load(str(tiny_dir)).model
    eager, static = EagerForward(model), GraphedForward(model, capture=False, bucket_size=64)
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for n in (70, 100, 128, 129):  # 70 and 100 share the 128-slot shape; 128 needs no padding
            canvas = torch.randint(0, model.cfg.vocab_size, (1, n), generator=gen)
            window = torch.arange(n // 3, n // 3 + 12)
            torch.testing.assert_close(static.full(canvas, window), eager.full(canvas, window), atol=2e-5, rtol=1e-4)
            canvas[0, window[::2]] = 1  # a step commits some slots
            torch.testing.assert_close(static.cached(canvas, window), eager.cached(canvas, window),
                                       atol=2e-5, rtol=1e-4)
    assert sorted(static.shapes.shapes) == [(128, 12), (192, 12)]


def test_cpu_buckets_give_the_unpadded_hidden_states_and_logits(tiny_dir, tiny_ar_dir):
    """On the CPU a canvas or a prompt is padded up to a bucket (a few GEMM shapes); nothing changes."""
    model = dllm.load(str(tiny_dir)).model
    plain, padded = EagerForward(model), choose(model)[0]
    assert padded.bucket_size == fwd.CPU_BUCKET > 1
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for n in (70, 100, 128, 129):
            canvas = torch.randint(0, model.cfg.vocab_size, (1, n), generator=gen)
            window = torch.arange(n // 3, n // 3 + 12)
            torch.testing.assert_close(padded.full(canvas, window), plain.full(canvas, window), atol=2e-5, rtol=1e-4)
            canvas[0, window[::2]] = 1  # a step commits some slots
            torch.testing.assert_close(padded.cached(canvas, window), plain.cached(canvas, window), atol=2e-5, rtol=1e-4)
    assert padded.cache.k.shape != plain.cache.k.shape  # 129 slots were padded
    ar = dllm.load(str(tiny_ar_dir)).model
    plain, padded = EagerDecode(ar), choose(ar, kind="ar")[0]
    prompt = torch.randint(0, ar.cfg.vocab_size, (1, 50), generator=gen)
    with torch.inference_mode():
        torch.testing.assert_close(padded.prefill(prompt, 60), plain.prefill(prompt, 60), atol=1e-4, rtol=1e-4)
        for i, token in enumerate([5, 9, 300]):
            torch.testing.assert_close(padded.step(token, 50 + i), plain.step(token, 50 + i), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(padded.steps([4, 8, 15], 53), plain.steps([4, 8, 15], 53), atol=1e-4, rtol=1e-4)
    assert padded.slots.numel() == 64 and plain.slots.numel() == 60


def test_captured_shapes_are_bounded(tiny_dir, monkeypatch):
    monkeypatch.setattr(fwd, "MAX_SHAPES", 2)
    model = dllm.load(str(tiny_dir)).model
    static = GraphedForward(model, capture=False, bucket_size=32)
    with torch.inference_mode():
        for n in (40, 80, 120, 40):
            static.full(torch.zeros(1, n, dtype=torch.long), torch.arange(8))
    assert list(static.shapes.shapes) == [(128, 8), (64, 8)]  # least recently used first


def test_choice_off_the_gpu(tiny_dir):
    model = dllm.load(str(tiny_dir)).model
    if torch.cuda.is_available():
        pytest.skip("checks the CPU decision")
    forward, why = choose(model)
    assert isinstance(forward, EagerForward) and why.startswith("off (no CUDA graphs")
    assert choose(model, "off")[1] == "off (asked)"
    assert isinstance(choose(model, kind="ar")[0], EagerDecode)
    with pytest.raises(ValueError, match="need a CUDA device"):
        choose(model, "on")
    with pytest.raises(ValueError, match="graphs must be one of"):
        choose(model, "always")
    assert dllm.load(str(tiny_dir)).info["graphs"].startswith("off")


@pytest.mark.gpu
def test_cuda_graphs_give_the_eager_completions(tmp_path):
    from dllm_complete.dllm.checkpoint import load_checkpoint
    from dllm_complete.dllm.engine import Engine

    loaded = load_checkpoint(tiny_checkpoint(tmp_path / "m"), device="cuda", dtype="float32")
    graphed, eager = Engine(loaded, graphs="on"), Engine(loaded, graphs="off")
    assert isinstance(graphed.forward, GraphedForward) and graphed.info["graphs"] == "on (asked)"
    for block_size in (0, 8):
        assert _runs(graphed, block_size) == _runs(eager, block_size)
    assert all(shape.graphs is not None for shape in graphed.forward.shapes.shapes.values())
    auto = Engine(loaded)
    assert auto.info["graphs"].startswith(("on (probe", "off (probe"))


@pytest.mark.gpu
def test_cuda_graphs_give_the_eager_ar_completions(tmp_path):
    from dllm_complete.dllm.ar import ARDecoder
    from dllm_complete.dllm.checkpoint import load_checkpoint

    loaded = load_checkpoint(tiny_checkpoint(tmp_path / "m", kind="ar"), device="cuda", dtype="float32")
    graphed, eager = ARDecoder(loaded, graphs="on"), ARDecoder(loaded, graphs="off")
    assert isinstance(graphed.decode, GraphedDecode)
    assert _runs(graphed, 0) == _runs(eager, 0)
    assert ARDecoder(loaded).info["graphs"].startswith(("on (probe", "off (probe"))
