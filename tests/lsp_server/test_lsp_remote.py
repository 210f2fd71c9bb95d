"""`dllm-lsp --remote URL`: completions from a real `dllm-serve` subprocess instead of a local model.
`RemoteInfiller` answers as the local engine does, stops when cancelled, and fails in one line; a
real LSP session over stdio completes with it (several suggestions, the typing-through cache)."""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import pytest_lsp
from bench.serve_client import wait_healthy
from lsp_helpers import change_params, free_port, inline_params, open_params, server_command, server_env
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from dllm_complete import grammars
from dllm_complete.dllm.contract import Cancelled, CancelToken
from dllm_complete.lsp_server.engine_host import EngineHost, LoadError
from dllm_complete.lsp_server.remote import CLIENT_ID, RemoteInfiller

in_module_loop = pytest.mark.asyncio(loop_scope="module")

KEY = "test-key"
PORT = free_port()  # chosen at import: the LSP fixture's command line names it
URL = f"http://127.0.0.1:{PORT}"
START_S = 120.0  # generous: a loaded 2-core machine

PREFIXES = [
    ("def add(a, b):\n    return ", "\n", "single"),
    ("import os\n\n\ndef list_files(root):\n", "\n", "multi"),
    ("for i in range(10):\n    ", "\nprint('done')\n", "single"),
]

SOURCE = '''import os


def list_python_files(root):
    """Return the paths of all .py files under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            
    return found
'''


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """A `dllm-serve` on PORT (embedded model, API key KEY), once /health says ok."""
    log = tmp_path_factory.mktemp("serve") / "stderr"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "dllm_complete.serve", "--port", str(PORT), "--api-key", KEY],
                                env=server_env(fake=False), stdout=subprocess.DEVNULL, stderr=err)
    try:
        try:
            wait_healthy(URL, START_S, proc)
        except RuntimeError:
            pytest.fail(f"dllm-serve did not start: {log.read_text()[-2000:]}")
        yield URL
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def served(url: str, status: str = "200") -> int:
    """How many /dllm/infill requests the server answered with `status` (its /metrics)."""
    req = urllib.request.Request(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(r'dllm_requests_total\{route="/dllm/infill",status="%s"\} ([0-9.]+)' % status, text)
    return int(float(found.group(1))) if found else 0


@pytest.fixture(scope="module")
def local():
    from dllm_complete import dllm

    return dllm.load()


# --- RemoteInfiller ------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix,suffix,mode", PREFIXES)
@pytest.mark.parametrize("syntax", [False, True])
def test_remote_answers_as_the_local_engine(serve, local, prefix, suffix, mode, syntax):
    remote = RemoteInfiller(serve, api_key=KEY)
    constraint = grammars.constraint_for("python") if syntax else None
    options = dict(language="python", mode=mode, max_tokens=32, constraint=constraint)
    got = remote.infill(prefix, suffix, **options)
    want = local.infill(prefix, suffix, **options)
    assert got.text == want.text  # greedy: the same model gives the same middle (batch of one, bf16)
    assert got.stats.tokens == want.stats.tokens and got.stats.nfe > 0
    assert remote.info["model"] == local.info["model"] and remote.info["remote"] == serve


@pytest.mark.parametrize("head", ["import numpy as np\n\n\n", ""])
def test_the_scope_check_sees_the_whole_file_remotely(serve, local, head):
    # the window holds no import; the file may: the server must judge names against the file, as locally
    prefix, suffix = "def area(radius):\n    return ", "\n"
    texts = []
    for infiller in (RemoteInfiller(serve, api_key=KEY), local):
        constraint = grammars.constraint_for("python", scope=True, document=head + prefix + suffix)
        texts.append(infiller.infill(prefix, suffix, language="python", mode="single", constraint=constraint).text)
    assert texts[0] == texts[1]
    assert ("np." in texts[0]) == bool(head)  # the model writes np.a(radius): kept only where np is imported


def test_remote_passes_the_sampler_settings(serve, local):
    remote = RemoteInfiller(serve, api_key=KEY)
    prefix, suffix, mode = PREFIXES[1]
    for seed in (1, 2):  # sampled with a seed: repeatable, so the same as the local engine's
        sampler = remote.sampler.with_overrides({"temperature": 0.8, "seed": seed})
        got = remote.infill(prefix, suffix, mode=mode, max_tokens=32, sampler=sampler)
        assert got.text == local.infill(prefix, suffix, mode=mode, max_tokens=32, sampler=sampler).text
    remote.connect()  # as the language server does: now it knows the server's model
    drafting = remote.sampler.with_overrides({"draft_tokens": 8})  # AR models' only: not sent (the server refuses it)
    assert remote.infill(prefix, suffix, mode=mode, max_tokens=32, sampler=drafting).text == \
        local.infill(prefix, suffix, mode=mode, max_tokens=32).text


def cancelled_soon(remote: RemoteInfiller) -> None:
    """An infill cancelled 10 ms after it started raises `Cancelled`."""
    token = CancelToken()
    threading.Timer(0.01, token.cancel).start()
    with pytest.raises(Cancelled):
        remote.infill("import os\n\n\nclass Tree:\n", "\n", language="python", mode="multi", max_tokens=256,
                      cancel=token)


def test_cancelling_does_not_wait_for_the_server(serve):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts the request, never answers
        remote = RemoteInfiller(f"http://127.0.0.1:{silent.getsockname()[1]}", api_key=KEY, timeout_s=600)
        cancelled_soon(remote)  # not a TimeoutError after 600 s: the cancel shuts the read down
    remote = RemoteInfiller(serve, api_key=KEY)
    cancelled_soon(remote)
    assert isinstance(remote.infill("x = ", "\n", max_tokens=8).text, str)  # usable again afterwards


def test_the_server_stops_the_work_of_a_cancelled_request(serve):
    answered, cancelled = served(serve, "200"), served(serve, "499")
    cancelled_soon(RemoteInfiller(serve, api_key=KEY))
    deadline = time.monotonic() + 60
    while served(serve, "200") + served(serve, "499") == answered + cancelled:  # until the server is done
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (served(serve, "200"), served(serve, "499")) == (answered, cancelled + 1)  # stopped, not answered


# --- errors: one line, naming the server ---------------------------------------------------------

@pytest.mark.parametrize("url", ["ftp://host", "http://", "localhost:8012", "http://host:99999", "http://h/?q=1",
                                 "http://user:key@h"])
def test_a_bad_url_is_refused_in_one_line(url):
    with pytest.raises(ValueError) as err:
        RemoteInfiller(url)
    assert "\n" not in str(err.value) and "URL" in str(err.value)


def test_a_closed_port_is_one_line_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError) as err:
        RemoteInfiller(url).infill("x = ", "\n")
    assert url in str(err.value) and "\n" not in str(err.value)
    host = EngineHost(remote=url)
    with pytest.raises(LoadError) as load_err:
        host.load(None, None)
    assert url in str(load_err.value) and "\n" not in str(load_err.value) and not host.ready
    assert host.error == str(load_err.value)


