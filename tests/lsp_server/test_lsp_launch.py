"""The command line: `--check`, transports, and refusing bad options with a clear message."""

import socket
import subprocess
import sys

import pytest
from lsp_helpers import RawClient, server_command, server_env

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


@pytest.mark.parametrize("options, words", [(["--port", "2088"], "need --tcp or --ws"),
                                            (["--allow-origin", "http://x"], "needs --ws")])
def test_network_options_without_a_network_transport_are_refused(options, words):
    out = run(*options)  # they were ignored: the server ran on stdio
    assert out.returncode == 2 and words in out.stderr


@pytest.mark.parametrize("transport", ["--tcp", "--ws"])
def test_a_port_in_use_is_one_line_and_exit_1(transport):
    if transport == "--ws":
        pytest.importorskip("websockets")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = run(transport, "--port", str(taken.getsockname()[1]))
    assert out.returncode == 1 and "cannot listen on 127.0.0.1:" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_network_transports(transport):
    if transport == "ws":
        pytest.importorskip("websockets", reason="--ws needs the websockets package (pygls[ws])")
    client = await RawClient.start(transport=transport)
    try:
        msg = await client.request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        assert "inlineCompletionProvider" in msg["result"]["capabilities"]
    finally:
        client.proc.kill()
        await client.proc.wait()


def test_stdout_carries_nothing_but_protocol():
    """Logs go to stderr; a stray print to stdout inside the server must not reach the channel."""
    code = ("import sys; sys.argv=['dllm-lsp']; from dllm_complete.lsp_server import launch; "
            "ch = launch.protect_stdout(); "
            "print('stray'); import os; os.write(1, b'c-level\\n'); ch.write(b'PROTO'); ch.flush()")
    out = subprocess.run([sys.executable, "-c", code], env=server_env(), capture_output=True, timeout=30)
    assert out.stdout == b"PROTO" and b"stray" in out.stderr and b"c-level" in out.stderr


def test_ws_origins_that_may_open_a_session():
    from dllm_complete.lsp_server.launch import origin_allowed

    for origin in (None, "http://127.0.0.1:8080", "http://localhost:5173", "https://localhost", "http://[::1]:80"):
        assert origin_allowed(origin, [])
    for origin in ("https://evil.example", "null", "http://127.0.0.1.evil.example", "http://localhost.evil:80"):
        assert not origin_allowed(origin, [])
    assert origin_allowed("http://lan-box:8080", ["http://lan-box:8080"])


def test_a_page_from_elsewhere_cannot_open_a_ws_session():
    pytest.importorskip("websockets")
    import asyncio
    import json

    from lsp_helpers import WAIT_S, free_port
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async def scenario(port: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            *server_command("--ws", "--port", str(port), "--allow-origin", "https://ok.example"),
            env=server_env(True), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        url, deadline = f"ws://127.0.0.1:{port}", asyncio.get_running_loop().time() + WAIT_S
        try:
            while True:  # until the server listens
                try:
                    with pytest.raises(InvalidStatus) as refused:
                        await connect(url, origin="https://evil.example")
                    break
                except OSError:
                    assert proc.returncode is None and asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.1)
            assert refused.value.response.status_code == 403
            async with connect(url, origin="https://ok.example") as ws:  # the one session is still free
                await ws.send('{"jsonrpc": "2.0", "id": 1, "method": "shutdown"}')
                assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))["id"] == 1
        finally:
            proc.kill()
            await proc.wait()

    asyncio.run(scenario(free_port()))
