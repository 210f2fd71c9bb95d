"""The server under pressure: memory over a long typing storm, and latency beside busy processes.

Storm (`--parts storm`): a real `python -m dllm_complete.lsp_server` (stdio, the embedded model or
--model) opens a stdlib file of a few hundred lines (textwrap.py) cut at a line 40% of the way in,
and the client types the file's next characters there (`typing_plan`), one `didChange` inserting one
at the cursor and one automatic `inlineCompletion` at the new cursor per keystroke, as an editor
does: it keeps at most --in-flight requests open (waiting for the oldest beyond that), sends
`$/cancelRequest` for the previous request on a --cancel-rate share of keystrokes and leaves the
rest to be superseded by the next keystroke. After --warmup keystrokes, and every --every after
that, it waits for the open requests and reads the server's VmRSS (/proc/PID/status). Reported per
arm: RSS after warm-up, its least-squares slope in MB per 1,000 keystrokes (also over the second
half alone, `_late`: a cache filling up flattens there, steady growth does not), p50/p95 of the
requests answered with a suggestion after warm-up, answered / empty / cancelled / error counts, and
stale answers: suggestions the editor would show (the answer to the newest request, not cancelled,
on an unchanged document) whose range does not end at the cursor or whose replaced text does not
begin the suggestion (must be 0). Arms differ by the capacities of the server's per-shape caches
(--caches, `dllm/allocator.py`): `default` leaves the engine's caps in force, `N` sets oneDNN's
primitive cache (ONEDNN_PRIMITIVE_CACHE_CAPACITY) and torch's ideep cache (LRU_CACHE_CAPACITY) to N,
`N:M` the first to N and the second to M (1024: both as they were before the caps); arms run in
turn.

Contention (`--parts contention`): the engine's single-line latency in process, on --holes holes
of `bench.latency` cut to --context tokens of a stdlib file (argparse.py), with 0, 1, 2 busy
processes (`while True: pass`) beside it, per thread policy: `torch` (torch's own thread count set
as OMP_NUM_THREADS: the engine's behaviour before `dllm/threads.py`, which leaves a user's setting
alone), `threads1` (OMP_NUM_THREADS=1), `passive` (torch's count with OMP_WAIT_POLICY=PASSIVE) and
`engine` (no setting: what `dllm.load` decides). OpenMP reads its settings at start, so each policy
is a worker process of its own, loaded and warmed up once; the rounds interleave busy levels and
policies. Reported: p50 per (policy, busy), the ratio to the same policy's idle p50, each idle p50
over `torch`'s, and whether the texts equal `torch`'s.

    python -m bench.pressure --out bench/results/pressure.jsonl
    python -m bench.pressure --parts storm --keystrokes 2000 --caches default,64:1024,1024
    python -m bench.pressure --parts contention --rounds 3 --policies torch,threads1,passive,engine
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import common, latency, lsp_client
from .lsp_client import Conn, connect, spawn, utf16_position
from .shutdown import stderr_problems

STORM_SOURCE = Path(textwrap.__file__)
CUT_AT = 0.4  # where the typing starts, as a share of the file
REQUEST_CANCELLED = -32800
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")  # cleared for the workers
CACHE_ENV = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")  # set per storm arm
TARGETS = {"rss_mb_per_1000": 20.0, "busy1": 1.3, "busy2": 2.5, "idle_vs_torch": 1.15}


# ------------------------------------------------------------------------------------------ storm


def typing_plan(text: str, keystrokes: int, at: float = CUT_AT) -> tuple[str, str, str]:
    """(prefix, typed, suffix): the file cut at the start of the line at `at` of its length, the next
    `keystrokes` characters to type there (the file repeats where it is shorter than the storm), and
    the file from the first line after them on, behind a line break: nothing is right of the cursor,
    as when writing new code."""
    start = text.rfind("\n", 0, int(len(text) * at)) + 1
    stream = text[start:]
    while len(stream) < keystrokes:
        stream += text
    rest = text.find("\n", start + keystrokes)
    return text[:start], stream[:keystrokes], "\n" + text[rest + 1:] if rest >= 0 else "\n"


def offset_of(text: str, pos: dict) -> int:
    """The string offset of an LSP position (UTF-16 columns) in `text`."""
    start = 0
    for _ in range(pos["line"]):
        start = text.index("\n", start) + 1
    end = text.find("\n", start)
    line = text[start:] if end < 0 else text[start:end]
    units = line.encode("utf-16-le")[: 2 * pos["character"]]
    return start + len(units.decode("utf-16-le", errors="ignore"))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def slope_per_1000(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of (keystroke, MB) points, in MB per 1,000 keystrokes."""
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return 1000 * sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


