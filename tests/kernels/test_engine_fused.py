"""The engine with the fused LM head returns what the plain head (logits + softmax) returns."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from dllm_complete import dllm
from dllm_complete.dllm.engine import Engine
from dllm_complete.dllm.checkpoint import load_checkpoint
from dllm_complete.dllm.testing import SAMPLE_CODE, sample_holes, tiny_checkpoint
from dllm_complete.kernels.dispatch import interpreted

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("tiny-fused")))


def _texts(engine, **sampler):
    engine.sampler = msgspec.structs.replace(engine.sampler, **sampler)
    return [engine.infill(p, s, mode=m).text for p, s in sample_holes(6) for m in ("single", "multi")]


@pytest.mark.parametrize("confidence", ["probability", "margin", "entropy"])
@pytest.mark.parametrize("block_size", [0, 8])
def test_fused_torch_equals_plain(loaded, confidence, block_size):
    plain, fused = Engine(loaded, kernels="off"), Engine(loaded, kernels="torch")
    assert fused.info["kernels"] == "torch" and plain.info["kernels"] == "off"
    kw = dict(confidence=confidence, block_size=block_size, threshold=0.3)
    assert _texts(fused, **kw) == _texts(plain, **kw)


def test_sampling_keeps_the_plain_path(loaded):
    kw = dict(temperature=0.8, seed=3)
    assert _texts(Engine(loaded, kernels="torch"), **kw) == _texts(Engine(loaded, kernels="off"), **kw)


def test_default_load_picks_the_backend_once(loaded, tmp_path):
    import torch

    engine = dllm.load(str(tiny_checkpoint(tmp_path / "m")))
    gpu = torch.cuda.is_available() and importlib.util.find_spec("triton") is not None
    assert engine.info["kernels"] == ("triton" if gpu else "torch")
    with pytest.raises(ValueError, match="kernel backend"):
        Engine(loaded, kernels="fast")


@pytest.mark.skipif(not (importlib.util.find_spec("triton") and interpreted()), reason="needs the Triton interpreter")
def test_fused_triton_interpreted_equals_plain(loaded):
    plain, fused = Engine(loaded, kernels="off"), Engine(loaded, kernels="triton")
    assert fused.info["kernels"] == "triton"
    engine_holes = sample_holes(2)
    for e in (plain, fused):
        e.sampler = msgspec.structs.replace(e.sampler, threshold=0.5)
    for p, s in engine_holes:
        assert fused.infill(p, s, mode="single").text == plain.infill(p, s, mode="single").text


def test_cpu_dtype_follows_the_stored_weights_and_the_hardware(tmp_path):
    import torch
    from dllm_complete.dllm.checkpoint import choose_device, cpu_has_native_bf16, save_checkpoint

    assert choose_device("cpu", None, torch.float32)[1] == torch.float32
    assert choose_device("cpu", None, torch.bfloat16)[1] == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert choose_device("cpu", "float32", torch.bfloat16)[1] == torch.float32  # an explicit dtype wins
    small = load_checkpoint(tiny_checkpoint(tmp_path / "f32"))  # stored float32
    assert small.model.embed_tokens.weight.dtype == torch.float32
    bf16 = save_checkpoint(small.model, small.tokenizer, tmp_path / "bf16", "diffusion", "tiny-bf16")
    loaded = load_checkpoint(bf16)
    assert loaded.model.embed_tokens.weight.dtype == choose_device("cpu", None, torch.bfloat16)[1]
    engine = Engine(loaded)  # the fused head runs on bf16 weights too
    assert isinstance(engine.infill(SAMPLE_CODE[:50], SAMPLE_CODE[50:], mode="single").text, str)


def _run(script, *args, interpret="0"):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True,
                         timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                           "TRITON_INTERPRET": interpret}, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_bench_kernels_runs_and_agrees():
    summary = _run("kernels.py", "--shapes", "4x300x32,7x1000x48", "--tiles", "0,128", "--repeats", "2",
                   "--warmup", "1")
    assert summary["bench"] == "kernels" and len(summary["results"]) == 2
    for r in summary["results"]:
        assert all(i["same_tokens"] == i["rows"] for i in r["impls"].values())


def test_bench_kernels_engine_ab_on_a_checkpoint(tmp_path):
    summary = _run("kernels.py", "--engine", str(tiny_checkpoint(tmp_path / "tiny")), "--context", "200", "--n", "3")
    assert summary["bench"] == "kernels-engine" and summary["before"]["kernels"] == "off"
    for mode in ("single", "multi"):
        m = summary["modes"][mode]
        assert m["n"] == 3 and set(m["p50_ms"]) == set(m["warmup_s"]) == set(m["max_ms"]) >= {"before", "after"}
        assert all(m["max_ms"][k] >= m["p50_ms"][k] > 0 for k in m["p50_ms"])
        assert 0 <= m["same_text"]["after"] <= 3


def test_bench_gpu_smoke_and_clean_exit_without_cuda():
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA" in _run("gpu.py")["skipped"]
    summary = _run("gpu.py", "--smoke", "--repeats", "1", "--warmup", "0")
    assert all(c["diffusion_step"]["filled"] == c["length"] for c in summary["cells"])


def test_bench_lm_head_tune_checks_every_tile_against_the_reference():
    import torch

    if not torch.cuda.is_available():
        assert "no CUDA" in _run("lm_head_tune.py")["skipped"]
    summary = _run("lm_head_tune.py", "--smoke", interpret="1")
    for r in summary["results"]:
        assert r["default"]["same_tokens"] == r["shape"]["rows"]
        assert r["best"]["ok"] and len(r["tried"]) == 2 and all(t["ok"] for t in r["tried"])
