"""Shared helpers for the LSP tests: how to start the server under test, and a raw stdio client."""

from __future__ import annotations

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


# --- a raw JSON-RPC client over stdio, for input no well-behaved client would send -----------------

import asyncio  # noqa: E402
import json  # noqa: E402


class RawClient:
    """Writes arbitrary bytes to the server's stdin and reads framed messages from its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, *args: str, fake: bool = True) -> "RawClient":
        proc = await asyncio.create_subprocess_exec(
            *server_command(*args), env=server_env(fake), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        return cls(proc)

    def send_body(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send(self, message: dict) -> None:
        self.send_body(json.dumps(message).encode())

    async def recv(self, timeout: float = 5.0) -> dict:
        async def read() -> dict:
            length = None
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise EOFError("server closed stdout")
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line in (b"\r\n", b"\n") and length is not None:
                    return json.loads(await self.proc.stdout.readexactly(length))
        return await asyncio.wait_for(read(), timeout)

    async def response(self, msg_id, timeout: float = 5.0) -> dict:
        """The next response with this id (notifications and other messages are skipped)."""
        while True:
            msg = await self.recv(timeout)
            if "method" not in msg and msg.get("id") == msg_id:
                return msg

    async def request(self, msg_id, method: str, params) -> dict:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await self.response(msg_id)

    async def close(self) -> int:
        if self.proc.returncode is None:
            try:
                self.proc.stdin.close()
                await asyncio.wait_for(self.proc.wait(), 5)
            except (asyncio.TimeoutError, BrokenPipeError, ConnectionResetError):
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode


async def eventually(check, timeout: float = 5.0, interval: float = 0.05):
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
