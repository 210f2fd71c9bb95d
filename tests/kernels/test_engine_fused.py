"""The engine with the fused LM head returns what the plain head (logits + softmax) returns."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm.engine import Engine
from dllm_complete.dllm.checkpoint import load_checkpoint
from dllm_complete.dllm.testing import SAMPLE_CODE, tiny_checkpoint
from dllm_complete.kernels.dispatch import interpreted

ROOT = Path(__file__).resolve().parents[2]


# Cursors at the start of every other line (slot bans: test_a_slot_ban_renormalises_...)
LINE_STARTS = [(SAMPLE_CODE[:i], SAMPLE_CODE[i:]) for i, ch in enumerate(SAMPLE_CODE[:-1], 1) if ch == "\n"][::2]
# a threshold per confidence at which some steps commit more than the floor and others only the floor
THRESHOLDS = {"probability": 0.3, "margin": 0.2, "entropy": 0.1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("tiny-fused")))


def _outcomes(engine, holes=LINE_STARTS, **sampler):
    """Text, model calls, steps, tokens and canvas of every hole in both modes."""
    engine.sampler = msgspec.structs.replace(engine.sampler, **sampler)
    out = []
    for p, s in holes:
        for mode in ("single", "multi"):
            c = engine.infill(p, s, mode=mode)
            out.append((c.text, c.stats.nfe, c.stats.steps, c.stats.tokens, c.stats.canvas))
    return out


@pytest.mark.parametrize("confidence", ["probability", "margin", "entropy"])
@pytest.mark.parametrize("block_size", [0, 8])
def test_fused_torch_equals_plain(loaded, confidence, block_size):
    plain, fused = Engine(loaded, kernels="off"), Engine(loaded, kernels="torch")
    assert fused.info["kernels"] == "torch" and plain.info["kernels"] == "off"
    kw = dict(confidence=confidence, block_size=block_size, threshold=THRESHOLDS[confidence])
    want = _outcomes(plain, **kw)
    assert _outcomes(fused, **kw) == want
    # guards: the answers differ, some end before the cap, and the confidences decide how many slots a
    # step commits (neither the floor alone nor every slot at once gives these outcomes)
    assert len({o[0] for o in want}) > 1 and any(tokens < canvas for *_, tokens, canvas in want)
    assert want != _outcomes(plain, **kw | {"threshold": 1.0})
    assert want != _outcomes(plain, **kw | {"threshold": 0.0})


def test_fused_path_bans_what_the_plain_path_bans(tmp_path):
    """The never-generated tokens ([MASK], file start, FIM sentinels) made likelier than end-of-middle
    wherever that is likely: the fused head must ban them as the plain one does."""
    loaded = load_checkpoint(tiny_checkpoint(tmp_path / "m"))
    tok, weight = loaded.tokenizer, loaded.model.lm_head.weight
    banned = tok.never_generated()
    with torch.no_grad():
        weight[banned] = 2 * weight[tok.special.eom]
        ids = tok.encode(SAMPLE_CODE[:60]) + [tok.special.mask] * 16 + tok.encode(SAMPLE_CODE[60:])
        favourite = loaded.model(torch.tensor([ids]))[0].argmax(-1)  # (N,) without any ban
    assert torch.isin(favourite, torch.tensor(banned)).any()  # guard: unbanned, the model would write them
    plain, fused = Engine(loaded, kernels="off"), Engine(loaded, kernels="torch")
    want = _outcomes(plain, threshold=0.3)
    assert _outcomes(fused, threshold=0.3) == want
    assert not any(t in text for t in ("<|mask|>", "<|bos|>", "<|fim") for text, *_ in want)


def _first_step(engine, L: int = 16) -> torch.Tensor:
    """Hidden states (L, D) of a fresh canvas's middle slots, as a first denoising step sees them."""
    tok = engine.tokenizer
    prefix, suffix = tok.encode(SAMPLE_CODE[:60]), tok.encode(SAMPLE_CODE[60:])
    canvas = torch.tensor([prefix + [engine.mask_id] * L + suffix])
    return engine.forward.full(canvas, torch.arange(len(prefix), len(prefix) + L), keep_cache=False)


