"""Shared helpers for the LSP tests: how to start the server under test, and a raw stdio client."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
FAKE_ENGINE = f"{HERE / 'fake_engine.py'}:load"


def server_command(*args: str) -> list[str]:
    log = os.environ.get("DLLM_LSP_TEST_LOG")  # set it to keep the server's JSON log in a file
    return [sys.executable, "-m", "dllm_complete.lsp_server", *args, *(["--log-file", log] if log else [])]


def server_env(fake: bool = True, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("DLLM_LSP_ENGINE", None)
    if fake:
        env["DLLM_LSP_ENGINE"] = FAKE_ENGINE
    else:  # a tiny model gains nothing from threads, and they thrash on a busy CI machine
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


@pytest.fixture
def fake_engine_env(monkeypatch):
    monkeypatch.setenv("DLLM_LSP_ENGINE", FAKE_ENGINE)


# --- building LSP params -------------------------------------------------------------------------

from lsprotocol import types as lsp  # noqa: E402


def open_params(uri: str, text: str, language: str = "python", version: int = 1):
    return lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=uri, language_id=language, version=version, text=text))


def change_params(uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str):
    rng = lsp.Range(start=lsp.Position(*start), end=lsp.Position(*end))
    return lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangePartial(range=rng, text=text)])


def inline_params(uri: str, line: int, character: int, invoked: bool = False, selected=None):
    kind = lsp.InlineCompletionTriggerKind.Invoked if invoked else lsp.InlineCompletionTriggerKind.Automatic
    info = None
    if selected is not None:
        (sl, sc), (el, ec), text = selected
        info = lsp.SelectedCompletionInfo(
            range=lsp.Range(start=lsp.Position(sl, sc), end=lsp.Position(el, ec)), text=text)
    return lsp.InlineCompletionParams(
        context=lsp.InlineCompletionContext(trigger_kind=kind, selected_completion_info=info),
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line, character))


def completion_params(uri: str, line: int, character: int):
    return lsp.CompletionParams(text_document=lsp.TextDocumentIdentifier(uri=uri),
                                position=lsp.Position(line, character),
                                context=lsp.CompletionContext(trigger_kind=lsp.CompletionTriggerKind.Invoked))


def rng(item) -> tuple:
    r = item.range if hasattr(item, "range") else item.text_edit.range
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


# --- a raw JSON-RPC client (stdio, TCP or WebSocket), for exact control of what is sent ------------

import asyncio  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402

from bench.common import read_lsp_message  # noqa: E402

WAIT_S = 60.0  # bound on every wait for the server: generous, for a loaded 2-core machine
TRANSPORTS = ("stdio", "tcp", "ws")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RawClient:
    """Writes arbitrary bytes to the server and reads framed messages back (stdio or TCP)."""

    def __init__(self, proc: asyncio.subprocess.Process, reader=None, writer=None) -> None:
        self.proc = proc
        self.reader = reader or proc.stdout
        self.writer = writer or proc.stdin

    @classmethod
    async def start(cls, *args: str, fake: bool = True, transport: str = "stdio", stderr=None) -> "RawClient":
        """Start the server on `transport` and connect to it; `stderr`: a file to keep its stderr in."""
        port = free_port() if transport != "stdio" else None
        where = [f"--{transport}", "--port", str(port)] if port else []
        pipe = asyncio.subprocess.PIPE if transport == "stdio" else asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(
            *server_command(*where, *args), env=server_env(fake), stdin=pipe, stdout=pipe,
            stderr=stderr or asyncio.subprocess.DEVNULL)
        if transport == "stdio":
            return cls(proc)
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:  # until the server listens
            try:
                if transport == "ws":
                    return await WsClient.connect(proc, port)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                return cls(proc, reader, writer)
            except OSError:
                if proc.returncode is not None or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def send_body(self, body: bytes) -> None:
        self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send(self, message: dict) -> None:
        self.send_body(json.dumps(message).encode())

    def notify(self, method: str, params=None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def _read(self) -> dict:
        return await read_lsp_message(self.reader)

    async def recv(self, timeout: float = WAIT_S) -> dict:
        return await asyncio.wait_for(self._read(), timeout)

    async def response(self, msg_id, timeout: float = WAIT_S) -> dict:
        """The next response with this id (notifications and other messages are skipped)."""
        while True:
            msg = await self.recv(timeout)
            if "method" not in msg and msg.get("id") == msg_id:
                return msg

    async def request(self, msg_id, method: str, params) -> dict:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await self.response(msg_id)

    async def wait(self, timeout: float = WAIT_S) -> int:
        """The server's exit status, once it has exited by itself (killed after `timeout`)."""
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"the server did not exit within {timeout} s") from None

    async def _hang_up(self) -> None:
        self.writer.close()

    async def close(self) -> int:
        """Hang up (close stdin or the connection) and wait for the server to exit."""
        if self.proc.returncode is None:
            try:
                await self._hang_up()
                await asyncio.wait_for(self.proc.wait(), WAIT_S)
            except (asyncio.TimeoutError, BrokenPipeError, ConnectionResetError):
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode


