"""The model card: `python -m dllm_complete.dllm.train.card` packages two tiny runs; the shipped card holds model_eval.json."""

import json
import re
from pathlib import Path

import pytest

from dllm_complete import dllm
from dllm_complete.dllm.model import ModelConfig, Transformer
from dllm_complete.dllm.testing import SAMPLE_CODE, tiny_tokenizer
from dllm_complete.dllm.train import card
from dllm_complete.dllm.train.corpus import collect, manifest, split_by_file, write_manifest
from dllm_complete.dllm.train.objective import ar_batch, diffusion_batch
from dllm_complete.dllm.train.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
TOK = tiny_tokenizer()


def _evaluation_block(text: str) -> dict:
    return json.loads(re.search(r"## Evaluation\n```json\n(.*?)\n```", text, re.DOTALL).group(1))


def _run(tmp_path: Path, kind: str, name: str, files, held, root) -> Path:
    cfg = ModelConfig(vocab_size=TOK.vocab_size, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                      intermediate_size=64, tie_embeddings=True, causal=kind == "ar")
    model = Transformer(cfg)
    model.init_weights(0)
    batch = diffusion_batch if kind == "diffusion" else ar_batch
    run = tmp_path / name
    tc = TrainConfig(kind=kind, name=name, out=run, total_tokens=2 * 4 * 64, batch=4, seq_len=64,
                     warmup_steps=1, eval_every=2, eval_batches=1, ckpt_every=2)
    train(model, TOK, tc, lambda rng, b: batch(TOK, files, rng, b, 64), lambda rng, b: batch(TOK, held, rng, b, 64))
    write_manifest(run / "manifest.json", manifest(files, held, [root]))
    return run


def test_the_card_packages_the_model_and_its_twin(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the card's loss plot needs matplotlib (in the dev set)")
    root = tmp_path / "src" / "pkg"
    root.mkdir(parents=True)
    for i in range(4):
        (root / f"m{i}.py").write_text(SAMPLE_CODE.replace("add", f"add{i}") * 3)
    files, held = split_by_file(collect([root.parent]), 0.3, 0)
    runs = [_run(tmp_path, "diffusion", "d-tiny", files, held, root.parent),
            _run(tmp_path, "ar", "a-tiny", files, held, root.parent)]
    evals = {"diffusion": {"single-line": {"n": 3, "pass@1": 0.3333}}}
    (tmp_path / "eval.json").write_text(json.dumps(evals))
    weights = ["--weights", str(tmp_path / "weights")]
    refused = {  # each refused before anything is written
        "its model is ar, not diffusion": ["--run", str(runs[1])],
        "its model is diffusion, not ar": ["--run", str(runs[0]), "--twin", str(runs[0])],
        "no model/config.json (not a finished training run)": ["--run", str(tmp_path / "src")],
    }
    for words, argv in refused.items():
        with pytest.raises(SystemExit) as stop:
            card.main([*argv, *weights])
        assert stop.value.code == 2 and words in capsys.readouterr().err
        assert not (tmp_path / "weights").exists()
    card.main(["--run", str(runs[0]), "--twin", str(runs[1]), "--eval", str(tmp_path / "eval.json"), *weights])

    main, twin = tmp_path / "weights" / "d-tiny", tmp_path / "weights" / "a-tiny"
    text = (main / "README.md").read_text()
    assert "- `d-tiny` (diffusion): 1 layers" in text and "- `a-tiny` (ar): 1 layers" in text
    assert _evaluation_block(text) == evals and (main / "loss.png").stat().st_size > 0
    assert "(../d-tiny/README.md)" in (twin / "README.md").read_text()
    for folder in (main, twin):
        assert json.loads((folder / "training.json").read_text())["tokens_seen"] == 2 * 4 * 64
        assert dllm.load(str(folder)).infill("x = ", "\n", max_tokens=4).stats.nfe >= 1


def test_the_shipped_card_holds_the_recorded_evaluation():
    weights = ROOT / "dllm" / "weights"
    recorded = json.loads((ROOT / "bench" / "results" / "model_eval.json").read_text())
    assert _evaluation_block((weights / "dllm-code-small" / "README.md").read_text()) == recorded
    assert "(../dllm-code-small/README.md)" in (weights / "ar-code-small" / "README.md").read_text()