def test_a_slot_ban_of_the_favourite_reaches_the_fused_head(loaded):
    plain, fused = Engine(loaded, kernels="off"), Engine(loaded, kernels="torch")
    with torch.inference_mode():
        hidden = _first_step(fused)
        masked = torch.ones(hidden.shape[0], dtype=torch.bool)
        favourite, _ = plain._propose(hidden, masked, plain.sampler, None, {}, {})
        bans, rejected = {0: [int(favourite[0])]}, {5: {int(favourite[5])}}  # an early end; a refused token
        got, want = (e._propose(hidden, masked, e.sampler, None, bans, rejected) for e in (fused, plain))
    assert got[0][0] != favourite[0] and got[0][5] != favourite[5]  # the next choice there
    torch.testing.assert_close(got, want)


def test_a_slot_ban_renormalises_the_fused_confidence_as_the_plain_one(loaded):
    plain, fused = Engine(loaded, kernels="off"), Engine(loaded, kernels="torch")
    with torch.inference_mode():
        hidden = _first_step(fused)
        masked = torch.ones(hidden.shape[0], dtype=torch.bool)
        runners_up = loaded.model.lm_head(hidden[0]).topk(6).indices[1:].tolist()
        bans = {0: runners_up}  # as the first token after typed text bans what does not continue it
        unbanned = plain._propose(hidden, masked, plain.sampler, None, {}, {})
        got, want = (e._propose(hidden, masked, e.sampler, None, bans, {}) for e in (fused, plain))
    if not (want[0][0] == unbanned[0][0] and want[1][0] > unbanned[1][0] + 1e-3):
        raise RuntimeError("guard: the bans must leave the top token and take probability mass")
    torch.testing.assert_close(got, want)


def test_sampling_keeps_the_plain_path(loaded):
    kw = dict(temperature=0.8, seed=3)
    want = _outcomes(Engine(loaded, kernels="off"), **kw)
    assert _outcomes(Engine(loaded, kernels="torch"), **kw) == want
    assert len({text for text, *_ in want}) > 1


def test_default_load_picks_the_backend_once(loaded, tmp_path):
    engine = dllm.load(str(tiny_checkpoint(tmp_path / "m")))
    gpu = torch.cuda.is_available() and importlib.util.find_spec("triton") is not None
    assert engine.info["kernels"] == ("triton" if gpu else "torch")
    with pytest.raises(ValueError, match="kernels must be one of auto, triton, torch, off"):
        Engine(loaded, kernels="fast")


@pytest.mark.skipif(not (importlib.util.find_spec("triton") and interpreted()), reason="needs the Triton interpreter")
def test_fused_triton_interpreted_equals_plain(loaded):
    plain, fused = Engine(loaded, kernels="off"), Engine(loaded, kernels="triton")
    assert fused.info["kernels"] == "triton"
    holes = LINE_STARTS[1:4]  # the interpreter is slow
    want = _outcomes(plain, holes, threshold=0.5)
    assert _outcomes(fused, holes, threshold=0.5) == want
    assert want != _outcomes(plain, holes, threshold=1.0)  # guard: the confidences decide the steps


def test_cpu_dtype_follows_the_stored_weights_and_the_hardware(tmp_path):
    from dllm_complete.dllm.checkpoint import choose_device, cpu_has_native_bf16, save_checkpoint

    assert choose_device("cpu", None, torch.float32)[1] == torch.float32
    assert choose_device("cpu", None, torch.bfloat16)[1] == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert choose_device("cpu", "float32", torch.bfloat16)[1] == torch.float32  # an explicit dtype wins
    for i, (flags, native) in enumerate((("avx512f avx512_bf16 avx512_vnni", True), ("amx_bf16 amx_tile", True),
                                         ("avx2 avx512f avx512_vnni", False), ("avx512_bf16x", False))):
        (tmp_path / f"cpuinfo{i}").write_text(f"processor\t: 0\nflags\t\t: fpu {flags} sse\n")  # (read once a file)
        assert cpu_has_native_bf16(tmp_path / f"cpuinfo{i}") is native, flags
    assert cpu_has_native_bf16(tmp_path / "absent") is False  # not Linux
    small = load_checkpoint(tiny_checkpoint(tmp_path / "f32"))  # stored float32
    assert small.model.embed_tokens.weight.dtype == torch.float32
    bf16 = save_checkpoint(small.model, small.tokenizer, tmp_path / "bf16", "diffusion", "tiny-bf16")
    loaded = load_checkpoint(bf16)
    assert loaded.model.embed_tokens.weight.dtype == choose_device("cpu", None, torch.bfloat16)[1]
    engine = Engine(loaded)  # the fused head runs on bf16 weights too
    assert isinstance(engine.infill(SAMPLE_CODE[:50], SAMPLE_CODE[50:], mode="single").text, str)


