"""Browser playground end to end: Monaco in headless Chromium, `dllm-lsp --ws` behind it.

Types a sequence, waits for ghost text after each keystroke, accepts it with Tab and checks the
buffer (editor-clients/playground/test/e2e.test.mjs). Prints the keystroke-to-ghost-text latency
(p50); screenshots and latency.json go to $DLLM_ARTIFACTS (default
editor-clients/playground/test-results/).
"""

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from client_helpers import CLIENTS, client_env, feedback_events, npm_ready, run, tool

HERE = CLIENTS / "playground"


def chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("chromium is not installed here (CI installs Debian's chromium in .ci/run)")


def test_playground_types_sees_ghost_text_and_accepts_it(tiny_model, tmp_path, capsys):
    browser = chromium()
    assert importlib.util.find_spec("websockets"), "dllm-lsp --ws needs the 'websockets' package (pip install 'pygls[ws]')"
    npm_ready(HERE)
    artifacts = Path(os.environ.get("DLLM_ARTIFACTS", HERE / "test-results"))
    log = tmp_path / "server.log"
    env = client_env(CHROMIUM=browser, DLLM_MODEL=tiny_model, DLLM_LSP=f"{sys.executable} -m dllm_complete.lsp_server",
                     DLLM_ARTIFACTS=str(artifacts), DLLM_LOG_FILE=str(log))
    out = run([tool("node"), "--test", "test/"], HERE, env, timeout=240)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-6000:]
    latency = next((ln.lstrip("# ") for ln in text.splitlines() if "keystroke-to-ghost-text latency" in ln), None)
    assert latency, text[-3000:]
    report = json.loads((artifacts / "latency.json").read_text())
    assert report["samples"] >= 1 and report["p50_ms"] > 0
    assert (artifacts / "playground-ghost.png").stat().st_size > 0
    kinds = {e["feedback"] for e in feedback_events(log)}
    assert {"shown", "accepted"} <= kinds, kinds
    with capsys.disabled():
        print(f"\nplayground {latency} [screenshots: {artifacts}]")