class WsClient(RawClient):
    """The same over a WebSocket: one JSON-RPC message per WebSocket message, sent in order."""

    def __init__(self, proc: asyncio.subprocess.Process, ws) -> None:
        super().__init__(proc, None, None)
        self.ws = ws
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._sender = asyncio.ensure_future(self._send_all())

    @classmethod
    async def connect(cls, proc: asyncio.subprocess.Process, port: int) -> "WsClient":
        from websockets.asyncio.client import connect

        return cls(proc, await connect(f"ws://127.0.0.1:{port}"))

    async def _send_all(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            body = await self._outbox.get()
            try:
                await self.ws.send(body.decode())
            except ConnectionClosed:
                return

    def send_body(self, body: bytes) -> None:
        self._outbox.put_nowait(body)

    async def _read(self) -> dict:
        from websockets.exceptions import ConnectionClosed

        try:
            return json.loads(await self.ws.recv())
        except ConnectionClosed:
            raise EOFError("the server closed the connection") from None

    async def _hang_up(self) -> None:
        self._sender.cancel()
        await self.ws.close()


async def eventually(check, timeout: float = WAIT_S, interval: float = 0.05):
    """Poll `check()` (sync or async) until it returns something truthy; fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def stderr_problems(text: str) -> list[str]:
    """Lines of a server's stderr that a clean run never has: tracebacks, fatal errors, aborts,
    and JSON log lines at error level or above."""
    bad = []
    for line in text.splitlines():
        if any(mark in line for mark in ("Traceback", "Fatal Python error", "terminate called")):
            bad.append(line)
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and str(record.get("level", "")).lower() in ("error", "critical", "exception"):
            bad.append(line)
    return bad


def log_events(text: str, event: str) -> list[dict]:
    """The JSON log records of one event in a server's stderr."""
    out = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            out.append(record)
    return out


# --- a server ready to serve ---------------------------------------------------------------------

INIT = {"processId": None, "rootUri": None, "capabilities": {},
        "initializationOptions": {"dllm": {"debounceMs": 0}}}
_stats_ids = itertools.count(1_000_000)  # apart from the ids a test numbers itself


async def stats(client: RawClient, key: str):
    """One section of the server's `dllm/stats`."""
    return (await client.request(next(_stats_ids), "dllm/stats", {}))["result"][key]


async def start_ready(transport: str, tmp_path: Path, *args: str, fake: bool = True) -> tuple[RawClient, Path]:
    """A server on `transport`, initialized, with its model loaded; and the file its stderr goes to."""
    log = tmp_path / f"{transport}.stderr"
    with log.open("wb") as stderr:
        client = await RawClient.start(*args, fake=fake, transport=transport, stderr=stderr)
    assert "capabilities" in (await client.request(1, "initialize", INIT))["result"]
    client.notify("initialized", {})
    await eventually(lambda: stats(client, "model"))
    return client, log

