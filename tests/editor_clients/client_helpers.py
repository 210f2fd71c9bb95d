"""Helpers of the editor-client tests: how to start the real server, tools, npm packages, logs.

Each client test drives a real editor (headless Neovim, headless Chromium) or the client's own
Node test suite as a subprocess and asserts that it passed. A test is skipped only when the tool
it needs (node, nvim, chromium) is not installed; CI installs them (.ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "editor-clients"


def tool(name: str) -> str:
    """Path of an executable, or skip the test saying what is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here (CI installs it in .ci/run)")
    return path


def server_command(*extra: str) -> list[str]:
    """The real dllm-lsp, as installed (editable: this checkout)."""
    return [sys.executable, "-m", "dllm_complete.lsp_server", *extra]


def client_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.setdefault("OMP_NUM_THREADS", "1")  # a tiny model gains nothing from threads
    env.pop("DLLM_LSP_ENGINE", None)  # the real engine, not the LSP tests' fake one
    return env


def npm_ready(folder: Path) -> None:
    """node_modules installed from the lockfile (`npm ci`), if it is not there yet."""
    tool("node")
    npm = tool("npm")
    if (folder / "node_modules" / ".package-lock.json").exists():
        return
    out = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, f"npm ci in {folder} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return out


def feedback_events(log: Path) -> list[dict]:
    """The dllm/shown|accepted|rejected notifications the server logged."""
    events = []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "suggestion":
                events.append(event)
    return events
