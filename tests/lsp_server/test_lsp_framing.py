"""Broken framing never leaves a server that is alive but deaf: after each bad frame, either the next
good request is answered (the header was only lenient, or the reader resynced), or the process
exits by itself with status 1, one `framing.error` line and its `stop` line, and nothing else wrong
on stderr (no traceback, no abort). First the reader alone (`framing.MessageReader`), then every
case end to end against a real server over stdio (a few over TCP: the same reader).

Waits on the server are bounded by lsp_helpers.WAIT_S; only "exits by itself" has a tighter bound
(EXIT_S), as the point is that it does not linger.
"""

import asyncio
import json
import random
from pathlib import Path

import pytest
from lsp_helpers import RawClient, log_events, stderr_problems

from dllm_complete.lsp_server.framing import DEFAULT_MAX_BYTES, FramingError, MessageReader
from dllm_complete.lsp_server.launch import parser

pytestmark = pytest.mark.asyncio
INIT = {"processId": None, "rootUri": None, "capabilities": {}}
EXIT_S = 15.0  # "exits by itself within a few seconds", on a loaded 2-core machine


def request(msg_id: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "dllm/stats", "params": {}}).encode()


def framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


BAD = request(50)  # the request inside the bad frame
N = len(BAD)
GARBAGE = random.Random(28).randbytes(4096)

# name -> (bytes sent after a good `initialize`, outcome): "answered" means the request inside
# the frame (id 50) is answered, "resynced" that it is skipped, "exit" that the server exits.
# Either way the good requests sent after it (ids 51, 52) are answered unless the server exits.
CASES = {
    "trailing space": (b"Content-Length: %d \r\n\r\n" % N + BAD, "answered"),
    "lower case name": (b"content-length: %d\r\n\r\n" % N + BAD, "answered"),
    "no space after the colon": (b"Content-Length:%d\r\n\r\n" % N + BAD, "answered"),
    "LF line ends": (b"Content-Length: %d\n\n" % N + BAD, "answered"),
    "spaces and tabs around name and value": (b" Content-Length \t:\t %d \r\n\r\n" % N + BAD, "answered"),
    "other headers": (b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: %d\r\n"
                      b"X-Extra: 1\r\n\r\n" % N + BAD, "answered"),
    "blank lines between messages": (b"\r\n\n\r\n" + framed(BAD), "answered"),
    "a non-header line inside a header block": (b"Content-Type: x\r\nnot a header\r\nContent-Length: %d\r\n\r\n"
                                                % N + BAD, "answered"),
    "a header block without Content-Length": (b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + BAD, "resynced"),
    "negative": (b"Content-Length: -5\r\n\r\n" + BAD, "exit"),
    "float": (b"Content-Length: %d.0\r\n\r\n" % N + BAD, "exit"),
    "plus sign": (b"Content-Length: +%d\r\n\r\n" % N + BAD, "exit"),
    "empty value": (b"Content-Length: \r\n\r\n" + BAD, "exit"),
    "not a number": (b"Content-Length: twelve\r\n\r\n" + BAD, "exit"),
    "missing header": (BAD, "exit"),
    "10 bytes short": (b"Content-Length: %d\r\n\r\n" % (N - 10) + BAD, "exit"),
    "40 bytes long": (b"Content-Length: %d\r\n\r\n" % (N + 40) + BAD, "exit"),
    "1 byte long": (b"Content-Length: %d\r\n\r\n" % (N + 1) + BAD, "exit"),  # leaves `ontent-Length: ..`
    "13 bytes long": (b"Content-Length: %d\r\n\r\n" % (N + 13) + BAD, "exit"),  # leaves `h: ..`
    "3,000,000,000": (b"Content-Length: 3000000000\r\n\r\n" + BAD, "exit"),
    "99999999999999": (b"Content-Length: 99999999999999\r\n\r\n" + BAD, "exit"),
    "a 70,000-digit length": (b"Content-Length: " + b"7" * 70_000 + b"\r\n\r\n" + BAD, "exit"),
    "garbage": (GARBAGE, "exit"),
}


# --- the reader alone ------------------------------------------------------------------------------

