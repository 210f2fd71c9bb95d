"""Start a real `dllm-serve` on a free localhost port and wait until it is healthy: what
bench/serve_load.py and the tests that need a server share (as bench/lsp_client.py is for the LSP)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from . import common
from .lsp_client import free_port


def spawn(*args: str, env: dict | None = None, stderr=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """`python -m dllm_complete.serve --port P *args` with `env` added to ours; (process, its URL)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dllm_complete.serve", "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=stderr, cwd=common.REPO_ROOT,
                            env={**os.environ, **(env or {})})
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(url: str, seconds: float, proc: subprocess.Popen | None = None) -> list[int]:
    """Poll GET /health until 200; the statuses seen on the way (no answer: 0). RuntimeError if `proc`
    exits first or `seconds` pass."""
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"dllm-serve exited with {proc.returncode} before it was healthy")
        try:
            status = httpx.get(url + "/health", timeout=5).status_code
        except httpx.TransportError:
            status = 0
        seen.append(status)
        if status == 200:
            return seen
        time.sleep(0.2)
    raise RuntimeError(f"/health never answered 200 in {seconds} s: {seen[-5:]}")
