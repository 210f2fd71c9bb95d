"""Training pipeline on a toy corpus: corpus rules, objectives, a few steps, checkpoint and resume."""

import argparse
import json
import random

import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm.checkpoint import load_checkpoint
from dllm_complete.dllm.model import ModelConfig, Transformer
from dllm_complete.dllm.testing import SAMPLE_CODE, tiny_tokenizer
from dllm_complete.dllm.train.__main__ import adapted_to_diffusion
from dllm_complete.dllm.train.corpus import SourceFile, collect, file_key, manifest, split_by_file
from dllm_complete.dllm.train.objective import IGNORE, ar_batch, diffusion_batch, weighted_loss
from dllm_complete.dllm.train.trainer import TrainConfig, train

TOK = tiny_tokenizer()


def _corpus(tmp_path):
    root = tmp_path / "src"
    (root / "pkg").mkdir(parents=True)
    for i in range(6):
        (root / "pkg" / f"m{i}.py").write_text(SAMPLE_CODE.replace("add", f"add{i}") * 3)
    (root / "pkg" / "dup.py").write_text(SAMPLE_CODE.replace("add", "add0") * 3)  # same content as m0
    (root / "human_eval").mkdir()
    (root / "human_eval" / "x.py").write_text(SAMPLE_CODE * 3)
    (root / "shared" / "data").mkdir(parents=True)
    (root / "shared" / "data" / "y.py").write_text(SAMPLE_CODE * 4)
    (root / "pkg" / "z.py").write_text("# HumanEval/0\n" + SAMPLE_CODE * 3)
    return root


def test_corpus_dedupes_and_excludes_evaluation_data(tmp_path):
    files = collect([_corpus(tmp_path)])
    names = sorted(f.path.rsplit("/", 1)[1] for f in files)
    assert len(names) == 6 and ("dup.py" in names) != ("m0.py" in names)  # one copy of the shared content
    assert {f"m{i}.py" for i in range(1, 6)} <= set(names)
    train_files, held = split_by_file(files, 0.34, seed=0)
    assert len(held) == 2 and not {f.path for f in held} & {f.path for f in train_files}
    m = manifest(train_files, held, [tmp_path])
    assert m["train"]["files"] == 4 and sum(p["files"] for p in m["packages"].values()) == 6


def test_diffusion_batch_masks_and_weights(tmp_path):
    files = collect([_corpus(tmp_path)])
    tokens, targets, weights = diffusion_batch(TOK, files, random.Random(0), 8, 64)
    assert tokens.shape == targets.shape == (8, 64) and weights.shape == (8,)
    masked = targets != IGNORE
    assert masked.any(1).all()  # every row has at least one masked target
    assert (tokens[masked] == TOK.special.mask).all()
    assert (weights > 0).all()


def test_shifted_diffusion_batch_puts_targets_one_place_left(tmp_path):
    files = collect([_corpus(tmp_path)])
    tokens, targets, weights = diffusion_batch(TOK, files, random.Random(3), 8, 64, shift=True)
    masked = tokens == TOK.special.mask
    assert not masked[:, 0].any() and (targets[:, -1] == IGNORE).all()
    assert torch.equal(masked[:, 1:], targets[:, :-1] != IGNORE)  # output i predicts the masked token i + 1
    assert (weights > 0).all()


def test_ar_batch_has_fim_rows(tmp_path):
    files = collect([_corpus(tmp_path)])
    tokens, targets, _ = ar_batch(TOK, files, random.Random(0), 16, 64)
    assert (tokens == TOK.special.fim_middle).any()
    assert torch.equal(tokens[:, 1:][targets[:, :-1] != IGNORE], targets[:, :-1][targets[:, :-1] != IGNORE])


@pytest.mark.parametrize("kind", ["diffusion", "ar"])
def test_the_loss_scores_target_positions_only_and_equals_the_full_logits_loss(tmp_path, kind):
    files = collect([_corpus(tmp_path)])
    make = diffusion_batch if kind == "diffusion" else ar_batch
    tokens, targets, weights = make(TOK, files, random.Random(1), 6, 48)
    assert (2 * int((targets != IGNORE).sum()) > targets.numel()) == (kind == "ar")  # both branches of the loss
    cfg = ModelConfig(vocab_size=TOK.vocab_size, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                      intermediate_size=64, causal=kind == "ar", max_seq_len=64)
    model = Transformer(cfg)
    model.init_weights(0)
    ce = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                                           reduction="none").view_as(targets)  # (B, T): every position's logits
    full = (ce.sum(1) * weights).mean()
    full.backward()
    want = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    loss = weighted_loss(model, tokens, targets, weights)
    loss.backward()
    assert torch.allclose(loss, full, rtol=1e-5)
    for p, g in zip(model.parameters(), want):
        assert torch.allclose(p.grad, g, rtol=1e-4, atol=1e-6)


