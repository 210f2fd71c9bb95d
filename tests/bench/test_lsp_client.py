"""bench/lsp_client.py against a fake JSON-RPC server on a localhost port (no model, no subprocess)."""

import asyncio
import json
from types import SimpleNamespace

import pytest

from bench import lsp_client
from bench.common import read_lsp_message


def test_utf16_position():
    assert lsp_client.utf16_position("a\nbé😀") == {"line": 1, "character": 4}
    assert lsp_client.utf16_position("") == {"line": 0, "character": 0}


async def fake_server(reader, writer, seen: list, done: asyncio.Event) -> None:
    """Answers each request after a server request and a notification; `dllm/stats` has no model at first."""
    def send(msg):
        body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    polls = 0
    while True:
        try:
            msg = await read_lsp_message(reader)
        except EOFError:
            done.set()
            return
        seen.append(msg)
        if "id" not in msg or "method" not in msg:
            continue  # a notification, or the client's answer to our request
        send({"id": f"srv-{msg['id']}", "method": "client/registerCapability", "params": {"registrations": []}})
        send({"method": "window/logMessage", "params": {"type": 3, "message": "hi"}})
        if msg["method"] == "dllm/stats":
            polls += 1
            send({"id": msg["id"], "result": {"model": "tiny" if polls > 1 else None}})
        elif msg["method"] == "boom":
            send({"id": msg["id"], "error": {"code": -32603, "message": "no"}})
        else:
            send({"id": msg["id"], "result": {"echo": msg["params"]}})
        await writer.drain()


def test_conn_over_tcp():
    async def main():
        seen: list = []
        done = asyncio.Event()
        server = await asyncio.start_server(lambda r, w: fake_server(r, w, seen, done), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = await lsp_client.connect("tcp", SimpleNamespace(returncode=None), port, 5)
        stats = await conn.initialize({"dllm": {"debounceMs": 0}}, 5, 5)
        assert stats == {"model": "tiny"}
        assert (await conn.request("echo", {"x": 1}, 5))["result"] == {"echo": {"x": 1}}
        with pytest.raises(RuntimeError, match="boom failed"):
            await conn.call("boom", None, 5)
        await conn.close()
        await asyncio.wait_for(done.wait(), 5)  # the server has read all the client sent
        server.close()
        return seen

    seen = asyncio.run(main())
    methods = [m.get("method") for m in seen if "method" in m]
    assert methods == ["initialize", "initialized", "dllm/stats", "dllm/stats", "echo", "boom"]
    assert seen[0]["params"]["initializationOptions"] == {"dllm": {"debounceMs": 0}}
    answers = [m for m in seen if "method" not in m]  # every server request was answered with null
    assert len(answers) == 5 and all(a["result"] is None and a["id"].startswith("srv-") for a in answers)
