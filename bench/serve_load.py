"""Load on the team server: latency and completions per second at 1, 4 and 16 concurrent clients, over
real HTTP on localhost, for `dllm-serve` batched vs one infill at a time, and through Ray Serve.

Each arm is a real `python -m dllm_complete.serve` process on a free localhost port (the embedded
model, or --model): `batched` (--max-batch 16), `serial` (--max-batch 1: the same server answering
one infill at a time), and with --ray `ray1` / `ray2` (`--ray --replicas N`: one model per replica,
each replica batching its own requests; ray1's replica takes both cores, as the plain server's
threads do, ray2's replicas one each). All arms start first and stay up, idle between turns, and
the cells interleave them: round after round, each concurrency level, each arm in turn (the order
reversed every other round). A cell is closed-loop: C clients (httpx, one connection each) each send
--per-client requests one after another to `POST /infill`, llama.vscode's shape, on single-line holes
of a stdlib file (`bench.latency`: the right-hand sides of assignments in argparse.py). Per cell:
p50/p95 latency (request to response), completions per second (answered / wall time), errors.
Reported per (arm, clients): medians over rounds; the batched/serial throughput ratio at each level,
batched p95 at 16 clients over its p95 at 1, and the Ray Serve overhead: ray1's p50 minus batched's
p50, on --empty sequential requests that generate nothing (`n_predict` 0: HTTP, validation, routing)
each round, and on infills at 1 client (same model, same machine, noisier). Everything is bounded in count and time.

    python -m bench.serve_load --out bench/results/serve-load.jsonl
    python -m bench.serve_load --clients 1,4,16 --rounds 3 --per-client 8 --ray
    python -m bench.serve_load --prefix-chars 400 --suffix-chars 130 --out bench/results/serve-load-short.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from . import common, latency, serve_client
from .lsp_client import free_port

ARMS = {"batched": ["--max-batch", "16"], "serial": ["--max-batch", "1"],
        "ray1": ["--ray", "--replicas", "1", "--replica-cpus", "2"], "ray2": ["--ray", "--replicas", "2"]}


def holes(n: int, seed: int = 0, prefix_chars: int = 6000, suffix_chars: int = 2000) -> list[dict]:
    """n /infill bodies at single-line holes of argparse.py, as llama.vscode sends them (the cursor's
    line before the cursor as `prompt`; whole lines of context up to the given characters)."""
    text = latency.DEFAULT_SOURCE.read_text()
    bodies = []
    for hole in latency.pick(latency.single_holes(text), n, seed):
        line_start = hole.prefix.rfind("\n") + 1
        before = hole.prefix[max(0, line_start - prefix_chars):line_start]
        after = hole.suffix[:suffix_chars]
        bodies.append({"input_prefix": before[before.find("\n") + 1:] if len(before) == prefix_chars else before,
                       "prompt": hole.prefix[line_start:], "input_suffix": after[:after.rfind("\n") + 1] or after,
                       "n_predict": 128, "n_cmpl": 1, "cache_prompt": True, "samplers": ["top_k", "top_p", "infill"],
                       "language": "python"})
    return bodies


def haproxy_env(arm: str) -> dict:
    """Files and ports of Serve's HAProxy ingress for one Ray instance of its own (two arms' instances
    on one machine would share the defaults)."""
    base = Path(tempfile.mkdtemp(prefix=f"haproxy-{arm}-"))
    return {"RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(base / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(base / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(base),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(base / "server-state"),
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(base / "metrics.sock"),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()), "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port())}


def start(arm: str, model: str | None, load_s: float) -> tuple[subprocess.Popen, str]:
    proc, url = serve_client.spawn(*ARMS[arm], *(["--model", model] if model else []),
                                   env=haproxy_env(arm) if arm.startswith("ray") else None)
    try:
        serve_client.wait_healthy(url, load_s, proc)
    except RuntimeError as exc:
        proc.kill()
        raise RuntimeError(f"{arm}: {exc}") from None
    return proc, url


async def client(url: str, bodies: list[dict], n: int, offset: int, deadline: float, timeout: float) -> list[dict]:
    rows = []
    async with httpx.AsyncClient(base_url=url, timeout=timeout, headers={"X-Client-Id": f"bench-{offset}"}) as http:
        for i in range(n):
            if time.monotonic() > deadline:
                break
            hole = (offset + i) % len(bodies)
            t0 = time.perf_counter()
            try:
                r = await http.post("/infill", json=bodies[hole])
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            rows.append({"ms": (time.perf_counter() - t0) * 1e3, "ok": ok, "hole": hole,
                         "content": r.json()["content"] if ok else None})
    return rows


async def cell(url: str, bodies: list[dict], clients: int, per_client: int, cell_s: float, timeout: float) -> dict:
    deadline = time.monotonic() + cell_s
    t0 = time.perf_counter()
    results = await asyncio.gather(*(client(url, bodies, per_client, k * per_client, deadline, timeout)
                                     for k in range(clients)))
    wall = time.perf_counter() - t0
    rows = [r for rs in results for r in rs]
    answered = [r["ms"] for r in rows if r["ok"]]
    return {"answers": {r["hole"]: r["content"] for r in rows if r["ok"]},
            "requests": len(rows), "errors": len(rows) - len(answered), "wall_s": round(wall, 3),
            "per_s": round(len(answered) / wall, 2) if wall else None,
            "p50_ms": common.percentile(answered, 50), "p95_ms": common.percentile(answered, 95)}


async def overhead(url: str, n: int, timeout: float) -> float | None:
    """p50 ms of n sequential `/infill` requests that generate nothing (n_predict 0, a client's cache
    warm-up): the HTTP path, validation and routing without the model."""
    body = {"input_prefix": "x = 1\n", "input_suffix": "\n", "n_predict": 0}
    times = []
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        for _ in range(n):
            t0 = time.perf_counter()
            if (await http.post("/infill", json=body)).status_code == 200:
                times.append((time.perf_counter() - t0) * 1e3)
    return common.percentile(times, 50)


def median(values: list[float | None]) -> float | None:
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def summarize(records: list[dict], arms: list[str], levels: list[int]) -> dict:
    table = {}
    for arm in arms:
        for c in levels:
            rows = [r for r in records if r["arm"] == arm and r["clients"] == c]
            table[f"{arm}/{c}"] = {key: median([r[key] for r in rows]) for key in ("per_s", "p50_ms", "p95_ms")}
            table[f"{arm}/{c}"]["errors"] = sum(r["errors"] for r in rows)

    def ratio(a, b):
        return round(a / b, 2) if a is not None and b else None
    out = {"cells": table, "same_answers": agreement(records, arms)}
    if {"batched", "serial"} <= set(arms):
        out["throughput_batched_over_serial"] = {c: ratio(table[f"batched/{c}"]["per_s"], table[f"serial/{c}"]["per_s"])
                                                 for c in levels}
    if "batched" in arms and levels:
        hi, lo = max(levels), min(levels)
        out[f"batched_p95_{hi}_over_p95_{lo}"] = ratio(table[f"batched/{hi}"]["p95_ms"],
                                                       table[f"batched/{lo}"]["p95_ms"])
    empty = {arm: median([r["p50_ms"] for r in records if r["arm"] == arm and r["clients"] == 0]) for arm in arms}
    out["empty_request_p50_ms"] = empty
    if {"batched", "ray1"} <= set(arms) and levels:
        lo = min(levels)
        a, b = table[f"ray1/{lo}"]["p50_ms"], table[f"batched/{lo}"]["p50_ms"]
        out["ray_overhead_p50_ms"] = {  # through the proxy and a replica handle, per request
            "empty_request": round(empty["ray1"] - empty["batched"], 2) if empty["ray1"] and empty["batched"] else None,
            f"infill_{lo}_client": round(a - b, 2) if a is not None and b is not None else None}
    return out


def agreement(records: list[dict], arms: list[str]) -> dict:
    """Per arm: the share of holes it answered as the serial arm did (greedy; batching in bf16 may
    flip a near tie), and how many holes it answered differently from one request to another."""
    answers: dict[str, dict[int, set]] = {arm: {} for arm in arms}
    for rec in records:
        for hole, content in rec["answers"].items():
            answers[rec["arm"]].setdefault(int(hole), set()).add(content)
    out = {}
    for arm in arms:
        mine, theirs = answers[arm], answers.get("serial", {})
        common_holes = [h for h in mine if h in theirs]
        out[arm] = {"holes": len(mine), "unstable": sum(len(v) > 1 for v in mine.values()),
                    "as_serial": (round(sum(mine[h] == theirs[h] for h in common_holes) / len(common_holes), 3)
                                  if common_holes and arm != "serial" else None)}
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", default="batched,serial", help=f"comma separated: {','.join(ARMS)}")
    p.add_argument("--ray", action="store_true", help="add the Ray Serve arms ray1 and ray2")
    p.add_argument("--clients", default="1,4,16", help="concurrency levels")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--per-client", type=int, default=8, help="requests per client per cell")
    p.add_argument("--empty", type=int, default=50, help="requests per round that generate nothing (overhead)")
    p.add_argument("--holes", type=int, default=64, help="distinct holes the clients cycle through")
    p.add_argument("--prefix-chars", type=int, default=6000, help="context before the cursor's line (whole lines)")
    p.add_argument("--suffix-chars", type=int, default=2000, help="context after the cursor (whole lines)")
    p.add_argument("--cell-s", type=float, default=120.0, help="a cell stops sending after this long")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds for one response")
    p.add_argument("--load-s", type=float, default=300.0, help="seconds for a server to become healthy")
    p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    p.add_argument("--out", type=Path, default=None, help="per-cell JSONL (summary beside it)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    arms = [a for a in args.arms.split(",") if a] + (["ray1", "ray2"] if args.ray else [])
    if unknown := set(arms) - set(ARMS):
        raise SystemExit(f"unknown arm(s): {', '.join(sorted(unknown))}")
    levels = [int(c) for c in args.clients.split(",") if c]
    bodies = holes(args.holes, prefix_chars=args.prefix_chars, suffix_chars=args.suffix_chars)
    servers = {}
    t0 = time.monotonic()
    try:
        for arm in arms:
            servers[arm] = start(arm, args.model, args.load_s)
        for _, url in servers.values():  # a warm-up cell each, not recorded
            asyncio.run(cell(url, bodies, 2, 2, args.cell_s, args.timeout))
        records = []
        for r in range(args.rounds):
            for arm in (arms if r % 2 == 0 else arms[::-1]):
                records.append({"round": r, "clients": 0, "arm": arm, "answers": {}, "errors": 0, "per_s": None,
                                "p50_ms": asyncio.run(overhead(servers[arm][1], args.empty, args.timeout))})
            for c in levels:
                for arm in (arms if r % 2 == 0 else arms[::-1]):
                    rec = {"round": r, "clients": c, "arm": arm,
                           **asyncio.run(cell(servers[arm][1], bodies, c, args.per_client, args.cell_s, args.timeout))}
                    records.append(rec)
                    print(f"[round {r} clients {c} {arm}] {rec['per_s']}/s p50 {rec['p50_ms']:.0f} ms "
                          f"p95 {rec['p95_ms']:.0f} ms errors {rec['errors']}", file=sys.stderr, flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    summary = {"bench": "serve_load", "arms": arms, "clients": levels, "rounds": args.rounds,
               "context_chars": [args.prefix_chars, args.suffix_chars],
               "per_client": args.per_client, "model": args.model or "default", "cores": common.cpu_cores(),
               **summarize(records, arms, levels), "wall_s": round(time.monotonic() - t0, 1),
               "stamp": common.stamp()}
    return common.report(summary, records, args.out)


if __name__ == "__main__":
    main()
