"""Checkpoint directories: round trip, and one-line errors for missing or corrupt ones."""

import json
import shutil

import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm.checkpoint import CheckpointError, load_checkpoint


def test_round_trip_keeps_weights(tiny_dir, tmp_path):
    a = load_checkpoint(tiny_dir)
    from dllm_complete.dllm.checkpoint import save_checkpoint
    save_checkpoint(a.model, a.tokenizer, tmp_path / "copy", "diffusion", "copy", dtype=torch.float32)
    b = load_checkpoint(tmp_path / "copy")
    for (n, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert torch.equal(p, q), n
    assert a.tokenizer.special == b.tokenizer.special


def test_large_checkpoints_are_sharded_and_load_the_same(tiny_dir, tmp_path):
    from dllm_complete.dllm.checkpoint import save_checkpoint
    a = load_checkpoint(tiny_dir)
    out = tmp_path / "copy"
    save_checkpoint(a.model, a.tokenizer, out, "diffusion", "copy", dtype=torch.float32, shard_bytes=40_000)
    shards = sorted(f.name for f in out.glob("model-*.safetensors"))
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(shards) > 2 and not (out / "model.safetensors").exists()
    assert sorted(set(index["weight_map"].values())) == shards
    b = load_checkpoint(out)
    for (n, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert torch.equal(p, q), n
    save_checkpoint(a.model, a.tokenizer, out, "diffusion", "copy", dtype=torch.float32)  # small again: one file
    assert [f.name for f in out.glob("model*.safetensors*")] == ["model.safetensors"]


def test_saved_checkpoint_loads_in_transformers(tiny_ar_dir):
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_ar_dir), dtype=torch.float32)
    ours = load_checkpoint(tiny_ar_dir).model
    tokens = torch.randint(0, ours.cfg.vocab_size, (1, 17))
    with torch.no_grad():
        assert (hf(tokens).logits - ours(tokens)).abs().max().item() < 1e-4


@pytest.mark.parametrize("damage", ["no_dir", "no_config", "bad_json", "no_weights", "corrupt", "no_tokenizer",
                                    "wrong_shape", "run_folder"])
