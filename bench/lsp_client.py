"""The bench scripts' LSP client: start `python -m dllm_complete.lsp_server` and speak JSON-RPC to it.

asyncio throughout; stdio or TCP (Content-Length frames, `common.read_lsp_message`) or a WebSocket (one
message per WebSocket message). Server requests are answered with null, notifications skipped, every wait
bounded. Used by bench/latency.py and bench/pressure.py (stdio) and bench/shutdown.py (all three
transports).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time

from . import common

TRANSPORTS = ("stdio", "tcp", "ws")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utf16_position(prefix: str) -> dict:
    """The LSP position (line, UTF-16 column) of the end of `prefix`."""
    last = prefix[prefix.rfind("\n") + 1:]
    return {"line": prefix.count("\n"), "character": len(last.encode("utf-16-le")) // 2}


async def spawn(transport: str = "stdio", model: str | None = None, *extra: str,
                stderr=asyncio.subprocess.DEVNULL,
                env: dict | None = None) -> tuple[asyncio.subprocess.Process, int | None]:
    """Start a server on `transport` (tcp and ws on a free localhost port), in `env` (default: ours);
    (process, port or None)."""
    port = free_port() if transport != "stdio" else None
    cmd = [sys.executable, "-m", "dllm_complete.lsp_server", *([f"--{transport}", "--port", str(port)] if port else []),
           *(["--model", model] if model else []), *extra]
    pipe = asyncio.subprocess.PIPE if transport == "stdio" else asyncio.subprocess.DEVNULL
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=common.REPO_ROOT, stdin=pipe, stdout=pipe, stderr=stderr,
                                                env=env)
    return proc, port


class Conn:
    """JSON-RPC to the server: Content-Length frames over a stream pair, or one message per WebSocket
    message."""

    def __init__(self, reader=None, writer=None, ws=None) -> None:
        self.reader, self.writer, self.ws = reader, writer, ws
        self.ids = iter(range(1, 1 << 30))

    async def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        if self.ws is not None:
            await self.ws.send(body.decode())
        else:
            self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await self.writer.drain()

    async def notify(self, method: str, params) -> None:
        await self.send({"method": method, "params": params})

    async def read(self) -> dict:
        """The next message, whatever it is."""
        if self.ws is not None:
            return json.loads(await self.ws.recv())
        return await common.read_lsp_message(self.reader)

    async def response(self, msg_id: int, timeout: float) -> dict:
        """The response to `msg_id`; server requests are answered with null, notifications skipped."""
        async def wait() -> dict:
            while True:
                msg = await self.read()
                if "method" in msg:
                    if "id" in msg:
                        await self.send({"id": msg["id"], "result": None})
                elif msg.get("id") == msg_id:
                    return msg
        return await asyncio.wait_for(wait(), timeout)

    async def request(self, method: str, params, timeout: float) -> dict:
        """Send a request and return its whole response message (with "result" or "error")."""
        msg_id = next(self.ids)
        await self.send({"id": msg_id, "method": method, "params": params})
        return await self.response(msg_id, timeout)

    async def call(self, method: str, params, timeout: float):
        """A request's result; RuntimeError if the server answered with an error."""
        msg = await self.request(method, params, timeout)
        if "error" in msg:
            raise RuntimeError(f"{method} failed: {msg['error']}")
        return msg.get("result")

    async def initialize(self, options: dict, load_timeout: float, request_timeout: float,
                         wait: bool = True) -> dict | None:
        """initialize (with these initializationOptions) + initialized, then (`wait`) poll `dllm/stats`
        until the model is loaded; those stats."""
        await self.call("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {},
                                       "initializationOptions": options}, load_timeout)
        await self.notify("initialized", {})
        if not wait:
            return None
        deadline = time.monotonic() + load_timeout
        while True:
            stats = await self.call("dllm/stats", {}, request_timeout)
            if stats.get("model_error"):
                raise RuntimeError(f"the model did not load: {stats['model_error']}")
            if stats.get("model"):
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError("the model did not load in time")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        try:
            if self.ws is not None:
                await asyncio.wait_for(self.ws.close(), 10)
            elif self.writer is not None:
                self.writer.close()
        except (OSError, asyncio.TimeoutError):
            pass


async def connect(transport: str, proc: asyncio.subprocess.Process, port: int | None, timeout: float) -> Conn:
    """A connection to a spawned server: its pipes, or (retried until it listens, or `timeout`) its port."""
    if transport == "stdio":
        return Conn(proc.stdout, proc.stdin)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if transport == "ws":
                from websockets.asyncio.client import connect as ws_connect

                return Conn(ws=await ws_connect(f"ws://127.0.0.1:{port}", max_size=None))
            return Conn(*await asyncio.open_connection("127.0.0.1", port))
        except OSError:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def stop(conn: Conn, proc: asyncio.subprocess.Process, timeout: float = 30.0) -> None:
    """`shutdown` + `exit` and wait for the process; kill it where that fails."""
    try:
        await conn.call("shutdown", None, timeout)
        await conn.notify("exit", None)
        await asyncio.wait_for(proc.wait(), timeout)
    except Exception:  # noqa: BLE001 - whatever went wrong, the process must end
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    await conn.close()