def test_train_checkpoint_and_resume(tmp_path):
    files = collect([_corpus(tmp_path)])
    cfg = ModelConfig(vocab_size=TOK.vocab_size, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                      intermediate_size=64, tie_embeddings=True)
    model = Transformer(cfg)
    model.init_weights(0)
    tc = TrainConfig(kind="diffusion", name="t", out=tmp_path / "run", total_tokens=4 * 4 * 64, batch=4,
                     seq_len=64, warmup_steps=1, eval_every=2, eval_batches=1, ckpt_every=2)
    fn = lambda rng, b: diffusion_batch(TOK, files, rng, b, 64)  # noqa: E731
    out = train(model, TOK, tc, fn, fn)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and "heldout" in log[-1]
    assert dllm.load(str(out)).infill("x = ", "\n", max_tokens=4).stats.nfe >= 1
    longer = TrainConfig(**{**tc.__dict__, "total_tokens": 6 * 4 * 64})
    train(model, TOK, longer, fn, fn, resume=tmp_path / "run")
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps[-2:] == [5, 6]
    # continued training from saved weights counts the tokens those weights had seen
    more = TrainConfig(**{**tc.__dict__, "out": tmp_path / "run2", "tokens_before": 6 * 4 * 64})
    out2 = train(model, TOK, more, fn, fn)
    config = json.loads((out2 / "config.json").read_text())
    assert config["dllm"]["tokens_seen"] == 10 * 4 * 64


def test_a_compiled_run_is_the_eager_run(tmp_path):
    files = collect([_corpus(tmp_path)])
    cfg = ModelConfig(vocab_size=TOK.vocab_size, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                      intermediate_size=64, tie_embeddings=True)
    fn = lambda rng, b: diffusion_batch(TOK, files, rng, b, 64)  # noqa: E731
    losses = {}
    for compiled in (False, True):
        model = Transformer(cfg)
        model.init_weights(0)
        tc = TrainConfig(kind="diffusion", name="t", out=tmp_path / str(compiled), total_tokens=2 * 4 * 64, batch=4,
                         seq_len=64, warmup_steps=1, eval_every=2, eval_batches=1, ckpt_every=2, compile=compiled)
        out = train(model, TOK, tc, fn, fn)
        losses[compiled] = [json.loads(line)["loss"] for line in (out.parent / "log.jsonl").read_text().splitlines()]
        assert dllm.load(str(out)).infill("x = ", "\n", max_tokens=4).stats.nfe >= 1
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_a_stopped_and_resumed_run_is_the_uninterrupted_run(tmp_path):
    files = collect([_corpus(tmp_path)])
    cfg = ModelConfig(vocab_size=TOK.vocab_size, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                      intermediate_size=64, tie_embeddings=True)
    fn = lambda rng, b: diffusion_batch(TOK, files, rng, b, 64)  # noqa: E731

    def run(name, **kw):
        model = Transformer(cfg)
        model.init_weights(0)
        tc = TrainConfig(kind="diffusion", name="t", out=tmp_path / name, total_tokens=6 * 4 * 64, batch=4,
                         seq_len=64, warmup_steps=2, eval_every=3, eval_batches=1, ckpt_every=100, **kw)
        return model, tc, train(model, TOK, tc, fn, fn)

    def losses(name):
        return [json.loads(line)["loss"] for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]

    run("whole")
    _, tc, out = run("split", stop_at_tokens=3 * 4 * 64)
    assert len(losses("split")) == 3 and (tmp_path / "split" / "optimizer.safetensors").is_file()
    resumed = load_checkpoint(out, dtype="float32").model.requires_grad_(True)  # bf16 weights; exact ones come back
    train(resumed, TOK, TrainConfig(**{**tc.__dict__, "stop_at_tokens": 0}), fn, fn, resume=tmp_path / "split")
    assert losses("split") == losses("whole")