def _run(module, *args, interpret="0"):
    """`python -m bench.<module> ARGS` from the repository root; its JSON last line."""
    out = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], capture_output=True, text=True,
                         timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                           "TRITON_INTERPRET": interpret}, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bench_kernels_runs_and_agrees():
    summary = _run("kernels", "--shapes", "4x300x32,7x1000x48", "--tiles", "0,128", "--repeats", "2",
                   "--warmup", "1")
    assert summary["bench"] == "kernels" and len(summary["results"]) == 2
    for r in summary["results"]:
        assert all(i["same_tokens"] == i["rows"] for i in r["impls"].values())


def test_bench_kernels_engine_ab_on_a_checkpoint(tmp_path):
    summary = _run("kernels", "--engine", str(tiny_checkpoint(tmp_path / "tiny")), "--context", "200", "--n", "3")
    assert summary["bench"] == "kernels-engine" and summary["before"]["kernels"] == "off"
    for mode in ("single", "multi"):
        m = summary["modes"][mode]
        assert m["n"] == 3 and set(m["p50_ms"]) == set(m["warmup_s"]) == set(m["max_ms"]) >= {"before", "after"}
        assert all(m["max_ms"][k] >= m["p50_ms"][k] > 0 for k in m["p50_ms"])
        # every arm is float32 on this checkpoint and each fast path has its reference as spec: same texts
        assert m["same_text"] == {k: 3 for k in m["p50_ms"] if k != "before"}


def test_bench_gpu_smoke_and_clean_exit_without_cuda():
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA" in _run("gpu")["skipped"]
    summary = _run("gpu", "--smoke", "--repeats", "1", "--warmup", "0")
    assert all(c["diffusion_step"]["filled"] == c["length"] for c in summary["cells"])


def test_bench_gpu_takes_a_real_checkpoint_directory(tmp_path):
    from dllm_complete.dllm.published import published_checkpoint

    path = published_checkpoint(tmp_path / "dream", "dream")  # Dream's layout: bf16 shards, shifted logits
    summary = _run("gpu", "--smoke", "--repeats", "1", "--warmup", "0", "--checkpoint", str(path))
    assert summary["settings"]["models"] == [str(path)] and {c["model"] for c in summary["cells"]} == {str(path)}
    assert all(c["diffusion_engine"]["filled"] == c["diffusion_step"]["filled"] == c["length"]
               for c in summary["cells"])


def test_bench_kernels_tune_checks_every_tile_against_the_reference():
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA" in _run("kernels", "--tune")["skipped"]
    pytest.importorskip("triton", reason="the --smoke sweep runs the Triton kernel (interpreted on the CPU); "
                        "Triton is the optional [gpu] extra")
    summary = _run("kernels", "--tune", "--smoke", interpret="1")
    for r in summary["results"]:
        assert r["default"]["same_tokens"] == r["shape"]["rows"]
        assert r["best"]["ok"] and len(r["tried"]) == 2 and all(t["ok"] for t in r["tried"])


def test_greedy_steps_score_through_the_fused_head(loaded):
    import dataclasses

    engine = Engine(loaded)
    calls = []
    score = engine.kernels.lm_head_score
    engine.kernels = dataclasses.replace(engine.kernels, lm_head_score=lambda *a: calls.append(a[0].shape) or score(*a))
    engine.infill("def f(x):\n    return ", "\n", mode="single")
    assert calls  # the model's own head class is a plain projection: not the slow path
