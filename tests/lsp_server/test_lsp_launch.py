"""The command line: `--check`, transports, and refusing bad options with a clear message."""

import asyncio
import json
import socket
import subprocess
import sys

import pytest
from lsp_helpers import server_command, server_env

from dllm_complete.lsp_server.launch import parser


def run(*args: str, fake: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(server_command(*args), env=server_env(fake), capture_output=True, text=True,
                          timeout=timeout)


def test_options():
    args = parser().parse_args(["--ws", "--port", "9000", "--host", "0.0.0.0", "--model", "/m", "--log-file", "x"])
    assert (args.ws, args.port, args.host, args.model, args.log_file) == (True, 9000, "0.0.0.0", "/m", "x")
    with pytest.raises(SystemExit):
        parser().parse_args(["--ws", "--tcp"])


def test_check_with_the_fake_engine():
    out = run("--check")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("dllm-lsp ") and "fake:default" in lines[1]
    assert lines[2].startswith("device: cpu") and lines[3].startswith("warm-up: ")


def test_check_with_a_model_that_does_not_load():
    out = run("--check", "--model", "/no/such/dir")
    assert out.returncode == 1 and "failed to load" in out.stdout and "/no/such/dir" in out.stdout


def test_bad_port_is_refused():
    out = run("--tcp", "--port", "0")
    assert out.returncode == 2 and "--port" in out.stderr


def test_ws_without_websockets_says_what_to_install():
    try:
        import websockets  # noqa: F401
        pytest.skip("websockets is installed; the WebSocket transport is tested below")
    except ImportError:
        out = run("--ws", "--port", "8765")
        assert out.returncode == 2 and "websockets" in out.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frame(obj: dict) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


async def _tcp_initialize(port: int) -> dict:
    for _ in range(100):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.1)
    writer.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                         "params": {"processId": None, "rootUri": None, "capabilities": {}}}))
    length = None
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif line == b"\r\n" and length:
            msg = json.loads(await reader.readexactly(length))
            writer.close()
            return msg


def test_tcp_transport():
    port = _free_port()
    proc = subprocess.Popen(server_command("--tcp", "--port", str(port)), env=server_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        msg = asyncio.run(_tcp_initialize(port))
        assert msg["id"] == 1 and "inlineCompletionProvider" in msg["result"]["capabilities"]
    finally:
        proc.kill()
        proc.wait()


def test_stdout_carries_nothing_but_protocol():
    """Logs go to stderr; a stray print to stdout inside the server must not reach the channel."""
    code = ("import sys; sys.argv=['dllm-lsp']; from lsp_server import launch; ch = launch.protect_stdout(); "
            "print('stray'); import os; os.write(1, b'c-level\\n'); ch.write(b'PROTO'); ch.flush()")
    out = subprocess.run([sys.executable, "-c", code], env=server_env(), capture_output=True, timeout=30)
    assert out.stdout == b"PROTO" and b"stray" in out.stderr and b"c-level" in out.stderr


async def _ws_initialize(port: int) -> dict:
    from websockets.asyncio.client import connect

    for _ in range(100):
        try:
            ws = await connect(f"ws://127.0.0.1:{port}")
            break
        except OSError:
            await asyncio.sleep(0.1)
    async with ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                  "params": {"processId": None, "rootUri": None, "capabilities": {}}}))
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_websocket_transport():
    pytest.importorskip("websockets", reason="--ws needs the websockets package (pygls[ws])")
    port = _free_port()
    proc = subprocess.Popen(server_command("--ws", "--port", str(port)), env=server_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        msg = asyncio.run(_ws_initialize(port))
        assert msg["id"] == 1 and "inlineCompletionProvider" in msg["result"]["capabilities"]
    finally:
        proc.kill()
        proc.wait()
