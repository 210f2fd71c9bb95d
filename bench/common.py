"""Shared bench plumbing: the machine/commit stamp, percentiles, and the JSON summary last line.

Imports torch only inside ``stamp()`` and only if it is installed, so scorers and tests stay light.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info() -> dict:
    """Short commit hash (None before the first commit) and whether the tree has changes."""
    status = _git("status", "--porcelain")
    return {"commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(status) if status is not None else None}


def torch_info() -> dict:
    """torch version and GPU name; imports torch lazily and tolerates its absence."""
    try:
        import torch
    except ImportError:
        return {"torch": None, "gpu": None, "cuda": None}
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"torch": torch.__version__, "gpu": gpu, "cuda": torch.version.cuda}


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def stamp() -> dict:
    """Where and when a result was produced: machine, software versions, commit, UTC time."""
    return {
        "cpu": cpu_model(),
        "cores": cpu_cores(),
        **torch_info(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git_info(),
        "utc": utc_now(),
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated q-th percentile (0..100); None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 95, 99)) -> dict:
    """{"p50": ..., "p95": ..., "p99": ...} of the values."""
    xs = list(values)
    return {f"p{q:g}": percentile(xs, q) for q in qs}


def usage_error(prog: str, message: str) -> SystemExit:
    """A usage error of a bench command: one line on stderr, exit status 2 (as argparse's); raise it."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return SystemExit(2)


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are known (None: not measured, e.g. an HTTP backend's model calls)."""
    xs = [x for x in values if x is not None]
    return sum(xs) / len(xs) if xs else None


def print_summary(summary: dict) -> None:
    """Print the summary as one JSON line; callers print nothing to stdout after it."""
    sys.stderr.flush()
    sys.stdout.write(json.dumps(summary, default=str) + "\n")
    sys.stdout.flush()


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """One JSON object per line (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with Path(path).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def last_json_line(text: str) -> dict:
    """The summary a bench script printed: the last non-empty line of its stdout, parsed."""
    return json.loads([ln for ln in text.splitlines() if ln.strip()][-1])


def summary_path(out: str | os.PathLike) -> Path:
    """Where a script that wrote per-item JSONL to `out` keeps its summary: <out>.summary.json."""
    return Path(str(out).removesuffix(".jsonl") + ".summary.json")


def write_summary(out: str | os.PathLike, summary: dict) -> Path:
    path = summary_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def report(summary: dict, records: Iterable[dict], out: str | os.PathLike | None) -> dict:
    """End a run: per-item JSONL and the summary file where `out` is given, then the summary line."""
    if out:
        write_jsonl(out, records)
        write_summary(out, summary)
    print_summary(summary)
    return summary


async def read_lsp_message(reader) -> dict:
    """The next Content-Length framed JSON-RPC message from an asyncio stream."""
    length = None
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError("the server closed the connection")
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif line.strip() == b"" and length is not None:
            return json.loads(await reader.readexactly(length))
