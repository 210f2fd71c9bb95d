"""Certainty-forcing self-distillation: the teacher's canvases, the batches cut from them, the loss."""

import json
import random

import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm.testing import SAMPLE_CODE
from dllm_complete.dllm.train.__main__ import main as train_main
from dllm_complete.dllm.train.corpus import SourceFile
from dllm_complete.dllm.train.distill import (CANVAS, _agreeing, certainty_loss, distill_batch, hole_mode,
                                              read_trajectories, trajectories)
from dllm_complete.dllm.train.objective import IGNORE

FILES = [SourceFile(f"pkg/m{i}.py", "pkg", SAMPLE_CODE.replace("add", f"add{i}") * 4) for i in range(4)]


def test_hole_modes():
    assert hole_mode("    return a + b\n") == "single"
    assert hole_mode("a = 1\nb = 2\n") == "multi"
    assert hole_mode("a + b") is None and hole_mode("\n") is None and hole_mode("x\n" * 9) is None


@pytest.fixture(scope="module")
def teacher(tiny_dir, tmp_path_factory):
    engine = dllm.load(str(tiny_dir))
    path = tmp_path_factory.mktemp("distill") / "teacher.jsonl"
    assert trajectories(engine, engine.tokenizer, FILES, 12, 0, 96, path) == 12
    return engine, read_trajectories(path)


def test_trajectories_are_the_teachers_own_canvases(teacher):
    engine, records = teacher
    eom = engine.tokenizer.special.eom
    for r in records:
        assert len(r["canvas"]) == CANVAS[r["mode"]] and len(r["prefix"]) + len(r["canvas"]) + len(r["suffix"]) <= 96
        again, _ = engine.fill_ids(r["prefix"], r["suffix"], len(r["canvas"]), mode=r["mode"])
        assert again.tolist() == r["canvas"]  # greedy: the teacher's canvas, reproducible
        answer = r["canvas"][:r["canvas"].index(eom)] if eom in r["canvas"] else r["canvas"]
        assert engine.tokenizer.decode(answer).strip()  # blank answers are left out


def test_distilled_rows_mask_only_the_canvas_and_target_the_teacher(teacher):
    engine, records = teacher
    tok = engine.tokenizer
    tokens, targets, weights, sure = distill_batch(tok, records, FILES, random.Random(0), 16, 96, plain_fraction=0.0)
    assert tokens.shape == targets.shape == sure.shape == (16, 96) and (weights > 0).all()
    assert torch.equal(sure, targets != IGNORE)  # certainty is forced on every distilled target
    unscored = 0
    for b in range(16):
        masked = set((tokens[b] == tok.special.mask).nonzero().squeeze(-1).tolist())
        # shifted: the output one place left of a masked slot predicts the teacher's token there
        scored = set(((targets[b] != IGNORE).nonzero().squeeze(-1) + 1).tolist())
        assert scored and scored <= masked
        # masked and unscored: only the padding after an undecided end, never a slot before it
        if masked - scored:
            assert min(masked - scored) > max(scored)
            assert int(targets[b, max(scored) - 1]) == tok.special.eom  # the end itself is masked and scored
            unscored += 1
    assert unscored  # some rows leave their padding undecided and unscored
    mixed = distill_batch(tok, records, FILES, random.Random(1), 32, 96, plain_fraction=0.5)
    forced = mixed[3].any(1)
    assert forced.any() and not forced.all()  # distilled and ordinary rows (no forced certainty) side by side


def test_only_right_forces_certainty_where_the_teacher_wrote_the_real_middle(teacher):
    engine, records = teacher
    eom = engine.tokenizer.special.eom
    assert _agreeing([5, 6, 7, eom, eom], [5, 6, 7], eom) == 4  # the end included
    assert _agreeing([5, 9, 7], [5, 6, 7], eom) == 1 and _agreeing([5], None, eom) == 0
    half_right = [{**r, "truth": r["canvas"][:2] + [-1]} for r in records]  # the teacher's first 2 slots are right
    tokens, targets, _, sure = distill_batch(engine.tokenizer, half_right, FILES, random.Random(4), 16, 96,
                                             plain_fraction=0.0, only_right=True)
    assert sure.any() and (sure <= (targets != IGNORE)).all()
    assert (sure.sum(1) <= 2).all() and (targets != IGNORE).sum() > 2 * 16  # never past the right slots


def test_certainty_adds_the_entropy_of_right_guesses_only(teacher):
    engine, records = teacher
    model = engine.model.float()
    batch = distill_batch(engine.tokenizer, records, FILES, random.Random(2), 8, 96, plain_fraction=0.0)
    with torch.no_grad():
        plain, forced = certainty_loss(model, *batch, certainty=0.0), certainty_loss(model, *batch, certainty=1.0)
        hidden = model.hidden(batch[0], torch.arange(96))
        scored = batch[1] != IGNORE
        logits = model.lm_head(hidden[scored]).float()
        right = logits.argmax(-1) == batch[1][scored]
    assert forced >= plain
    assert bool(right.any()) == bool(forced > plain + 1e-6)  # the term fires exactly where guesses are right


def test_the_fit_command_distills(tiny_dir, tmp_path, monkeypatch, teacher):
    engine, records = teacher
    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    monkeypatch.setattr("dllm_complete.dllm.train.__main__.corpus_split", lambda *a, **k: (FILES, FILES[:1]))
    train_main(["fit", "--kind", "diffusion", "--init-from", str(tiny_dir), "--distill", str(data), "--out",
                str(tmp_path / "run"), "--tokens", str(3 * 4 * 96), "--batch", "4", "--seq-len", "96",
                "--warmup", "1", "--eval-every", "3", "--ckpt-every", "3"])
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3] and "heldout" in log[-1]
    assert dllm.load(str(tmp_path / "run" / "model")).infill("x = ", "\n", max_tokens=4).stats.nfe >= 1
