"""Clean exits of `dllm-lsp`: N start / complete / cancel / end cycles per transport and way out.

A cycle starts a real `python -m dllm_complete.lsp_server` process (stdio, `--tcp` or `--ws` on a free
localhost port; the embedded default model, or --model DIR), initializes, waits for the model, opens
a document, asks for an inline completion, sends a second, multi-line one and cancels it
(`$/cancelRequest`) a few milliseconds later (0-80 ms, varied by cycle, so that it is queued, running
or done), then sends four more multi-line requests without waiting and leaves by one way out
(`--paths`): `shutdown` + `exit`, `exit` alone, end of input (hang-up), SIGTERM or SIGINT; or
`loading`: a hang-up right after `initialize`, with requests queued while the model still loads. It waits
for the process to exit by itself with the status that way out has (LSP: 1 for `exit` without
`shutdown` and for a hang-up; 0 otherwise). Counted per transport and way out: exit codes, aborts (status 134 or death by a signal), hangs (no exit in time: killed),
cycles whose protocol steps failed, and stderr lines with a traceback, with a fatal error (Python's
or C++'s `terminate called`), or an error-level JSON log; a clean cycle has exit 0 and none of
these. Every wait is bounded. Progress goes to stderr; the JSON summary is the last stdout line.

    python -m bench.shutdown --n 50
    python -m bench.shutdown --n 100 --transports stdio --paths shutdown-exit,exit,eof,sigterm,sigint,loading
    python -m bench.shutdown --n 5 --transports tcp --model runs/dllm-code-small/model
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import common
from .lsp_client import TRANSPORTS, Conn, connect, spawn, utf16_position

SOURCE = '''import os


def list_python_files(root):
    """Return the paths of all .py files under root."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(".py"):
                found.append(os.path.join(dirpath, name))
    return found


def count_lines(path):
    """Return the number of lines in the file at path."""
    with open(path) as f:
        total = 
    return total


