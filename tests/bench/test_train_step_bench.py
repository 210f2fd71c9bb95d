"""bench/train_step.py: the trainer's loss and the all-positions reference, timed on real batches."""

import pytest
from bench import train_step


def test_both_arms_are_timed_on_the_same_batches_and_agree():
    summary = train_step.main(["--sizes", "tiny", "--batch", "2", "--seq-len", "64", "--batches", "1",
                               "--warmup", "0", "--repeats", "1", "--files", "40", "--no-bf16"])
    rows = {r["kind"]: r for r in summary["results"]}
    assert set(rows) == {"diffusion", "ar"}
    assert rows["diffusion"]["scored_fraction"] < rows["ar"]["scored_fraction"]
    for r in rows.values():
        arms = r["arms"]
        assert list(arms) == ["all positions", "scored positions"]
        assert arms["scored positions"]["loss"] == pytest.approx(arms["all positions"]["loss"], rel=1e-5)
        ratio = arms["all positions"]["step_ms"] / arms["scored positions"]["step_ms"]
        assert arms["scored positions"]["speedup"] == pytest.approx(ratio) and arms["all positions"]["speedup"] == 1