def test_an_ar_model_adapted_into_a_diffusion_model(tmp_path):
    files = collect([_corpus(tmp_path)])
    cfg = ModelConfig(vocab_size=TOK.vocab_size, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                      intermediate_size=64, tie_embeddings=True, causal=True)
    ar = Transformer(cfg)
    ar.init_weights(0)
    model = adapted_to_diffusion(ar)
    assert not model.cfg.causal and model.lm_head.weight is model.embed_tokens.weight
    assert torch.equal(model.embed_tokens.weight, ar.embed_tokens.weight)
    tc = TrainConfig(kind="diffusion", name="t", out=tmp_path / "run", total_tokens=2 * 4 * 64, batch=4,
                     seq_len=64, warmup_steps=1, eval_every=2, eval_batches=1, ckpt_every=2,
                     logits_shift=True, provenance={"adapted_from": {"name": "ar", "tokens_seen": 7}})
    fn = lambda rng, b: diffusion_batch(TOK, files, rng, b, 64, shift=True)  # noqa: E731
    out = train(model, TOK, tc, fn, fn)
    config = json.loads((out / "config.json").read_text())["dllm"]
    assert config["logits_shift"] and config["adapted_from"]["name"] == "ar"
    engine = dllm.load(str(out))
    assert engine.spec.logits_shift and engine.infill("x = ", "\n", max_tokens=4).stats.nfe >= 1


def test_a_continued_run_keeps_the_held_out_files(tmp_path):
    files = collect([_corpus(tmp_path)])
    _, held = split_by_file(files, 0.3, seed=0)
    _, again = split_by_file(files[::-1], 0.3, seed=5, heldout_paths={f.path for f in held})
    assert {f.path for f in again} == {f.path for f in held}
    assert manifest(files, held, [tmp_path])["heldout_paths"] == sorted(f.path for f in held)


def test_held_out_files_are_matched_across_interpreters():
    assert file_key("/usr/lib/python3.12/json/decoder.py") == file_key("/root/.pyenv/lib/python3.11/json/decoder.py")
    assert file_key("/opt/venv/lib/python3.12/site-packages/torch/nn/f.py") == "site-packages/torch/nn/f.py"
    assert file_key("/usr/lib/python3.12/site-packages/torch/nn/f.py") == "site-packages/torch/nn/f.py"
    assert file_key("/usr/lib/python3.12/json/decoder.py") != file_key("/usr/lib/python3.12/site-packages/json/decoder.py")
    files = [SourceFile("/a/lib/python3.11/x/y.py", "stdlib/x", "1"), SourceFile("/a/lib/python3.11/z.py", "stdlib/z", "2")]
    train_files, held = split_by_file(files, 0.5, 0, {"/usr/lib/python3.12/x/y.py"})
    assert [f.path for f in held] == ["/a/lib/python3.11/x/y.py"] and len(train_files) == 1


def _short_run(tmp_path, name, **kw):
    files = collect([_corpus(tmp_path / name)])
    cfg = ModelConfig(vocab_size=TOK.vocab_size, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                      intermediate_size=64, tie_embeddings=True)
    model = Transformer(cfg)
    model.init_weights(0)
    tc = TrainConfig(kind="diffusion", name="t", out=tmp_path / name, total_tokens=3 * 4 * 64, batch=4,
                     seq_len=64, warmup_steps=1, eval_every=3, eval_batches=1, ckpt_every=3, **kw)
    fn = lambda rng, b: diffusion_batch(TOK, files, rng, b, 64)  # noqa: E731
    train(model, TOK, tc, fn, fn)
    return [json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]


def test_batches_built_by_worker_processes_are_the_same_batches(tmp_path):
    plain, ahead = _short_run(tmp_path, "plain"), _short_run(tmp_path, "ahead", workers=2)
    assert [r["loss"] for r in plain] == [r["loss"] for r in ahead]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_the_gpu_matches_the_cpu(tmp_path):
    cpu = _short_run(tmp_path, "cpu")
    gpu = _short_run(tmp_path, "gpu", device="cuda", workers=2)
    assert [round(r["loss"], 2) for r in cpu] == [round(r["loss"], 2) for r in gpu]


@pytest.mark.parametrize("extra, words", [
    ([], "--tokenizer"), (["--tokenizer", "TOK", "--batch", "0"], "--batch"),
    (["--tokenizer", "TOK", "--seq-len", "0"], "--seq-len"), (["--tokenizer", "TOK", "--ckpt-every", "0"], "--ckpt-every"),
    (["--tokenizer", "TOK", "--lr", "-1"], "--lr"), (["--tokenizer", "TOK", "--heldout", "1.5"], "--heldout"),
    (["--tokenizer", "TOK", "--tokens", "-5"], "--tokens"), (["--tokenizer", "TOK", "--hole-fraction", "2"], "--hole-fraction"),
    (["--tokenizer", "TOK", "--device", "banana"], "--device"), (["--tokenizer", "nowhere.json"], "no such file"),
    (["--init-from", "/nowhere"], "no such directory"), (["--resume", "MODEL"], "not a run directory"),
    (["--tokenizer", "TOK", "--out", "RUN"], "holds a run already"),
    (["--tokenizer", "TOK", "--out", "FILE"], "not a directory"),
    (["--tokenizer", "TOK", "--device", "mps"], "expected cpu, cuda or cuda:N"),
    pytest.param(["--tokenizer", "TOK", "--device", "cuda"], "sees no CUDA GPU",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")),
    (["--tokenizer", "TOK", "--seq-len", "5000"], "a new model has 4096 positions"),
])
def test_fit_refuses_bad_options_in_one_line_before_reading_the_corpus(tiny_dir, tmp_path, monkeypatch, capsys,
                                                                       extra, words):
    from dllm_complete.dllm.train import __main__ as cli

    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text("{}")  # a run already there
    monkeypatch.setattr(cli, "corpus_split", lambda *a, **k: pytest.fail("the corpus was read"))
    (tmp_path / "file").write_text("")
    swap = {"TOK": str(tiny_dir / "tokenizer.json"), "MODEL": str(tiny_dir), "RUN": str(run),
            "FILE": str(tmp_path / "file")}
    argv = ["fit", "--kind", "diffusion", "--out", str(tmp_path / "new"), *[swap.get(a, a) for a in extra]]
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and words in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "new").exists()