def test_a_wrong_key_and_a_bad_request(serve):
    with pytest.raises(LoadError, match="Invalid API Key"):
        EngineHost(remote=serve, api_key="wrong").load(None, None)
    assert RemoteInfiller(serve, api_key=KEY + "\n").infill("x = ", "\n").stats.nfe  # a key file's newline
    for bad in ("se cret", "s\x00cret", "sécret"):
        with pytest.raises(ValueError, match="API key") as err:
            RemoteInfiller(serve, api_key=bad)
        assert bad not in str(err.value)
    out = subprocess.run(server_command("--remote", serve, "--api-key", "se cret", "--check"), env=server_env(False),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "API key" in out.stderr and "se cret" not in out.stderr
    with pytest.raises(ValueError, match="max_tokens") as err:
        RemoteInfiller(serve, api_key=KEY).infill("x = ", "\n", max_tokens=100_000)
    assert serve in str(err.value) and "\n" not in str(err.value)


def test_a_team_server_down_at_start_is_tried_again_on_a_later_request(serve, monkeypatch):
    from dllm_complete.lsp_server import remote
    from dllm_complete.lsp_server.engine_host import Job

    def down(self):
        raise ConnectionError(f"cannot reach the dllm server at {serve}: connection refused")

    up = remote.RemoteInfiller.connect
    monkeypatch.setattr(remote.RemoteInfiller, "connect", down)
    host = EngineHost(remote=serve, api_key=KEY)
    with pytest.raises(LoadError):
        host.load(None, None)
    monkeypatch.setattr(remote.RemoteInfiller, "connect", up)  # the server is up now
    job = Job("x = ", "\n", "python", "a.py", "single", 16)
    with pytest.raises(LoadError):  # too soon: not tried again yet
        host.infill(job, CancelToken(), {})
    host.retry_at = 0.0  # as RECONNECT_S later
    assert host.reconnect_due() and len(host.infill(job, CancelToken(), {})) == 1 and host.ready


class _Loading(http.server.BaseHTTPRequestHandler):
    """A server that is loading its model for its first `loading` health checks."""
    loading = 2
    headers_seen: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).headers_seen.append(dict(self.headers))
        if self.path == "/health" and type(self).loading > 0:
            type(self).loading -= 1
            status, body = 503, {"error": {"code": 503, "message": "Loading model"}}
        elif self.path == "/health":
            status, body = 200, {"status": "ok"}
        else:
            status, body = 200, {"data": [{"id": "m", "meta": {"model": "m", "device": "gpu"}}]}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_loading_server_is_waited_for_then_a_failed_one_reported():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Loading)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        info = EngineHost(remote=url, api_key="k").load(None, None)
        assert info == {"model": "m", "device": "gpu", "remote": url}
        models = _Loading.headers_seen[-1]  # GET /v1/models, after three health checks
        assert len(_Loading.headers_seen) == 4 and models["Authorization"] == "Bearer k"
        assert models["X-Client-Id"] == CLIENT_ID
        _Loading.loading = 10**6
        with pytest.raises(RuntimeError, match="still loading"):
            RemoteInfiller(url).connect(wait_s=0.5)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_check_with_a_remote_server(serve):
    out = subprocess.run(server_command("--check", "--remote", serve, "--api-key", KEY), env=server_env(fake=False),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "dllm-code-small" in out.stdout and f"server: {serve}" in out.stdout and "warm-up:" in out.stdout
    closed = f"http://127.0.0.1:{free_port()}"
    out = subprocess.run(server_command("--check", "--remote", closed), env=server_env(fake=False),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and closed in out.stdout and "Traceback" not in out.stdout + out.stderr


def test_the_options():
    from dllm_complete.lsp_server.launch import parser

    args = parser().parse_args(["--remote", "http://h:8012/", "--api-key", "k"])
    assert (args.remote, args.api_key, args.model) == ("http://h:8012", "k", None)
    for bad in (["--remote", "http://h", "--model", "/m"], ["--remote", "gopher://h"]):
        with pytest.raises(SystemExit):
            parser().parse_args(bad)


def test_importing_the_remote_client_loads_no_torch():
    code = "import sys; import dllm_complete.lsp_server.remote; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=server_env(fake=False), capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


# --- a real LSP session over stdio --------------------------------------------------------------

@pytest_lsp.fixture(scope="module", config=ClientServerConfig(
    server_command=server_command("--remote", URL), server_env=server_env(fake=False, DLLM_API_KEY=KEY)))
async def client(lsp_client: LanguageClient, serve: str):
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(), initialization_options={"dllm": {"debounceMs": 0}}))
    yield
    await lsp_client.shutdown_session()