@dataclass
class Open:
    id: int
    k: int  # keystroke that sent it
    version: int
    sent: float
    done: asyncio.Future
    cancelled: bool = False


@dataclass
class Typist:
    """One editor typing into one document: its text, cursor and version, its open requests, and what
    became of each (`records`). `pump` reads every message from the server."""

    conn: Conn
    uri: str
    doc: str
    cursor: int
    version: int = 1
    pending: dict[int, Open] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    async def pump(self) -> None:
        try:
            while True:
                msg = await self.conn.read()
                if "method" in msg:
                    if "id" in msg:
                        await self.conn.send({"id": msg["id"], "result": None})
                elif (req := self.pending.pop(msg.get("id"), None)) is not None:
                    self.records.append(self.judge(req, msg))
                    req.done.set_result(None)
        except Exception as exc:  # the server is gone: the open requests fail with it, not by a timeout
            for req in self.pending.values():
                if not req.done.done():
                    req.done.set_exception(exc)
            raise

    def judge(self, req: Open, msg: dict) -> dict:
        """What the answer to `req` is, judged against the document as the client has it now."""
        rec = {"k": req.k, "ms": (time.perf_counter() - req.sent) * 1e3, "cancelled": req.cancelled,
               "shown": False, "stale": False}
        if "error" in msg:
            rec["kind"] = "cancelled" if msg["error"].get("code") == REQUEST_CANCELLED else "error"
            return rec
        result = msg.get("result")
        items = (result or {}).get("items", []) if isinstance(result, dict) else (result or [])
        rec["kind"] = "answered" if items else "empty"
        if items and not req.cancelled and req.version == self.version:  # the one an editor would show
            rec["shown"] = True
            item = items[0]
            start, end = (offset_of(self.doc, item["range"][side]) for side in ("start", "end"))
            text = item["insertText"]
            rec["stale"] = end != self.cursor or not text.startswith(self.doc[start:end]) or len(text) <= end - start
        return rec

    async def keystroke(self, k: int, char: str, cancel_previous: bool) -> None:
        """Insert `char` at the cursor, maybe cancel the previous request, ask at the new cursor."""
        at = utf16_position(self.doc[:self.cursor])
        self.doc = self.doc[:self.cursor] + char + self.doc[self.cursor:]
        self.cursor += 1
        self.version += 1
        await self.conn.notify("textDocument/didChange", {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": char}]})
        if cancel_previous and self.pending:
            newest = next(reversed(self.pending.values()))
            newest.cancelled = True
            await self.conn.notify("$/cancelRequest", {"id": newest.id})
        msg_id = next(self.conn.ids)
        self.pending[msg_id] = Open(msg_id, k, self.version, time.perf_counter(),
                                    asyncio.get_running_loop().create_future())
        await self.conn.send({"id": msg_id, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": self.uri}, "position": utf16_position(self.doc[:self.cursor]),
            "context": {"triggerKind": 2}}})

    async def wait_below(self, n: int, timeout: float) -> None:
        """Until fewer than `n` requests are open (oldest first)."""
        while len(self.pending) >= max(n, 1):
            await asyncio.wait_for(asyncio.shield(next(iter(self.pending.values())).done), timeout)


async def storm_arm(args: argparse.Namespace, arm: str, scratch: Path) -> tuple[dict, list[dict]]:
    """One server, one storm; the arm's summary and per-request records."""
    env = {k: v for k, v in os.environ.items() if k not in CACHE_ENV}
    if arm != "default":
        onednn, _, ideep = arm.partition(":")
        env |= dict(zip(CACHE_ENV, (onednn, ideep or onednn)))
    prefix, typed, suffix = typing_plan(args.storm_source.read_text(encoding="utf-8"), args.keystrokes)
    err_path = scratch / f"storm-{arm}.stderr"
    with err_path.open("wb") as err:
        proc, _ = await spawn("stdio", args.model, stderr=err, env=env)
    conn = await connect("stdio", proc, None, args.load_timeout)
    t = Typist(conn, "file:///bench/pressure/storm.py", prefix + suffix, len(prefix))
    rng, samples, t0, pump = random.Random(args.seed), [], time.monotonic(), None
    try:
        await conn.initialize({"dllm": {"debounceMs": 0}}, args.load_timeout, args.request_timeout)
        await conn.notify("textDocument/didOpen", {"textDocument": {
            "uri": t.uri, "languageId": "python", "version": t.version, "text": t.doc}})
        pump = asyncio.ensure_future(t.pump())
        for k, char in enumerate(typed, 1):
            await t.wait_below(args.in_flight, args.request_timeout)
            await t.keystroke(k, char, rng.random() < args.cancel_rate)
            if k >= args.warmup and ((k - args.warmup) % args.every == 0 or k == len(typed)):
                await t.wait_below(1, args.request_timeout)  # quiet: no model work while reading RSS
                samples.append((k, rss_mb(proc.pid)))
                print(f"[storm {arm}] {k}/{len(typed)} keystrokes: RSS {samples[-1][1]:.0f} MB",
                      file=sys.stderr, flush=True)
            if args.interval_ms:
                await asyncio.sleep(args.interval_ms / 1e3)
        await t.wait_below(1, args.request_timeout)
        await stop_pump(pump)  # from here on `conn` reads its own answers
        stats = await conn.call("dllm/stats", {}, args.request_timeout)
    finally:
        await stop_pump(pump)
        await lsp_client.stop(conn, proc, 60)
    after = [r for r in t.records if r["k"] > args.warmup]
    kinds = Counter(r["kind"] for r in after)
    problems = stderr_problems(err_path.read_text(encoding="utf-8", errors="replace"))
    summary = {
        "arm": arm, **{k: (stats.get("model") or {}).get(k) for k in ("onednn_primitive_cache", "ideep_cache")},
        "rss_after_warmup_mb": samples[0][1], "rss_end_mb": samples[-1][1],
        "rss_mb_per_1000": slope_per_1000(samples),
        "rss_mb_per_1000_late": slope_per_1000([(k, mb) for k, mb in samples if 2 * k >= args.warmup + len(typed)]),
        "samples": [{"k": k, "rss_mb": round(mb, 1)} for k, mb in samples],
        "answered_latency_ms": common.percentiles([r["ms"] for r in after if r["kind"] == "answered"], (50, 95)),
        "counts": {kind: kinds[kind] for kind in ("answered", "empty", "cancelled", "error")},
        "shown": sum(r["shown"] for r in after), "stale": sum(r["stale"] for r in t.records),
        "results_after_cancel": sum(r["cancelled"] and r["kind"] == "answered" for r in t.records),
        "requests": len(t.records), "server": {"scheduler": stats.get("scheduler"), "cache": stats.get("cache")},
        "stderr_problems": {kind: len(lines) for kind, lines in problems.items()},
        "returncode": proc.returncode, "wall_s": round(time.monotonic() - t0, 1)}
    return summary, [{"part": "storm", "arm": arm, **r} for r in t.records]


async def stop_pump(pump: asyncio.Future | None) -> None:
    if pump is not None and not pump.done():
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)