async def read_all(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> list[bytes]:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    reader, bodies = MessageReader(stream, max_bytes), []
    while (body := await reader.read()) is not None:
        bodies.append(body)
    return bodies


@pytest.mark.parametrize("name", CASES)
async def test_the_reader_alone(name):
    bad, outcome = CASES[name]
    stream = framed(request(1)) + bad + framed(request(51)) + framed(request(52))
    if outcome == "exit":
        with pytest.raises(FramingError):
            await read_all(stream)
        return
    bodies = await read_all(stream)
    expected = [request(1), *([BAD] if outcome == "answered" else []), request(51), request(52)]
    assert bodies == expected


async def test_the_reader_takes_a_body_up_to_the_limit_and_not_beyond():
    assert await read_all(framed(b"x" * 100), max_bytes=100) == [b"x" * 100]
    with pytest.raises(FramingError, match="over the limit"):
        await read_all(framed(b"x" * 101), max_bytes=100)


async def test_the_reader_resyncs_at_the_start_and_ends_cleanly_on_a_cut_stream():
    assert await read_all(b"hello\r\n" + framed(request(1))) == [request(1)]
    assert await read_all(b"noise without a line end" + framed(request(1))) == [request(1)]
    assert await read_all(framed(request(1))[:-3]) == []  # the input ended inside a body
    assert await read_all(b"Content-Length: 5\r\n") == []  # ... inside a header block
    assert await read_all(b"") == []


async def test_the_reader_bounds_noise():
    with pytest.raises(FramingError, match="no Content-Length"):
        await read_all(b"junk\n" * 100, max_bytes=200)
    with pytest.raises(FramingError, match="header block"):
        await read_all(b"X-Header: 1\r\n" * 10_000)


# --- end to end --------------------------------------------------------------------------------

async def start(tmp_path: Path, transport: str = "stdio", *args: str) -> tuple[RawClient, Path]:
    log = tmp_path / "server.stderr"
    with log.open("wb") as stderr:
        client = await RawClient.start(*args, transport=transport, stderr=stderr)
    assert "capabilities" in (await client.request(1, "initialize", INIT))["result"]
    client.notify("initialized", {})
    return client, log


async def exits_cleanly_after_bad_framing(client: RawClient, log: Path) -> None:
    assert await client.wait(EXIT_S) == 1  # the client left no `shutdown`: LSP's exit status
    text = log.read_text(errors="replace")
    problems = stderr_problems(text)  # error-level lines, tracebacks, aborts
    assert len(problems) == 1 and json.loads(problems[0])["event"] == "framing.error", text
    stops = log_events(text, "stop")
    assert len(stops) == 1 and stops[0]["reason"] == "bad-framing" and stops[0]["model_thread"] == "joined", text


async def answered_then_shut_down(client: RawClient, ids: list[int], log: Path) -> None:
    for msg_id in ids:
        assert "scheduler" in (await client.response(msg_id))["result"]
    assert (await client.request(9, "shutdown", None))["result"] is None
    client.notify("exit")
    assert await client.wait() == 0
    assert not stderr_problems(log.read_text(errors="replace"))


@pytest.mark.parametrize("name", CASES)
async def test_after_a_bad_frame_the_server_answers_or_exits(name, tmp_path):
    bad, outcome = CASES[name]
    client, log = await start(tmp_path)
    try:
        client.writer.write(bad + framed(request(51)) + framed(request(52)))
        if outcome == "exit":
            await exits_cleanly_after_bad_framing(client, log)
        else:
            await answered_then_shut_down(client, [50, 51, 52] if outcome == "answered" else [51, 52], log)
    finally:
        await client.close()
    text = log.read_text(errors="replace")
    assert len(log_events(text, "framing.resync")) == (outcome == "resynced") + ("inside a header" in name)


@pytest.mark.parametrize("name", ["lower case name", "a header block without Content-Length", "negative",
                                  "40 bytes long"])
async def test_tcp_reads_with_the_same_reader(name, tmp_path):
    bad, outcome = CASES[name]
    client, log = await start(tmp_path, "tcp")
    try:
        client.writer.write(bad + framed(request(51)) + framed(request(52)))
        if outcome == "exit":
            await exits_cleanly_after_bad_framing(client, log)
        else:
            await answered_then_shut_down(client, [51, 52], log)
    finally:
        await client.close()


async def test_a_message_over_max_message_bytes_ends_the_session(tmp_path):
    client, log = await start(tmp_path, "stdio", "--max-message-bytes", "2000")
    try:
        padded = json.dumps({"jsonrpc": "2.0", "id": 51, "method": "dllm/stats", "params": {"pad": "x" * 1800}})
        assert "result" in await client.request(51, "dllm/stats", {"pad": "x" * 1800})  # under the limit
        client.send_body(padded.encode() + b" " * 300)  # over it
        await exits_cleanly_after_bad_framing(client, log)
    finally:
        await client.close()


async def test_noise_before_the_first_message_is_skipped(tmp_path):
    log = tmp_path / "server.stderr"
    with log.open("wb") as stderr:
        client = await RawClient.start(stderr=stderr)
    try:
        client.writer.write(b"Starting...\r\nsome noise\n")
        assert "capabilities" in (await client.request(1, "initialize", INIT))["result"]
        await answered_then_shut_down(client, [], log)
    finally:
        await client.close()
    assert len(log_events(log.read_text(), "framing.resync")) == 1


async def test_max_message_bytes_is_a_positive_number():
    assert parser().parse_args([]).max_message_bytes == DEFAULT_MAX_BYTES
    assert parser().parse_args(["--max-message-bytes", "1000"]).max_message_bytes == 1000
    for bad in ("0", "-1", "8MiB"):
        with pytest.raises(SystemExit):
            parser().parse_args(["--max-message-bytes", bad])
