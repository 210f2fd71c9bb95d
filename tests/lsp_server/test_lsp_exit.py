"""The processes end cleanly: `dllm-lsp` on SIGINT / SIGTERM and on `shutdown` + `exit` over every
transport, and `dllm-complete --batch -` on a signal. Clean means the documented exit status, the
model thread joined, one `stop` log line, and no traceback, abort or error-level log on stderr.

Every test starts a real server process; every wait is bounded (lsp_helpers.WAIT_S), none is timed.
"""

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lsp_helpers import (INIT, TRANSPORTS, WAIT_S, RawClient, eventually, log_events, server_env, start_ready,
                         stats, stderr_problems)

from dllm_complete.lsp_server.scheduler import Scheduler, Superseded

pytestmark = pytest.mark.asyncio
URI = "file:///exit/a.py"
SLOW = "#fake:slow\nx = "  # the fake engine takes 3 s, polling the cancel token every 10 ms
_ids = itertools.count(1000)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    testing = pytest.importorskip("dllm_complete.dllm.testing")
    return str(testing.tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt"))


def inline(msg_id: int, line: int, character: int) -> dict:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion",
            "params": {"textDocument": {"uri": URI}, "position": {"line": line, "character": character},
                       "context": {"triggerKind": 2}}}


def open_document(client: RawClient, text: str) -> None:
    client.notify("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1,
                                                            "text": text}})


async def slow_request_in_flight(client: RawClient, msg_id: int) -> None:
    """Send a request that keeps the model thread busy and wait until it reached the scheduler."""
    open_document(client, SLOW)
    client.send(inline(msg_id, 1, 4))
    await eventually(lambda: _submitted(client))


async def _submitted(client: RawClient) -> bool:
    return (await stats(client, "scheduler"))["submitted"] >= 1


def assert_clean_stop(log: Path, reason: str, exit_code: int) -> None:
    text = log.read_text(errors="replace")
    assert not stderr_problems(text), text
    stops = log_events(text, "stop")
    assert len(stops) == 1, text
    assert stops[0]["reason"] == reason and stops[0]["model_thread"] == "joined"
    assert stops[0]["exit_code"] == exit_code


async def test_closing_the_scheduler_stops_the_job_drops_the_queue_and_joins():
    sched, started = Scheduler(), threading.Event()

    def job(token):
        started.set()
        end = time.monotonic() + WAIT_S  # a bound, never reached when close() works
        while time.monotonic() < end:
            token.check()
            time.sleep(0.005)
        return "not stopped"

    running = asyncio.ensure_future(sched.run("doc", job))
    queued = asyncio.ensure_future(sched.call(lambda: "ran after close"))
    assert await asyncio.to_thread(started.wait, WAIT_S)
    assert await asyncio.to_thread(sched.close, WAIT_S)  # joined
    with pytest.raises(Superseded):
        await running
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert sched.thread.submit(print).cancelled()
    with pytest.raises(Superseded):
        await sched.run("doc", job)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_stop_signal_ends_the_server_cleanly(transport, sig, tmp_path):
    if transport == "ws":
        pytest.importorskip("websockets")
    client, log = await start_ready(transport, tmp_path)
    await slow_request_in_flight(client, 10)
    client.proc.send_signal(sig)
    assert await client.wait() == 0
    assert_clean_stop(log, sig.name, 0)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_shutdown_and_exit_after_a_cancelled_request(transport, tmp_path):
    if transport == "ws":
        pytest.importorskip("websockets")
    client, log = await start_ready(transport, tmp_path)
    open_document(client, "x = ")
    client.send(inline(10, 0, 4))
    assert (await client.response(10))["result"]["items"][0]["insertText"] == "value + 1"
    await slow_request_in_flight(client, 11)
    client.notify("$/cancelRequest", {"id": 11})
    assert (await client.response(11))["error"]["code"] == -32800  # RequestCancelled
    assert (await client.request(12, "shutdown", None))["result"] is None
    client.notify("exit")
    assert await client.wait() == 0  # by itself: stdin or the connection is still open
    assert_clean_stop(log, "exit", 0)


async def test_the_server_ends_when_the_editor_that_started_it_is_gone(tmp_path):
    # LSP: "if the parent process is not alive then the server should exit"; over TCP nothing else tells it
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        log = tmp_path / "tcp.stderr"
        with log.open("wb") as stderr:
            client = await RawClient.start(fake=True, transport="tcp", stderr=stderr)
        init = {**INIT, "processId": editor.pid}
        assert "capabilities" in (await client.request(1, "initialize", init))["result"]
        client.notify("initialized", {})
        editor.kill()
        editor.wait()
        assert await client.wait() == 1  # no shutdown came first
        assert_clean_stop(log, "parent-exited", 1)
    finally:
        editor.kill()


async def test_shutdown_with_a_request_running_then_exit(tmp_path):
    client, log = await start_ready("stdio", tmp_path)
    await slow_request_in_flight(client, 10)
    assert (await client.request(11, "shutdown", None))["result"] is None
    client.notify("exit")
    assert await client.wait() == 0
    assert_clean_stop(log, "exit", 0)


async def test_the_real_engine_shuts_down_over_tcp(tiny, tmp_path):
    client, log = await start_ready("tcp", tmp_path, "--model", tiny, fake=False)
    open_document(client, "def add(a, b):\n    return \n")
    client.send(inline(10, 1, 11))
    assert "result" in await client.response(10)
    client.send(inline(11, 1, 11))
    client.notify("$/cancelRequest", {"id": 11})
    await client.response(11)  # cancelled, or answered if it was already done
    assert (await client.request(12, "shutdown", None))["result"] is None
    client.notify("exit")
    assert await client.wait() == 0
    assert_clean_stop(log, "exit", 0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_dllm_complete_batch_on_stdin_stops_on_a_signal(sig, tiny):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dllm_complete.lsp_server.cli", "--batch", "-", "--model", tiny, "--max-tokens", "4",
        env=server_env(fake=False), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b'{"id": 1, "prefix": "x = ", "suffix": "\\n", "language": "python"}\n')
    line = await asyncio.wait_for(proc.stdout.readline(), 2 * WAIT_S)  # loads torch and the model first
    assert json.loads(line)["id"] == 1  # answered, and now blocked reading the next line
    proc.send_signal(sig)  # stdin stays open: the signal alone ends it
    try:
        await asyncio.wait_for(proc.wait(), WAIT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 128 + sig
    assert (await proc.stderr.read()).decode().strip() == f"dllm-complete: interrupted ({sig.name})"
    assert await proc.stdout.read() == b""