def storm(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    arms, rows, records = [a for a in args.caches.split(",") if a], [], []
    with tempfile.TemporaryDirectory(prefix="bench-pressure-") as scratch:
        for r in range(args.storm_rounds):
            for arm in arms[r % len(arms):] + arms[:r % len(arms)]:  # the first arm rotates by round
                summary, recs = asyncio.run(storm_arm(args, arm, Path(scratch)))
                rows.append({"round": r, **summary})
                records += [{"round": r, **rec} for rec in recs]
    by_arm = {}
    for arm in arms:
        mine = [row for row in rows if row["arm"] == arm]
        medians = {k: common.percentile([row[k] for row in mine if row[k] is not None], 50) for k in (
            "rss_after_warmup_mb", "rss_mb_per_1000", "rss_mb_per_1000_late")}
        slope = medians["rss_mb_per_1000"]
        by_arm[arm] = {"rounds": mine, **medians, "stale": sum(row["stale"] for row in mine),
                       "target_met": slope is not None and slope <= TARGETS["rss_mb_per_1000"]}
    settings = {k: getattr(args, k) for k in ("keystrokes", "warmup", "every", "in_flight", "cancel_rate",
                                              "interval_ms", "storm_rounds", "seed")}
    return {"source": str(args.storm_source), "settings": settings, "arms": by_arm}, records


# ------------------------------------------------------------------------------------- contention


def worker(args: argparse.Namespace) -> None:
    """A policy's process: load, warm up, say `ready`; then for each `run` line on stdin time every hole
    once and answer with one JSON line. Only JSON goes to stdout."""
    import torch

    from . import backends

    channel = os.fdopen(os.dup(1), "w")  # the answers' own stdout; a stray print goes to stderr
    os.dup2(2, 1)

    backend = backends.make(f"dllm:{args.model or 'default'}")
    text = args.contention_source.read_text(encoding="utf-8")
    tok = latency.tokenizer_of(backend)
    cases = [latency.window(tok, h, args.context)
             for h in latency.pick(latency.single_holes(text), args.holes, args.seed)]
    for prefix, suffix in cases:
        backend.complete(prefix, suffix, "single", args.max_tokens)

    def say(obj: dict) -> None:
        channel.write(json.dumps(obj, default=str) + "\n")
        channel.flush()

    say({"ready": True, "torch_threads": torch.get_num_threads(), "info": backend.engine.info})
    for line in sys.stdin:
        if line.strip() != "run":
            break
        out = [backend.complete(prefix, suffix, "single", args.max_tokens) for prefix, suffix in cases]
        say({"ms": [s["latency_ms"] for _, s in out], "texts": [t for t, _ in out]})


def policy_env(policy: str, threads: int) -> dict:
    """The environment of a policy's worker: ours without thread settings, plus the policy's."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    env |= {"torch": {"OMP_NUM_THREADS": str(threads)}, "threads1": {"OMP_NUM_THREADS": "1"},
            "passive": {"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}, "engine": {}}[policy]
    return env


def torch_default_threads() -> int:
    """Torch's own intra-op thread count in a process without thread settings."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


class Worker:
    """One policy's process (`worker`), driven line by line over its stdin and stdout."""

    def __init__(self, policy: str, args: argparse.Namespace, threads: int) -> None:
        cmd = [sys.executable, "-m", "bench.pressure", "--worker", "--contention-source", str(args.contention_source),
               "--holes", str(args.holes), "--context", str(args.context), "--max-tokens", str(args.max_tokens),
               "--seed", str(args.seed), *(["--model", args.model] if args.model else [])]
        self.policy = policy
        self.proc = subprocess.Popen(cmd, cwd=common.REPO_ROOT, env=policy_env(policy, threads), text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.ready = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.policy} worker ended (exit {self.proc.wait()})")
        return json.loads(line)

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(30)


def busy(n: int) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.3 if procs else 0)  # running at full speed before the timing starts
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


