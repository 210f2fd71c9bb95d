"""Arena mode in the browser playground (headless Chromium, editor-clients/playground/test/arena.test.mjs):
a round between the diffusion engine and its AR twin (a second local model), then one against a real
llama.cpp-style `/infill` server started here (`dllm-serve` with the AR twin); a pick by key each time,
and the votes in the server's local log with the backends' names."""

import json
import sys

from client_helpers import CLIENTS, client_env, npm_ready, run, tool
from test_playground_e2e import chromium

from bench.serve_client import spawn, wait_healthy
from dllm_complete.dllm.testing import tiny_checkpoint

HERE = CLIENTS / "playground"


def test_arena_rounds_in_the_browser(tiny_model, tmp_path):
    browser = chromium()
    npm_ready(HERE)
    twin = str(tiny_checkpoint(tmp_path / "ar", kind="ar"))
    serve, url = spawn("--model", twin)
    try:
        wait_healthy(url, 120, serve)
        log = tmp_path / "votes.jsonl"
        sets = [["dllm", f"ar@model:{twin}"], ["dllm", f"twin@infill:{url}"]]
        env = client_env(CHROMIUM=browser, DLLM_MODEL=tiny_model, DLLM_LSP=f"{sys.executable} -m dllm_complete.lsp_server",
                         DLLM_ARENA_SETS=json.dumps(sets), DLLM_ARENA_LOG=str(log),
                         DLLM_ARTIFACTS=str(tmp_path / "artifacts"))
        out = run([tool("node"), "--test", "test/arena.test.mjs"], HERE, env, timeout=300)
    finally:
        serve.terminate()
        serve.wait(30)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "# pass 1" in text, text[-6000:]
    votes = [json.loads(line) for line in log.read_text().splitlines()]
    assert [{v["a"], v["b"]} for v in votes] == [{"dllm", "ar"}, {"dllm", "twin"}]
    assert any(v["winner"] in ("a", "b") for v in votes)  # a suggestion was picked, not only dismissed
    for vote in votes:
        assert vote["winner"] in ("a", "b", "none") and vote["source"] == "editor" and vote["code"] is None
        assert all(vote["status"][side] in ("ok", "empty") for side in "ab")  # every backend answered