def test_a_run_resumes_only_on_its_own_schedule(tmp_path, monkeypatch, capsys):
    from dllm_complete.dllm.train import __main__ as cli

    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text(json.dumps({"step": 3, "config": {"kind": "diffusion", "batch": 16, "seq_len": 256,
                                                                     "accum": 1, "total_tokens": 40960, "lr": 2e-3}}))
    monkeypatch.setattr(cli, "corpus_split", lambda *a, **k: pytest.fail("the corpus was read"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fit", "--kind", "diffusion", "--out", str(run), "--resume", str(run), "--tokens", "40960",
                  "--batch", "8"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and "--batch 16" in err and "--tokens" not in err
    for argv, words in ((["--lr", "0.5"], "--lr 0.002"), (["--out", str(tmp_path / "other")], "holds a run already")):
        (tmp_path / "other").mkdir(exist_ok=True)
        (tmp_path / "other" / "state.json").write_text("{}")  # another run: never written over
        with pytest.raises(SystemExit) as exit_:
            cli.main(["fit", "--kind", "diffusion", "--out", str(run), "--resume", str(run), "--tokens", "40960",
                      *argv])
        assert exit_.value.code == 2 and words in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_continued_model_keeps_its_held_out_split_untold(tmp_path):
    from argparse import Namespace

    from dllm_complete.dllm.train.__main__ import held_out_of

    weights, run = tmp_path / "weights", tmp_path / "run"
    weights.mkdir(), run.mkdir()
    (weights / "heldout.json").write_text('{"heldout_paths": []}')  # as `card` leaves it beside the weights
    (run / "manifest.json").write_text('{"heldout_paths": []}')
    told = str(tmp_path / "told.json")
    assert held_out_of(Namespace(heldout_manifest=None, resume=None, init_from=str(weights))) == str(weights / "heldout.json")
    assert held_out_of(Namespace(heldout_manifest=None, resume=str(run), init_from=None)) == str(run / "manifest.json")
    assert held_out_of(Namespace(heldout_manifest=told, resume=str(run), init_from=None)) == told
    assert held_out_of(Namespace(heldout_manifest=None, resume=None, init_from=str(tmp_path))) is None  # a new split


def test_the_log_holds_each_step_once_across_a_resume(tmp_path):
    from dllm_complete.dllm.train.trainer import open_log

    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3, 4)))
    with open_log(log, 2) as f:  # resumed from the checkpoint of step 2: steps 3 and 4 will be run again
        f.write(json.dumps({"step": 3, "loss": 0.5}) + "\n")
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [1, 2, 3]
    open_log(log, 0).close()  # a new run where one stopped before its first checkpoint
    assert log.read_text() == ""


def test_trajectories_refuse_an_ar_teacher_and_keep_the_file(tiny_ar_dir, tmp_path, monkeypatch, capsys):
    from dllm_complete.dllm.train import __main__ as cli

    monkeypatch.setattr(cli, "corpus_split", lambda *a, **k: pytest.fail("the corpus was read"))
    out = tmp_path / "t.jsonl"
    out.write_text("kept\n")  # an earlier run's trajectories
    with pytest.raises(SystemExit) as exit_:
        cli.main(["trajectories", "--model", str(tiny_ar_dir), "--n", "1", "--out", str(out)])
    assert exit_.value.code == 2 and "not an AR one" in capsys.readouterr().err and out.read_text() == "kept\n"


def test_vocabulary_sizes_are_checked_when_read():
    from dllm_complete.dllm.train.__main__ import _sizes

    assert _sizes("4096,8192") == [4096, 8192]
    for bad in ("400,-1", "256", "x", "4096,"):
        with pytest.raises(argparse.ArgumentTypeError):
            _sizes(bad)
