"""Batched infills (`dllm.batch.Batcher`) against their slow twin, the engine one infill at a time."""

import threading
from concurrent.futures import wait
from pathlib import Path

import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm.batch import Batcher, Job, Serial, Slab
from dllm_complete.dllm.contract import Cancelled, CancelToken
from dllm_complete.dllm.engine import Need
from dllm_complete.dllm.forward import EagerForward
from dllm_complete.grammars import constraint_for

SOURCE = (Path(__file__).parents[2] / "examples" / "stack.py").read_text()


def holes() -> list[tuple[str, str, str]]:
    """(prefix, suffix, mode) at the middle of every other line of a real file, both modes."""
    lines = SOURCE.split("\n")
    out = []
    for i in range(3, len(lines) - 1, 2):
        cut = len(lines[i]) // 2
        out.append(("\n".join(lines[:i] + [lines[i][:cut]]), "\n".join([lines[i][cut:]] + lines[i + 1:]),
                    "single" if i % 4 else "multi"))
    return out


@pytest.fixture(scope="module")
def exact():
    """The trained default model in float32: padded rows then give the same numbers as alone."""
    return dllm.load(dtype="float32")


def alone(engine, cases, **options):
    return [engine.infill(p, s, mode=m, constraint=constraint_for("python"), **options).text for p, s, m in cases]


def submit(batcher, cases) -> list:
    """Each case's future, with the syntax constraint as `alone` has it."""
    return [batcher.submit(p, s, mode=m, constraint=constraint_for("python")) for p, s, m in cases]


def texts(futures) -> list[str]:
    return [f.result(timeout=120).text for f in futures]


def test_batched_completions_are_the_one_at_a_time_ones(exact):
    cases = holes()
    assert len(cases) >= 8
    rounds = []
    batcher = Batcher(exact, max_batch=4, observe=lambda n, forwards: rounds.append(n))
    try:
        got = texts(submit(batcher, cases))
    finally:
        batcher.close()
    assert got == alone(exact, cases)
    assert max(rounds) == 4 and any(n < 4 for n in rounds)  # full batches, and rows leaving between steps
    assert any(text for text in got)


def test_infills_join_a_running_batch(exact):
    cases = holes()
    started = threading.Event()
    batcher = Batcher(exact, max_batch=8, observe=lambda n, forwards: started.set())
    try:
        first = submit(batcher, cases[:3])
        assert started.wait(60)
        later = submit(batcher, cases[3:])
        got = texts(first + later)
    finally:
        batcher.close()
    assert got == alone(exact, cases)


def test_a_cancelled_or_failing_infill_ends_alone(exact):
    cases = holes()[:4]
    token = CancelToken()
    token.cancel()
    batcher = Batcher(exact, max_batch=8)
    try:
        futures = submit(batcher, cases)
        cancelled = batcher.submit(*cases[0][:2], mode="multi", cancel=token)
        bad = batcher.submit(*cases[0][:2], mode="auto")
        with pytest.raises(Cancelled):
            cancelled.result(timeout=60)
        with pytest.raises(ValueError, match="mode"):
            bad.result(timeout=60)
        got = texts(futures)
    finally:
        batcher.close()
    assert got == alone(exact, cases)


def test_a_context_beyond_the_models_positions_is_cut_to_fit_beside_the_others(exact):
    cases = holes()[:2]
    huge = "x = 1\n" * 6000  # ~18,000 tokens, more than the model's positions
    batcher = Batcher(exact, max_batch=4)
    try:
        wide = exact.sampler.with_overrides({"context_tokens": 20_000})
        too_long = batcher.submit(huge, "\n", mode="single", sampler=wide)
        futures = submit(batcher, cases)
        stats = too_long.result(timeout=120).stats
        assert stats.context_tokens + stats.canvas < exact.model.cfg.max_seq_len
        got = texts(futures)
    finally:
        batcher.close()
    assert got == alone(exact, cases)


def test_closing_ends_waiting_and_running_infills_cancelled(exact):
    batcher = Batcher(exact, max_batch=1)
    futures = [batcher.submit(p, s, mode="multi") for p, s, _ in holes()[:6]]
    batcher.close()
    wait(futures, timeout=60)
    outcomes = {type(f.exception()).__name__ if f.exception() else "done" for f in futures}
    assert "Cancelled" in outcomes and outcomes <= {"Cancelled", "done"}
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("x = ", "\n")


def test_serial_answers_as_the_engine(exact):
    cases = holes()[:3]
    serial = Serial(exact)
    try:
        got = texts(submit(serial, cases))
    finally:
        serial.close()
    assert got == alone(exact, cases)


def test_padded_rows_see_what_they_would_alone(exact):
    """Full and cached forwards of canvases of different lengths in one slab, against each alone."""
    model = exact.model
    gen = torch.Generator().manual_seed(0)
    canvases = [torch.randint(3, 8000, (1, n), generator=gen) for n in (120, 300, 77)]
    windows = [torch.arange(40, 40 + width) for width in (16, 32, 8)]
    with torch.inference_mode():
        want_full, want_cached, masked = [], [], []
        for canvas, window in zip(canvases, windows):
            forward = EagerForward(model)
            want_full.append(forward.full(canvas, window).clone())
            blank = canvas.clone()
            blank[0, window] = exact.mask_id
            masked.append(blank)
            want_cached.append(forward.cached(blank, window).clone())
        slab = Slab(model, rows=4)
        assert slab.slots([120, 300, 77]) == 320  # on the CPU a forward's slots are bucketed, as alone
        jobs = [Job(None, None, need=Need(True, c, w)) for c, w in zip(canvases, windows)]
        slab.reserve(320)
        jobs = slab.arrange([], jobs)
        got_full = slab.full(jobs)
        for job, blank, window in zip(jobs, masked, windows):
            job.need = Need(False, blank, window)
        jobs = slab.arrange(list(reversed(jobs)), [])
        got_cached = dict(zip(map(id, jobs), slab.cached(jobs)))
    for got, want in zip(got_full, want_full):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    by_length = {int(c.shape[1]): w for c, w in zip(canvases, want_cached)}
    for job in jobs:
        torch.testing.assert_close(got_cached[id(job)], by_length[int(job.need.canvas.shape[1])], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", ["dreamon", "llada"])
def test_published_families_batch_as_they_run_alone(tmp_path, family):
    # DreamOn's canvas changes length between steps (a new full forward), LLaDA reads unshifted rows
    from dllm_complete.dllm.published import published_checkpoint

    engine = dllm.load(str(published_checkpoint(tmp_path / family, family)), dtype="float32")
    cases = holes()[:6]
    batcher = Batcher(engine, max_batch=3)
    try:
        got = texts(submit(batcher, cases))
    finally:
        batcher.close()
    assert got == alone(engine, cases)
