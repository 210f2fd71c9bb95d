"""bench/humaneval_infill.py: the published families' protocol (fixed canvas, one token a step, or the
oracle length) on a tiny checkpoint in Dream's layout, and its scoring on a stand-in that knows the answers."""

import json

import pytest

from bench import humaneval, humaneval_infill


def test_fixed_lengths_on_a_published_layout(tmp_path, capsys):
    from dllm_complete.dllm.published import published_checkpoint

    path = published_checkpoint(tmp_path / "dream", "dream")
    humaneval_infill.main(["--model", str(path), "--limit", "2", "--lengths", "4,8", "--workers", "1"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["family"] == "dream" and last["holes"] == 2
    assert [r["length"] for r in last["by_length"]] == [4, 8] and 0 <= last["pass@1"] <= 100


def test_the_protocol_commits_one_token_a_step_on_a_canvas_that_never_grows(tmp_path):
    from dllm_complete import dllm
    from dllm_complete.dllm.published import published_checkpoint

    engine = dllm.load(str(published_checkpoint(tmp_path / "llada", "llada")), dtype="float32")
    out = engine.infill("def add(a, b):\n    return ", "\n", mode="multi", max_tokens=64,
                        sampler=humaneval_infill.protocol(8))
    assert out.stats.canvas == 8 and out.stats.nfe == out.stats.steps
    assert out.stats.steps <= 8


class Knows:
    """A stand-in engine that answers every hole with its canonical middle, recording the canvas it got."""

    class tokenizer:
        encode = staticmethod(lambda text: text.split())

    spec = type("Spec", (), {"kind": "diffusion", "family": "stand-in"})
    info = {"model": "stand-in"}

    def __init__(self):
        self.answers = {(p["prompt"], p["suffix"]): p["canonical_solution"] for p in humaneval.load_split("single-line")}
        self.canvases = []

    def infill(self, prefix, suffix, mode, max_tokens, sampler):
        self.canvases.append((sampler.canvas, len(self.answers[prefix, suffix].split())))
        return type("Out", (), {"text": self.answers[prefix, suffix]})


@pytest.mark.parametrize("oracle", [False, True])
def test_scoring_counts_real_passes(monkeypatch, capsys, oracle):
    from dllm_complete import dllm

    knows = Knows()
    monkeypatch.setattr(dllm, "load", lambda *a, **k: knows)
    humaneval_infill.main(["--model", "x", "--limit", "3", "--workers", "1", "--lengths", "16",
                           *(["--oracle"] if oracle else [])])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["pass@1"] == 100.0 and last["protocol"] == ("oracle" if oracle else "fixed lengths, averaged")
    warm_up, *timed = knows.canvases  # the first call is the untimed warm-up
    assert len(timed) == 3 and all(got == (want if oracle else 16) for got, want in timed)


def test_a_hole_that_fails_is_counted_failed_and_the_run_goes_on(monkeypatch, capsys):
    from dllm_complete import dllm

    knows, calls = Knows(), []

    def flaky(prefix, suffix, mode, max_tokens, sampler):
        calls.append(prefix)
        if len(calls) == 3:  # the second hole (after the warm-up)
            raise RuntimeError("boom")
        return Knows.infill(knows, prefix, suffix, mode, max_tokens, sampler)

    knows.infill = flaky
    monkeypatch.setattr(dllm, "load", lambda *a, **k: knows)
    humaneval_infill.main(["--model", "x", "--limit", "3", "--workers", "1", "--lengths", "16"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["by_length"][0]["errors"] == 1 and abs(last["pass@1"] - 200 / 3) < 1e-9
