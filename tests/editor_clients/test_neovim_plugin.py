"""Neovim plugin, headless, against the real dllm-lsp with a tiny model.

Runs editor-clients/neovim/test/headless.lua in the `nvim` on PATH (Debian's) and in any extra
binaries listed in DLLM_TEST_NVIM (os.pathsep-separated), e.g. a 0.10+ build for the inline path.
"""

import json
import os
import shutil

import pytest

from client_helpers import CLIENTS, client_env, feedback_events, run, server_command, tool

PLUGIN = CLIENTS / "neovim"
BINARIES = ["nvim", *[p for p in os.environ.get("DLLM_TEST_NVIM", "").split(os.pathsep) if p]]


@pytest.mark.parametrize("nvim", BINARIES)
def test_neovim_ghost_text_and_menu_complete_from_the_server(nvim, tiny_model, tmp_path):
    if os.sep in nvim and not shutil.which(nvim):
        pytest.skip(f"{nvim} (from DLLM_TEST_NVIM) is not an executable")
    binary = tool(nvim)
    log, result = tmp_path / "server.log", tmp_path / "result.json"
    env = client_env(DLLM_CMD=json.dumps(server_command("--model", tiny_model, "--log-file", str(log))),
                     DLLM_WORKDIR=str(tmp_path), DLLM_RESULT=str(result))
    out = run([binary, "--headless", "--clean", "--cmd", f"set rtp^={PLUGIN}",
               "-c", f"luafile {PLUGIN / 'test' / 'headless.lua'}"], PLUGIN, env, timeout=180)
    detail = out.stderr[-3000:] + (result.read_text() if result.exists() else "no result file")
    assert out.returncode == 0, detail
    report = json.loads(result.read_text())
    assert report["ok"], detail
    assert report["suggestion"] and report["suggestion"] in report["after_accept"], report
    assert "\n" in report["crlf_suggestion"], report  # a multi-line one: its line ends were the file's "\r\n"
    kinds = [e["feedback"] for e in feedback_events(log)]
    assert {"shown", "accepted", "rejected"} <= set(kinds), kinds