def contention(args: argparse.Namespace) -> tuple[dict, list[dict]]:
    policies = [p for p in args.policies.split(",") if p]
    levels = [int(b) for b in args.busy.split(",")]
    threads = torch_default_threads()
    workers, records = {}, []
    try:
        for p in policies:
            workers[p] = Worker(p, args, threads)
            print(f"[contention] {p}: {workers[p].ready['torch_threads']} torch threads", file=sys.stderr, flush=True)
        for r in range(args.rounds):
            for b in levels[r % len(levels):] + levels[:r % len(levels)]:
                load = busy(b)
                try:
                    for p in policies[r % len(policies):] + policies[:r % len(policies)]:
                        got = workers[p].run()
                        records += [{"part": "contention", "round": r, "policy": p, "busy": b, "hole": i, "ms": ms,
                                     "text": text} for i, (ms, text) in enumerate(zip(got["ms"], got["texts"]))]
                        print(f"[contention r{r} busy={b}] {p}: p50 {common.percentile(got['ms'], 50):.1f} ms",
                              file=sys.stderr, flush=True)
                finally:
                    stop(load)
    finally:
        for w in workers.values():
            w.close()
    return contention_summary(records, policies, levels, workers, threads, args), records


def contention_summary(records: list[dict], policies: list[str], levels: list[int], workers: dict,
                       threads: int, args: argparse.Namespace) -> dict:
    def p50(policy: str, b: int) -> float | None:
        return common.percentile([r["ms"] for r in records if r["policy"] == policy and r["busy"] == b], 50)

    base = p50("torch", 0) if "torch" in policies and 0 in levels else None
    reference = {r["hole"]: r["text"] for r in records if r["policy"] == "torch"}
    out = {}
    for p in policies:
        idle = p50(p, 0) if 0 in levels else None
        cells = {str(b): p50(p, b) for b in levels}
        ratios = {str(b): cells[str(b)] / idle for b in levels if b and idle}
        mine = [r for r in records if r["policy"] == p and r["hole"] in reference]
        same = sum(r["text"] == reference[r["hole"]] for r in mine) / len(mine) if mine else None
        ready = workers[p].ready
        out[p] = {"torch_threads": ready["torch_threads"], "thread_policy": ready["info"].get("thread_policy"),
                  "p50_ms": cells, "ratio_to_idle": ratios, "idle_vs_torch": idle / base if idle and base else None,
                  "same_text_as_torch": same}
        limits = {"1": TARGETS["busy1"], "2": TARGETS["busy2"]}
        out[p]["targets_met"] = (all(ratios[b] <= limits[b] for b in limits if b in ratios)
                                 and (out[p]["idle_vs_torch"] or 0) <= TARGETS["idle_vs_torch"])
    return {"source": str(args.contention_source), "torch_default_threads": threads,
            "settings": {"holes": args.holes, "context": args.context, "max_tokens": args.max_tokens,
                         "rounds": args.rounds, "busy": levels, "seed": args.seed}, "policies": out}


