"""The fused LM head + confidence against its reference: torch tiles, Triton (interpreted / CUDA), dispatch."""

import importlib.util

import pytest
import torch

from dllm_complete.kernels import dispatch
from dllm_complete.kernels.dispatch import interpreted
from dllm_complete.kernels.reference import ban_bias, lm_head_confidence_reference
from dllm_complete.kernels.lm_head_torch import lm_head_confidence_torch, lm_head_score_torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
HAS_CUDA = torch.cuda.is_available()

# (rows, vocabulary, hidden): irregular on purpose (not multiples of any block size)
SHAPES = [(1, 50, 16), (5, 301, 37), (17, 1000, 64), (33, 777, 48)]


def _inputs(N, V, D, seed, dtype=torch.float32, device="cpu", scale=1.0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, D, generator=g) * scale
    w = torch.randn(V, D, generator=g) / D ** 0.5
    banned = torch.randperm(V, generator=g)[: max(1, V // 20)]
    return h.to(device, dtype), w.to(device, dtype), ban_bias(V, banned, device), banned


def _check(out, ref, banned=None, atol=2e-5):
    assert out.token.dtype == torch.int64 and out.token.shape == ref.token.shape
    # the argmax must agree wherever the top two are not a near-tie
    clear = ref.margin > 1e-3
    assert torch.equal(out.token[clear], ref.token[clear])
    for name in ("prob", "margin", "entropy"):
        torch.testing.assert_close(getattr(out, name).float(), getattr(ref, name), atol=atol, rtol=1e-4,
                                   msg=lambda m: f"{name}: {m}")
    if banned is not None:
        assert not torch.isin(out.token, banned.to(out.token.device)).any()


def test_reference_matches_softmax_definition():
    h, w, bias, banned = _inputs(7, 200, 32, 0, scale=3.0)
    ref = lm_head_confidence_reference(h, w, bias)
    logits = h @ w.T + bias
    p = torch.softmax(logits, -1)
    assert torch.equal(ref.token, logits.argmax(-1))
    torch.testing.assert_close(ref.prob, p.max(-1).values)
    top2 = p.topk(2, -1).values
    torch.testing.assert_close(ref.margin, top2[:, 0] - top2[:, 1])
    torch.testing.assert_close(ref.entropy, -(p * p.clamp_min(1e-30).log()).sum(-1))
    assert not torch.isin(ref.token, banned).any()
    assert torch.equal(ref.score("entropy"), torch.exp(-ref.entropy))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tile", [0, 16, 100, 4096])
def test_torch_tiles_match_reference(shape, tile):
    h, w, bias, banned = _inputs(*shape, seed=sum(shape) + tile, scale=4.0)
    _check(lm_head_confidence_torch(h, w, bias, tile=tile), lm_head_confidence_reference(h, w, bias), banned)


def _tied_inputs():
    """Integer inputs make every logit exact, so duplicated vocabulary rows tie exactly: row 0's best
    ids are 10, 40, 70 and 85, all equal."""
    g = torch.Generator().manual_seed(3)
    h = torch.randint(-3, 4, (4, 16), generator=g).float()
    w = torch.randint(-3, 4, (90, 16), generator=g).float()
    w[40] = w[70] = w[85] = w[10]
    h[0] = w[10]
    return h, w


def test_ties_pick_the_first_id_and_have_zero_margin():
    h, w = _tied_inputs()
    bias = ban_bias(90, [10])  # the first copy is banned: the winner is the next copy, 40
    for out in (lm_head_confidence_reference(h, w, bias), lm_head_confidence_torch(h, w, bias, tile=16)):
        assert int(out.token[0]) == 40 and float(out.margin[0]) == 0.0


@pytest.mark.parametrize("kind", ["probability", "margin", "entropy"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_torch_score_matches_reference(kind, dtype):
    h, w, bias, banned = _inputs(19, 517, 40, 2, dtype=dtype, scale=4.0)
    ref = lm_head_confidence_reference(h, w, bias)
    token, conf = lm_head_score_torch(h, w, bias, kind)
    clear = ref.margin > 1e-2
    assert torch.equal(token[clear], ref.token[clear]) and not torch.isin(token, banned).any()
    atol = 2e-5 if dtype == torch.float32 else 3e-2  # bf16 logits are rounded before the softmax
    torch.testing.assert_close(conf, ref.score(kind), atol=atol, rtol=0)


@pytest.mark.parametrize("kind", ["probability", "margin", "entropy"])
def test_torch_score_ties_pick_the_first_id(kind):
    h = torch.ones(3, 4)
    w = torch.zeros(300, 4)
    w[[7, 150, 299]] = 1.0  # three equal maxima
    token, conf = lm_head_score_torch(h, w, ban_bias(300, [0]), kind)
    assert token.tolist() == [7, 7, 7]
    if kind == "margin":
        assert conf.tolist() == [0.0, 0.0, 0.0]


def test_all_but_one_banned_and_single_allowed_id():
    h, w, _, _ = _inputs(3, 64, 16, 5)
    keep = 17
    bias = ban_bias(64, [i for i in range(64) if i != keep])
    for out in (lm_head_confidence_reference(h, w, bias), lm_head_confidence_torch(h, w, bias, tile=16)):
        assert out.token.tolist() == [keep] * 3
        torch.testing.assert_close(out.prob, torch.ones(3))
        torch.testing.assert_close(out.margin, torch.ones(3))
        torch.testing.assert_close(out.entropy, torch.zeros(3))


def test_select_backend_is_explicit():
    assert dispatch.select_backend("torch").name == "torch"
    assert dispatch.select_backend("auto", "cpu").name == "torch"  # the interpreter is never chosen by auto
    with pytest.raises(ValueError, match="must be one of"):
        dispatch.select_backend("cuda")


@pytest.mark.parametrize("amx", [True, False])
def test_cpu_attention_is_sdpa_on_amx_cpus_else_grouped(monkeypatch, amx):
    monkeypatch.setattr(dispatch, "cpu_has_amx", lambda: amx)
    backend = dispatch.select_backend("auto", "cpu")
    assert backend.name == "torch"
    assert (backend.attention is None) == amx and (backend.attention_name == "grouped") != amx


@pytest.mark.skipif(not (HAS_TRITON and interpreted()), reason="needs triton and TRITON_INTERPRET=1")
def test_triton_can_be_forced_under_the_interpreter():
    assert dispatch.select_backend("triton", "cpu").name == "triton"


def test_triton_on_cpu_without_interpreter_is_refused(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="unavailable"):
        dispatch.select_backend("triton", "cpu")


# ------------------------------------------------------------------------------------- Triton

needs_interpreter = pytest.mark.skipif(not (HAS_TRITON and interpreted()),
                                       reason="needs triton and TRITON_INTERPRET=1 (set by conftest without CUDA)")


@needs_interpreter
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("splits", [1, 3])
def test_triton_interpreted_matches_reference(shape, splits):
    from dllm_complete.kernels.lm_head_triton import lm_head_confidence_triton

    h, w, bias, banned = _inputs(*shape, seed=7 * sum(shape) + splits, scale=4.0)
    out = lm_head_confidence_triton(h, w, bias, n_splits=splits, block_v=16, block_k=16)
    _check(out, lm_head_confidence_reference(h, w, bias), banned)


@needs_interpreter
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_triton_interpreted_half_precision_and_no_bias(dtype):
    # bf16 runs as float32 under the interpreter (Triton 3.9 computes bf16 tl.dot wrongly on the CPU)
    from dllm_complete.kernels.lm_head_triton import lm_head_confidence_triton

    h, w, _, _ = _inputs(9, 333, 32, 11, dtype=dtype, scale=2.0)
    _check(lm_head_confidence_triton(h, w, None, n_splits=2, block_v=32, block_k=16),
           lm_head_confidence_reference(h, w, None), atol=1e-3)


@needs_interpreter
def test_triton_interpreted_ties():
    from dllm_complete.kernels.lm_head_triton import lm_head_confidence_triton

    h, w = _tied_inputs()
    out = lm_head_confidence_triton(h, w, ban_bias(90, [10]), n_splits=3, block_v=16, block_k=16)
    assert int(out.token[0]) == 40 and float(out.margin[0]) == 0.0


@pytest.mark.gpu
@pytest.mark.skipif(not (HAS_CUDA and HAS_TRITON) or interpreted(), reason="needs CUDA and compiled Triton")
@pytest.mark.parametrize("shape", SHAPES + [(64, 151936, 896), (128, 32000, 4096)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_triton_cuda_matches_reference(shape, dtype):
    backend = dispatch.select_backend("auto", "cuda")
    assert backend.name == "triton"
    h, w, bias, banned = _inputs(*shape, seed=sum(shape), dtype=dtype, device="cuda", scale=4.0)
    ref = lm_head_confidence_reference(h, w, bias)  # float32 logits from the same (rounded) inputs
    _check(backend.lm_head_confidence(h, w, bias), ref, banned, atol=2e-3 if dtype == torch.bfloat16 else 2e-5)