def test_broken_checkpoints_raise_one_line_errors(tiny_dir, tmp_path, damage):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_dir, ckpt)
    if damage == "no_dir":
        ckpt = tmp_path / "nowhere"
    elif damage == "no_config":
        (ckpt / "config.json").unlink()
    elif damage == "bad_json":
        (ckpt / "config.json").write_text("{not json")
    elif damage == "no_weights":
        (ckpt / "model.safetensors").unlink()
    elif damage == "corrupt":
        data = (ckpt / "model.safetensors").read_bytes()
        (ckpt / "model.safetensors").write_bytes(data[:len(data) // 2])
    elif damage == "no_tokenizer":
        (ckpt / "tokenizer.json").unlink()
    elif damage == "run_folder":  # a training run's folder given for its model
        shutil.move(str(ckpt), str(tmp_path / "model"))
        ckpt.mkdir()
        shutil.move(str(tmp_path / "model"), str(ckpt / "model"))
    elif damage == "wrong_shape":
        cfg = json.loads((ckpt / "config.json").read_text())
        cfg["hidden_size"] = 32
        (ckpt / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError) as info:
        dllm.load(str(ckpt))
    assert "\n" not in str(info.value)
    if damage == "run_folder":
        assert f"its model is {ckpt / 'model'}" in str(info.value)


def test_import_is_light():
    import subprocess
    import sys
    code = "import sys, dllm; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_loading_leaves_torch_compiler_stack_unimported(tiny_dir):
    """Cold start: building the model on the meta device used to import torch._dynamo (~1 s, ~140 MB)."""
    import subprocess
    import sys
    code = (f"import sys, dllm; e = dllm.load({str(tiny_dir)!r}); e.infill('x = ', '\\n'); "
            "print(sorted(m for m in ('torch._dynamo', 'torch.fx.experimental.symbolic_shapes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cpu_load_pins_the_malloc_thresholds(tiny_dir, monkeypatch):
    from dllm_complete.dllm import allocator
    calls = []
    monkeypatch.setattr(allocator, "keep_temporaries_mapped", lambda: calls.append(1))
    model = load_checkpoint(str(tiny_dir), device="cpu").model
    assert calls == [1]
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    assert (model.lm_head.weight is model.embed_tokens.weight) == model.cfg.tie_embeddings


def test_an_unusable_device_is_a_one_line_error(tiny_dir):
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        dllm.load(str(tiny_dir), device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            dllm.load(str(tiny_dir), device="cuda")


def test_malloc_thresholds_are_set_where_glibc_is(tiny_dir):
    import platform
    from dllm_complete.dllm import allocator
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert allocator.keep_temporaries_mapped() is glibc
    assert dllm.load(str(tiny_dir), device="cpu").info["malloc"] == ("glibc thresholds pinned" if glibc else "default")


def test_an_embedded_model_is_found_by_its_name(tmp_path, monkeypatch):
    from dllm_complete.dllm.checkpoint import EMBEDDED, describe, resolve
    monkeypatch.chdir(tmp_path)
    assert resolve("ar-code-small") == EMBEDDED / "ar-code-small"
    assert describe("ar-code-small")[2].kind == "ar"
    (tmp_path / "ar-code-small").mkdir()  # a directory here wins over the embedded name
    assert resolve("ar-code-small") != EMBEDDED / "ar-code-small"
    with pytest.raises(CheckpointError, match="embedded models: ar-code-small, dllm-code-small"):
        dllm.load("no-such-model")


CONFIG_DAMAGE = {  # a change to config.json -> words of the one-line error
    "a list": ([], "JSON object"), "dllm not an object": ({"dllm": "x"}, "JSON object"),
    "negative width": ({"hidden_size": -64}, "dim"), "no heads": ({"num_attention_heads": 0}, "n_heads"),
    "width as text": ({"hidden_size": "64"}, "dim"), "width as float": ({"hidden_size": 64.0}, "dim"),
    "huge width": ({"hidden_size": 2 ** 40}, "larger than"), "too many layers": ({"num_hidden_layers": 100_000}, "layers"),
    "rope as text": ({"rope_theta": "x"}, "rope_theta"), "rope zero": ({"rope_theta": 0}, "rope_theta"),
    "heads do not divide": ({"num_attention_heads": 3}, "multiple"), "positions": ({"max_position_embeddings": -5},
                                                                                  "max_seq_len"),
    "context past the positions": ({"dllm": {"context_tokens": 10 ** 6}}, "context_tokens"),
    "context as text": ({"dllm": {"context_tokens": "big"}}, "context_tokens"),
    "kind": ({"dllm": {"kind": "banana"}}, "kind"), "eps": ({"rms_norm_eps": float("nan")}, "epsilon"), "vocabulary smaller than the tokenizer": ({"vocab_size": 200}, "token id"),
}


@pytest.mark.parametrize("name", list(CONFIG_DAMAGE))
def test_a_config_no_model_can_have_is_one_line_before_anything_is_built(tiny_dir, tmp_path, name):
    change, words = CONFIG_DAMAGE[name]
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_dir, ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    if isinstance(change, dict):
        dllm_section = {**cfg.get("dllm", {}), **change.pop("dllm")} if isinstance(change.get("dllm"), dict) else None
        cfg = {**cfg, **change, **({"dllm": dllm_section} if dllm_section is not None else {})}
    else:
        cfg = change
    (ckpt / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=words) as info:
        dllm.load(str(ckpt))
    assert "\n" not in str(info.value)


def test_a_broken_shard_index_is_one_line(tiny_dir, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_dir, ckpt)
    for index in ("{}", '{"weight_map": []}', '{"weight_map": {}}', "not json"):
        (ckpt / "model.safetensors.index.json").write_text(index)
        with pytest.raises(CheckpointError, match="shard index"):
            dllm.load(str(ckpt))


def test_rotary_tables_are_made_for_a_bounded_number_of_positions(tiny_dir, tmp_path):
    from dllm_complete.dllm.checkpoint import MAX_POSITIONS

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_dir, ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**cfg, "max_position_embeddings": 20_000_000}))  # 4.6 GB of tables
    model = load_checkpoint(ckpt).model
    assert model.cfg.max_seq_len == MAX_POSITIONS and model.rope_cos.shape[0] == MAX_POSITIONS


def test_a_special_id_past_the_embeddings_is_one_line(tmp_path):
    from dllm_complete.dllm.published import published_checkpoint

    ckpt = published_checkpoint(tmp_path / "dream", "dream")
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**cfg, "mask_token_id": 1_000_000}))
    with pytest.raises(CheckpointError, match="token id 1000000 does not fit"):
        dllm.load(str(ckpt))


def test_a_file_given_as_the_model_is_named_as_such(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"not a directory")
    with pytest.raises(dllm.CheckpointError, match="is not a directory"):
        dllm.load(str(path))