# ------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="storm,contention", help="comma separated: storm, contention")
    p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="per-request JSONL (summary beside it)")
    s = p.add_argument_group("storm")
    s.add_argument("--storm-source", type=Path, default=STORM_SOURCE, help="the file typed into")
    s.add_argument("--keystrokes", type=int, default=2000)
    s.add_argument("--warmup", type=int, default=200, help="keystrokes before the first RSS sample")
    s.add_argument("--every", type=int, default=250, help="keystrokes between RSS samples")
    s.add_argument("--in-flight", type=int, default=2, help="most requests open at once")
    s.add_argument("--cancel-rate", type=float, default=0.3,
                   help="share of keystrokes that cancel the previous request")
    s.add_argument("--interval-ms", type=float, default=100.0, help="pause after each keystroke")
    s.add_argument("--caches", default="default,1024",
                   help="arms: 'default' (the engine's caps), N or N:M (oneDNN's and ideep's cache capacities)")
    s.add_argument("--storm-rounds", type=int, default=1, help="storms per arm, arms rotated by round")
    s.add_argument("--load-timeout", type=float, default=300.0)
    s.add_argument("--request-timeout", type=float, default=120.0)
    c = p.add_argument_group("contention")
    c.add_argument("--contention-source", type=Path, default=latency.DEFAULT_SOURCE, help="the holes' file")
    c.add_argument("--holes", type=int, default=30)
    c.add_argument("--context", type=int, default=1000, help="context tokens per hole")
    c.add_argument("--max-tokens", type=int, default=32)
    c.add_argument("--rounds", type=int, default=3, help="timed passes over the holes per (policy, busy)")
    c.add_argument("--busy", default="0,1,2", help="busy processes beside the engine, comma separated")
    c.add_argument("--policies", default="torch,threads1,passive,engine")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one policy's process
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    parts = [x for x in args.parts.split(",") if x]
    if set(parts) - {"storm", "contention"}:
        raise SystemExit(f"unknown part(s) in --parts {args.parts!r}")
    t0, summary, records = time.monotonic(), {"bench": "pressure", "model": args.model or "default"}, []
    if "storm" in parts:
        summary["storm"], recs = storm(args)
        records += recs
    if "contention" in parts:
        summary["contention"], recs = contention(args)
        records += recs
    summary |= {"targets": TARGETS, "wall_s": round(time.monotonic() - t0, 1),
                "out": str(args.out) if args.out else None, "stamp": common.stamp()}
    return common.report(summary, records, args.out)


if __name__ == "__main__":
    main()
