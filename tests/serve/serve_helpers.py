"""Start and stop a real `dllm-serve` process on a free localhost port."""

import subprocess

from bench.serve_client import spawn, wait_healthy

LOAD_S = 120  # loads torch and the model, then a warm-up infill


def start(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    proc, url = spawn(*args, env=env, stderr=subprocess.PIPE)
    try:
        wait_healthy(url, LOAD_S, proc)
    except RuntimeError as exc:
        proc.kill()
        raise RuntimeError(f"{exc}: {proc.communicate()[1].decode()[-2000:]}") from None
    return proc, url


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err.decode(errors="replace")

