"""The model thread: newest request per key wins, cancellation reaches running work, the loop stays free."""

import asyncio
import threading
import time

import pytest

from dllm_complete.lsp_server.scheduler import Scheduler, Superseded

pytestmark = pytest.mark.asyncio


async def until(event: threading.Event) -> None:
    """Wait, without blocking the loop, for the model thread to set `event` (bounded by the test timeout)."""
    while not event.is_set():
        await asyncio.sleep(0.005)


def slow(seconds: float, log: list, name: str, started: threading.Event | None = None):
    def fn(token):
        log.append(f"start {name}")
        if started is not None:
            started.set()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            token.check()
            time.sleep(0.005)
        log.append(f"done {name}")
        return name
    return fn


async def test_newer_request_stops_the_running_one():
    sched, log = Scheduler(), []
    first = asyncio.ensure_future(sched.run("doc", slow(5, log, "a", started := threading.Event())))
    await until(started)
    assert await sched.run("doc", slow(0.01, log, "b")) == "b"
    with pytest.raises(Superseded):
        await first
    assert "done a" not in log and sched.counters.stopped == 1 and sched.counters.served == 1
    sched.close()


async def test_queued_request_that_is_superseded_never_reaches_the_model():
    sched, log = Scheduler(), []
    gate = threading.Event()
    blocker = asyncio.ensure_future(sched.call(gate.wait, 5))
    a = asyncio.ensure_future(sched.run("doc", slow(0, log, "a")))
    await asyncio.sleep(0.01)
    b = asyncio.ensure_future(sched.run("doc", slow(0, log, "b")))
    await asyncio.sleep(0.01)
    gate.set()
    await blocker
    assert await b == "b"
    with pytest.raises(Superseded):
        await a
    assert log == ["start b", "done b"] and sched.counters.skipped == 1
    sched.close()


async def test_asyncio_cancellation_cancels_the_token():
    sched, log = Scheduler(), []
    task = asyncio.ensure_future(sched.run("doc", slow(5, log, "a", started := threading.Event())))
    await until(started)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await sched.call(lambda: None)  # the model thread is free again, quickly
    assert log == ["start a"]
    sched.close()


async def test_event_loop_is_not_blocked_while_the_model_runs():
    sched, ticked = Scheduler(), threading.Event()
    task = asyncio.ensure_future(sched.call(ticked.wait, 60))  # the model thread waits for the loop to tick
    for _ in range(5):
        await asyncio.sleep(0.01)
    ticked.set()
    assert await task is True  # False: the loop was held for the 60 s wait
    sched.close()


async def test_different_documents_do_not_supersede_each_other():
    sched, log = Scheduler(), []
    a = asyncio.ensure_future(sched.run("a", slow(0.02, log, "a")))
    b = asyncio.ensure_future(sched.run("b", slow(0.02, log, "b")))
    assert await asyncio.gather(a, b) == ["a", "b"]
    sched.close()


async def test_debounce_lets_only_the_last_of_a_burst_run():
    sched, log = Scheduler(), []
    tasks = [asyncio.ensure_future(sched.run("doc", slow(0, log, str(i)), debounce_s=0.05)) for i in range(5)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[-1] == "4" and all(isinstance(r, Superseded) for r in results[:-1])
    assert log == ["start 4", "done 4"]
    sched.close()


async def test_pause_refuses_and_stops_work_and_errors_propagate():
    sched, log = Scheduler(), []
    task = asyncio.ensure_future(sched.run("doc", slow(5, log, "a", started := threading.Event())))
    await until(started)
    sched.pause(True)
    with pytest.raises(Superseded):
        await task
    with pytest.raises(Superseded):
        await sched.run("doc", slow(0, log, "b"))
    sched.pause(False)

    def boom(token):
        raise ValueError("boom")
    with pytest.raises(ValueError):
        await sched.run("doc", boom)
    assert sched.counters.failed == 1
    sched.close()
