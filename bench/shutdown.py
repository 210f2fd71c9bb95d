"""Clean exits of `dllm-lsp`: N start / complete / cancel / shutdown cycles per transport.

A cycle starts a real `python -m dllm_complete.lsp_server` process (stdio, `--tcp` or `--ws` on a free
localhost port; the embedded default model, or --model DIR), initializes, waits for the model, opens
a document, asks for an inline completion, sends a second, multi-line one and cancels it
(`$/cancelRequest`) a few milliseconds later (0-80 ms, varied by cycle, so that it is queued, running
or done), then `shutdown` + `exit`, and waits for the process to exit by itself. Counted per
transport: exit codes, aborts (status 134 or death by a signal), hangs (no exit in time: killed),
cycles whose protocol steps failed, and stderr lines with a traceback, with a fatal error (Python's
or C++'s `terminate called`), or an error-level JSON log; a clean cycle has exit 0 and none of
these. Every wait is bounded. Progress goes to stderr; the JSON summary is the last stdout line.

    python -m bench.shutdown --n 50
    python -m bench.shutdown --n 5 --transports tcp --model runs/dllm-code-small/model
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from . import common

TRANSPORTS = ("stdio", "tcp", "ws")
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


def position(text: str, offset: int) -> dict:
    """LSP position (UTF-16 columns; the text is ASCII) of a character offset."""
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


SINGLE_AT = position(SOURCE, SOURCE.index("total = ") + len("total = "))  # one line: an expression
MULTI_AT = position(SOURCE, len(SOURCE))  # an empty function body: several lines
CANCEL_DELAYS_S = (0.0, 0.01, 0.02, 0.04, 0.08)
FATAL_MARKS = ("Fatal Python error", "terminate called")  # the interpreter's and C++'s last words


class Conn:
    """JSON-RPC to the server: Content-Length frames over a stream pair, or one message per WebSocket
    message."""

    def __init__(self, reader=None, writer=None, ws=None) -> None:
        self.reader, self.writer, self.ws = reader, writer, ws
        self.ids = iter(range(1, 1 << 30))

    async def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        if self.ws is not None:
            await self.ws.send(body.decode())
        else:
            self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await self.writer.drain()

    async def _read(self) -> dict:
        if self.ws is not None:
            return json.loads(await self.ws.recv())
        return await common.read_lsp_message(self.reader)

    async def response(self, msg_id: int, timeout: float) -> dict:
        """The response to `msg_id`; server requests are answered with null, notifications skipped."""
        async def wait() -> dict:
            while True:
                msg = await self._read()
                if "method" in msg:
                    if "id" in msg:
                        await self.send({"id": msg["id"], "result": None})
                elif msg.get("id") == msg_id:
                    return msg
        return await asyncio.wait_for(wait(), timeout)

    async def request(self, method: str, params, timeout: float) -> dict:
        msg_id = next(self.ids)
        await self.send({"id": msg_id, "method": method, "params": params})
        return await self.response(msg_id, timeout)

    async def close(self) -> None:
        try:
            if self.ws is not None:
                await asyncio.wait_for(self.ws.close(), 10)
            elif self.writer is not None:
                self.writer.close()
        except (OSError, asyncio.TimeoutError):
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def connect(transport: str, proc, port: int | None, timeout: float) -> Conn:
    if transport == "stdio":
        return Conn(proc.stdout, proc.stdin)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if transport == "ws":
                from websockets.asyncio.client import connect as ws_connect

                return Conn(ws=await ws_connect(f"ws://127.0.0.1:{port}", max_size=None))
            return Conn(*await asyncio.open_connection("127.0.0.1", port))
        except OSError:
            if proc.returncode is not None or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


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


async def talk(conn: Conn, i: int, timeouts: dict) -> str:
    """One session's protocol steps; returns what became of the request it cancelled: answered (done
    first), cancelled (before it reached the model) or cancelled while running."""
    await conn.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {},
                                      "initializationOptions": {"dllm": {"debounceMs": 0}}}, timeouts["load"])
    await conn.send({"method": "initialized", "params": {}})
    deadline = time.monotonic() + timeouts["load"]
    while True:
        stats = (await conn.request("dllm/stats", {}, timeouts["request"]))["result"]
        if stats.get("model_error"):
            raise RuntimeError(f"the model did not load: {stats['model_error']}")
        if stats.get("model"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the model did not load in time")
        await asyncio.sleep(0.05)
    uri = f"file:///bench/shutdown-{i}.py"
    await conn.send({"method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}}})
    first = await conn.request("textDocument/inlineCompletion", inline(uri, SINGLE_AT, False), timeouts["request"])
    if "error" in first:
        raise RuntimeError(f"inline completion failed: {first['error']}")
    msg_id = next(conn.ids)
    await conn.send({"id": msg_id, "method": "textDocument/inlineCompletion", "params": inline(uri, MULTI_AT, True)})
    await asyncio.sleep(CANCEL_DELAYS_S[i % len(CANCEL_DELAYS_S)])
    await conn.send({"method": "$/cancelRequest", "params": {"id": msg_id}})
    second = await conn.response(msg_id, timeouts["request"])
    code = second.get("error", {}).get("code")
    outcome = "answered" if "result" in second else "cancelled" if code == -32800 else f"error {code}"
    stats = (await conn.request("dllm/stats", {}, timeouts["request"]))["result"]
    if outcome == "cancelled" and stats["scheduler"]["stopped"]:
        outcome = "cancelled while running"  # stopped on the model thread, between denoising steps
    shutdown = await conn.request("shutdown", None, timeouts["request"])
    if "error" in shutdown:
        raise RuntimeError(f"shutdown failed: {shutdown['error']}")
    await conn.send({"method": "exit", "params": None})
    return outcome


async def cycle(transport: str, i: int, model: str | None, timeouts: dict, scratch: Path) -> dict:
    """Start a server, run one session, wait for the exit; the cycle's record."""
    port = free_port() if transport != "stdio" else None
    cmd = [sys.executable, "-m", "dllm_complete.lsp_server", *([f"--{transport}", "--port", str(port)] if port else []),
           *(["--model", model] if model else [])]
    err_path = scratch / f"{transport}-{i}.stderr"
    pipe = asyncio.subprocess.PIPE if transport == "stdio" else asyncio.subprocess.DEVNULL
    t0 = time.monotonic()
    with err_path.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=common.REPO_ROOT, stdin=pipe, stdout=pipe, stderr=err)
    rec = {"transport": transport, "i": i, "failure": None, "hang": False, "cancel": None}
    conn = None
    try:
        conn = await connect(transport, proc, port, timeouts["load"])
        rec["cancel"] = await talk(conn, i, timeouts)
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
    rec["clean"] = proc.returncode == 0 and not rec["failure"] and not any(rec["problems"].values())
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
    p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    p.add_argument("--load-timeout", type=float, default=300.0, help="seconds to connect and load the model")
    p.add_argument("--request-timeout", type=float, default=120.0, help="seconds for one response")
    p.add_argument("--exit-timeout", type=float, default=120.0, help="seconds for the process to exit")
    p.add_argument("--out", type=Path, default=None, help="per-cycle JSONL (summary beside it)")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    transports = [t for t in args.transports.split(",") if t]
    unknown = set(transports) - set(TRANSPORTS)
    if unknown:
        raise SystemExit(f"unknown transport(s): {', '.join(sorted(unknown))}")
    timeouts = {"load": args.load_timeout, "request": args.request_timeout, "exit": args.exit_timeout}
    by_transport, records = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-shutdown-") as scratch:
        for transport in transports:
            rows = []
            for i in range(args.n):
                rec = await cycle(transport, i, args.model, timeouts, Path(scratch))
                rows.append(rec)
                flag = "" if rec["clean"] else f"  <-- {rec['failure'] or rec['problem_lines'] or 'exit status'}"
                print(f"[{transport} {i + 1}/{args.n}] exit {rec['returncode']} in {rec['seconds']:.1f} s, "
                      f"second request {rec['cancel']}{flag}", file=sys.stderr, flush=True)
            by_transport[transport] = summarize(rows)
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