async def _stats(client: LanguageClient):
    return await client.protocol.send_request_async("dllm/stats", {})


@in_module_loop
async def test_lsp_session_completes_with_the_remote_server(client: LanguageClient):
    deadline = time.monotonic() + START_S
    while (stats := await _stats(client)).model is None:  # connected on `initialized`, off the loop
        assert stats.model_error is None, stats.model_error
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert stats.model.remote == URL and stats.model.model == "dllm-code-small"

    uri = "file:///remote/walk.py"
    client.text_document_did_open(open_params(uri, SOURCE))
    line, column = 8, 12
    before = served(URL)
    invoked = await client.text_document_inline_completion_async(inline_params(uri, line, column, invoked=True))
    assert served(URL) - before == 3  # the best answer and two sampled alternatives, each a server call
    assert 1 <= len(invoked.items) <= 3
    for item in invoked.items:
        assert item.range.start == lsp.Position(line, column) and item.insert_text.strip()

    # typing through a suggestion is answered from the cache, without asking the server
    longest = max((item.insert_text for item in invoked.items), key=lambda t: len(t.rstrip()))
    assert len(longest.rstrip()) >= 2  # the embedded model writes `found`
    hits = (await _stats(client)).cache.hits
    calls = served(URL)
    client.text_document_did_change(change_params(uri, 2, (line, column), (line, column), longest[0]))
    auto = await client.text_document_inline_completion_async(inline_params(uri, line, column + 1))
    assert longest[1:] in [item.insert_text for item in auto.items]
    assert (await _stats(client)).cache.hits == hits + 1 and served(URL) == calls
    stats = await _stats(client)
    assert stats.scheduler.failed == 0
    assert not [m for m in client.messages if m.type in (lsp.MessageType.Error, lsp.MessageType.Warning)]


def test_a_file_of_non_ascii_text_goes_whole_and_an_oversized_one_without_the_file(serve, monkeypatch):
    from dllm_complete.lsp_server import remote

    doc = "x = 1\n" + "# 中文注释，日本語のコメント😀\n" * 7_000 + "y = \n"  # ~170,000 characters, ~0.6 MB in UTF-8
    check = grammars.constraint_for("python", scope=True, document=doc)
    assert check.scope.document is not None  # the scope check wants the whole file sent
    assert RemoteInfiller(serve, api_key=KEY).infill(doc[:-1], "\n", constraint=check).stats.nfe
    monkeypatch.setattr(remote, "MAX_BODY", 10_000)  # a server with a smaller body limit than the file
    assert RemoteInfiller(serve, api_key=KEY).infill(doc[:-1], "\n", constraint=check).stats.nfe


def test_no_key_no_redirect_no_device_each_said_in_one_line(serve, http_stub):
    from dllm_complete.lsp_server.launch import main

    with pytest.raises(LoadError, match="set DLLM_API_KEY"):
        EngineHost(remote=serve).load(None, None)

    moved = http_stub(lambda *request: (307, {"Location": "https://elsewhere.example/health"}, b""))  # http to https
    with pytest.raises(RuntimeError, match="redirected to https://elsewhere.example/health, not followed"):
        RemoteInfiller(moved).connect(wait_s=1)
    with pytest.raises(SystemExit):
        main(["--remote", "http://127.0.0.1:9", "--device", "cpu"])
