"""Start and stop a real `dllm-serve` process on a free localhost port."""

import os
import subprocess
import sys
import time

import httpx
from bench.lsp_client import free_port

LOAD_S = 120  # loads torch and the model, then a warm-up infill


def start(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dllm_complete.serve", "--port", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + LOAD_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dllm-serve exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("dllm-serve did not become healthy")


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err.decode(errors="replace")