def largest_file(paths):
    """Return the largest of the files in paths."""
    '''


SINGLE_AT = utf16_position(SOURCE[:SOURCE.index("total = ") + len("total = ")])  # one line: an expression
MULTI_AT = utf16_position(SOURCE)  # an empty function body: several lines
CANCEL_DELAYS_S = (0.0, 0.01, 0.02, 0.04, 0.08)
PATHS = {"shutdown-exit": 0, "exit": 1, "eof": 1, "sigterm": 0, "sigint": 0, "loading": 1}  # way out -> exit status
FATAL_MARKS = ("Fatal Python error", "terminate called")  # the interpreter's and C++'s last words


def stderr_problems(text: str) -> dict[str, list[str]]:
    """A server's stderr lines that a clean run never has: with a traceback, fatal (interpreter or
    C++ terminate), and JSON logs at error level or above (a traceback inside one counts twice)."""
    found: dict[str, list[str]] = {"traceback": [], "fatal": [], "error_log": []}
    for line in text.splitlines():
        if "Traceback" in line:
            found["traceback"].append(line)
        if any(mark in line for mark in FATAL_MARKS):
            found["fatal"].append(line)
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and str(record.get("level", "")).lower() in ("error", "critical", "exception"):
            found["error_log"].append(line)
    return found


def inline(uri: str, at: dict, invoked: bool) -> dict:
    return {"textDocument": {"uri": uri}, "position": at, "context": {"triggerKind": 1 if invoked else 2}}


async def open_document(conn: Conn, i: int) -> str:
    """didOpen of SOURCE as cycle i's document; its URI."""
    uri = f"file:///bench/shutdown-{i}.py"
    await conn.notify("textDocument/didOpen", {
        "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}})
    return uri


async def send_in_flight(conn: Conn, uri: str, n: int = 4) -> None:
    """n multi-line requests sent without waiting: in flight when the session ends."""
    for _ in range(n):
        await conn.send({"id": next(conn.ids), "method": "textDocument/inlineCompletion",
                         "params": inline(uri, MULTI_AT, True)})


async def talk(conn: Conn, proc, i: int, path: str, timeouts: dict) -> str:
    """One session's protocol steps, ending by `path` with requests in flight; returns what became of
    the request it cancelled: answered (done first), cancelled (before it reached the model) or
    cancelled while running; "loading" for the way out before the model is ready."""
    if path == "loading":
        return await hang_up_while_loading(conn, i, timeouts)
    await conn.initialize({"dllm": {"debounceMs": 0}}, timeouts["load"], timeouts["request"])
    uri = await open_document(conn, i)
    first = await conn.request("textDocument/inlineCompletion", inline(uri, SINGLE_AT, False), timeouts["request"])
    if "error" in first:
        raise RuntimeError(f"inline completion failed: {first['error']}")
    msg_id = next(conn.ids)
    await conn.send({"id": msg_id, "method": "textDocument/inlineCompletion", "params": inline(uri, MULTI_AT, True)})
    await asyncio.sleep(CANCEL_DELAYS_S[i % len(CANCEL_DELAYS_S)])
    await conn.notify("$/cancelRequest", {"id": msg_id})
    second = await conn.response(msg_id, timeouts["request"])
    code = second.get("error", {}).get("code")
    outcome = "answered" if "result" in second else "cancelled" if code == -32800 else f"error {code}"
    stats = await conn.call("dllm/stats", {}, timeouts["request"])
    if outcome == "cancelled" and stats["scheduler"]["stopped"]:
        outcome = "cancelled while running"  # stopped on the model thread, between denoising steps
    await send_in_flight(conn, uri)
    if path == "shutdown-exit":
        await conn.call("shutdown", None, timeouts["request"])
    if path in ("shutdown-exit", "exit"):
        await conn.notify("exit", None)
    elif path == "eof":
        await conn.close()
    else:
        proc.send_signal(signal.SIGTERM if path == "sigterm" else signal.SIGINT)
    return outcome


async def hang_up_while_loading(conn: Conn, i: int, timeouts: dict) -> str:
    """initialize, open a document, queue four requests and hang up before the model has loaded."""
    await conn.initialize({"dllm": {"debounceMs": 0}}, timeouts["load"], timeouts["request"], wait=False)
    await send_in_flight(conn, await open_document(conn, i))
    stats = await conn.call("dllm/stats", {}, timeouts["request"])
    await conn.close()
    return "loading" if not stats.get("model") else "loaded"


async def cycle(transport: str, path: str, i: int, model: str | None, timeouts: dict, scratch: Path) -> dict:
    """Start a server, run one session, wait for the exit; the cycle's record."""
    err_path = scratch / f"{transport}-{path}-{i}.stderr"
    t0 = time.monotonic()
    with err_path.open("wb") as err:
        proc, port = await spawn(transport, model, stderr=err)
    rec = {"transport": transport, "path": path, "i": i, "failure": None, "hang": False, "cancel": None}
    conn = None
    try:
        conn = await connect(transport, proc, port, timeouts["load"])
        rec["cancel"] = await talk(conn, proc, i, path, timeouts)
    except Exception as exc:  # noqa: BLE001 - a failed step is a result here
        rec["failure"] = f"{type(exc).__name__}: {exc}"[:300]
        if conn is not None:
            await conn.close()  # hang up: the server ends at the end of its input
    try:
        await asyncio.wait_for(proc.wait(), timeouts["exit"])
    except asyncio.TimeoutError:
        rec["hang"] = True
        proc.kill()
        await proc.wait()
    if conn is not None:
        await conn.close()
    rec["returncode"], rec["seconds"] = proc.returncode, round(time.monotonic() - t0, 3)
    rec["abort"] = not rec["hang"] and (proc.returncode == 134 or proc.returncode < 0)
    found = stderr_problems(err_path.read_text(encoding="utf-8", errors="replace"))
    rec["problems"] = {kind: len(lines) for kind, lines in found.items()}
    rec["problem_lines"] = sorted({line[:200] for lines in found.values() for line in lines})[:3]
    rec["clean"] = proc.returncode == PATHS[path] and not rec["failure"] and not any(rec["problems"].values())
    return rec


def summarize(records: list[dict]) -> dict:
    codes = Counter(str(r["returncode"]) for r in records)
    examples = sorted({line for r in records for line in r["problem_lines"]})[:5]
    return {"cycles": len(records), "clean": sum(r["clean"] for r in records), "exit_codes": dict(codes),
            "aborts": sum(r["abort"] for r in records), "hangs": sum(r["hang"] for r in records),
            "failed_cycles": sum(bool(r["failure"]) for r in records),
            **{f"{kind}_lines": sum(r["problems"][kind] for r in records)
               for kind in ("traceback", "fatal", "error_log")},
            "second_request": dict(Counter(str(r["cancel"]) for r in records)),
            "cycle_s": common.percentiles([r["seconds"] for r in records]),
            "failures": [r["failure"] for r in records if r["failure"]][:5], "problem_lines": examples}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=50, help="cycles per transport")
    p.add_argument("--transports", default=",".join(TRANSPORTS), help="comma separated: stdio,tcp,ws")
    p.add_argument("--paths", default="shutdown-exit", help=f"comma separated ways out: {','.join(PATHS)}")
    p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    p.add_argument("--load-timeout", type=float, default=300.0, help="seconds to connect and load the model")
    p.add_argument("--request-timeout", type=float, default=120.0, help="seconds for one response")
    p.add_argument("--exit-timeout", type=float, default=120.0, help="seconds for the process to exit")
    p.add_argument("--out", type=Path, default=None, help="per-cycle JSONL (summary beside it)")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    transports = [t for t in args.transports.split(",") if t]
    paths = [p for p in args.paths.split(",") if p]
    unknown = (set(transports) - set(TRANSPORTS)) | (set(paths) - set(PATHS))
    if unknown:
        raise SystemExit(f"unknown transport(s) or path(s): {', '.join(sorted(unknown))}")
    timeouts = {"load": args.load_timeout, "request": args.request_timeout, "exit": args.exit_timeout}
    by_transport, records = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-shutdown-") as scratch:
        for transport in transports:
            for path in paths:
                rows = []
                for i in range(args.n):
                    rec = await cycle(transport, path, i, args.model, timeouts, Path(scratch))
                    rows.append(rec)
                    flag = "" if rec["clean"] else f"  <-- {rec['failure'] or rec['problem_lines'] or 'exit status'}"
                    print(f"[{transport} {path} {i + 1}/{args.n}] exit {rec['returncode']} in {rec['seconds']:.1f} s,"
                          f" second request {rec['cancel']}{flag}", file=sys.stderr, flush=True)
                by_transport[f"{transport}/{path}" if len(paths) > 1 else transport] = summarize(rows)
                records += rows
    return by_transport, records


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    t0 = time.monotonic()
    by_transport, records = asyncio.run(run(args))
    totals = summarize(records)
    summary = {"bench": "shutdown", "n": args.n, "model": args.model or "default",
               "ok": totals["clean"] == totals["cycles"], "totals": {k: totals[k] for k in (
                   "cycles", "clean", "exit_codes", "aborts", "hangs", "failed_cycles", "traceback_lines",
                   "fatal_lines", "error_log_lines")},
               "transports": by_transport, "wall_s": round(time.monotonic() - t0, 1),
               "out": str(args.out) if args.out else None, "stamp": common.stamp()}
    return common.report(summary, records, args.out)


if __name__ == "__main__":
    main()
