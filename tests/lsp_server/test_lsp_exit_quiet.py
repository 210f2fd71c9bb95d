"""Leaving with requests in flight is quiet: answers that can no longer be delivered (to cancelled
requests after `exit`, or to a client that stopped reading) are dropped, with one log line at most,
never one "Error sending data" line (and traceback) per answer, as pygls would write.

Each test starts a real server (fake engine) and keeps its stderr in a file, whose lines it counts.
Waits are bounded by lsp_helpers.WAIT_S.
"""

import asyncio
import itertools
import json
from pathlib import Path

import pytest
from lsp_helpers import RawClient, eventually, log_events, start_ready, stats, stderr_problems

pytestmark = pytest.mark.asyncio
DOCUMENTS = 4
SLOW = "#fake:delay=3000\nx = "  # 3 s per request, polling the cancel token every 10 ms
# the lines a clean run writes: start, listening (TCP), initialize, model.loaded, shutdown, stop,
# transport.closed, and at most one `completion` line per request
QUIET = 7
_ids = itertools.count(1000)


async def requests_in_flight(client: RawClient) -> int:
    """Invoked requests on several documents, all waiting on the model thread or running; their count."""
    sent = 0
    for d in range(DOCUMENTS):
        uri = f"file:///quiet/{d}.py"
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                "text": SLOW}})
        for method in ("textDocument/inlineCompletion", "textDocument/completion"):
            client.send({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": {
                "textDocument": {"uri": uri}, "position": {"line": 1, "character": 4}, "context": {"triggerKind": 1}}})
            sent += 1
    await eventually(lambda: _submitted(client))
    return sent


async def _submitted(client: RawClient) -> bool:
    return (await stats(client, "scheduler"))["submitted"] >= 1


def assert_quiet(log: Path, requests: int, reason: str, exit_code: int) -> str:
    text = log.read_text(errors="replace")
    lines = text.splitlines()
    assert not stderr_problems(text), text
    assert "Error sending data" not in text and "Traceback" not in text, text
    assert len(lines) <= QUIET + requests, text
    assert all(isinstance(json.loads(line), dict) for line in lines), text  # only our JSON log lines
    stops = log_events(text, "stop")
    assert len(stops) == 1 and stops[0]["reason"] == reason and stops[0]["exit_code"] == exit_code, text
    return text


@pytest.mark.parametrize("shutdown", [False, True], ids=["exit", "shutdown+exit"])
@pytest.mark.parametrize("transport", ["stdio", "tcp"])
async def test_exit_with_requests_in_flight_is_quiet(transport, shutdown, tmp_path):
    client, log = await start_ready(transport, tmp_path)
    try:
        requests = await requests_in_flight(client)
        if shutdown:
            client.send({"jsonrpc": "2.0", "id": 9, "method": "shutdown"})
        client.notify("exit")
        assert await client.wait() == (0 if shutdown else 1)
    finally:
        await client.close()
    assert_quiet(log, requests, "exit", 0 if shutdown else 1)


async def test_a_client_that_stops_reading_ends_the_session_quietly(tmp_path):
    client, log = await start_ready("stdio", tmp_path)
    try:
        requests = await requests_in_flight(client)
        client.proc._transport.get_pipe_transport(1).close()  # we stop reading: the server's writes fail
        for _ in range(200):  # each answer would be one more failed write
            client.send({"jsonrpc": "2.0", "id": next(_ids), "method": "dllm/stats", "params": {}})
        assert await client.wait() == 1  # by itself, stdin still open: no `shutdown`, so 1
    finally:
        await client.close()
    text = assert_quiet(log, requests, "output-closed", 1)
    assert len(log_events(text, "transport.closed")) == 1


async def test_a_client_that_stops_reading_then_exits(tmp_path):
    client, log = await start_ready("stdio", tmp_path)
    try:
        requests = await requests_in_flight(client)
        client.proc._transport.get_pipe_transport(1).close()
        client.send({"jsonrpc": "2.0", "id": 9, "method": "shutdown"})  # its answer fails to go out
        client.notify("exit")
        await asyncio.wait_for(client.proc.wait(), 60)
    finally:
        await client.close()
    text = log.read_text(errors="replace")
    assert client.proc.returncode in (0, 1) and not stderr_problems(text), text  # output-closed or exit
    assert len(text.splitlines()) <= QUIET + requests and "Error sending data" not in text, text
