"""Latency of one completion: in process through a backend, and end to end through the LSP server.

Holes come from a real Python file (the stdlib's argparse.py by default): single-line holes are the
right-hand sides of assignments (cursor after `name = `), multi-line holes are the first lines of a
function body (cursor on the emptied line after `def ...:`). Each hole is cut to a context budget
with the engine's own trimming (`dllm.canvas.build_context`), so both paths see the same tokens.

Measured per (mode, context size): p50/p95/p99 latency, model calls (nfe) and tokens per call; through
`python -m dllm_complete.lsp_server` over stdio with a small JSON-RPC client (didOpen, then
inlineCompletion, timed from request to response). Also, for the diffusion engine: cached vs uncached
latency at the same output, load time and peak memory of a fresh process serving the largest case, and
`from dllm_complete import dllm` time (both in subprocesses). Warm-up runs come first; the JSON summary
is the last stdout line.

    python -m bench.latency --model runs/dllm-code-small/model --n 30 --out bench/results/latency.jsonl
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import json
import random
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import backends, common, lsp_client

PROG = "python -m bench.latency"  # usage errors and notes on stderr, and argparse's own

DEFAULT_SOURCE = Path(argparse.__file__)
ASSIGN = re.compile(r"^(\s*[A-Za-z_][\w.]*(?:\[[^\]\n]*\])? = )(\S.*)$")
DEF = re.compile(r"^(\s*)(async\s+)?def\s.*:\s*$")


@dataclass(frozen=True)
class Hole:
    prefix: str
    suffix: str
    target: str
    line: int  # 0-based line of the cursor in the source file


# ------------------------------------------------------------------------------------------ holes


def _one_line_expression(text: str) -> bool:
    if "#" in text or len(text) > 80 or text.rstrip().endswith(("(", "[", "{", "\\", ",")):
        return False
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True


def single_holes(text: str) -> list[Hole]:
    """Cursor after `name = `; the hidden middle is the rest of that (one-line) statement."""
    holes, offset = [], 0
    for i, line in enumerate(text.splitlines(keepends=True)):
        body = line.rstrip("\n")
        m = ASSIGN.match(body)
        if m and _one_line_expression(m.group(2)):
            holes.append(Hole(text[:offset + len(m.group(1))], text[offset + len(body):], m.group(2), i))
        offset += len(line)
    return holes


def multi_holes(text: str, hidden: int = 3) -> list[Hole]:
    """Cursor on the first body line of a one-line `def` header; up to `hidden` body lines removed."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    holes = []
    for i, line in enumerate(lines[:-1]):
        m = DEF.match(line.rstrip("\n"))
        if not m:
            continue
        body = lines[i + 1]
        indent = body[:len(body) - len(body.lstrip(" \t"))]
        if len(indent) <= len(m.group(1)) or body.lstrip().startswith(("'", '"', "#")) or not body.strip():
            continue
        end = i + 1
        while end < len(lines) and end < i + 1 + hidden and lines[end].startswith(indent) and lines[end].strip():
            end += 1
        target = "".join(lines[i + 1:end])[len(indent):].rstrip("\n")
        holes.append(Hole(text[:starts[i + 1]] + indent, "\n" + text[starts[end]:], target, i + 1))
    return holes


def pick(holes: list[Hole], n: int, seed: int) -> list[Hole]:
    """A fixed-seed sample of n holes from the middle 80% of the file (so context exists both sides)."""
    lo, hi = len(holes) // 10, len(holes) - len(holes) // 10
    pool = holes[lo:hi] or holes
    keep = sorted(random.Random(seed).sample(range(len(pool)), min(n, len(pool))))
    return [pool[i] for i in keep]


def window(tokenizer, hole: Hole, budget: int) -> tuple[str, str]:
    """The hole's prefix and suffix cut to `budget` tokens, as the engine itself would cut them."""
    from dllm_complete.dllm.canvas import build_context

    ctx = build_context(tokenizer, hole.prefix, hole.suffix, budget)
    return ctx.prefix_text + ctx.typed, ctx.suffix_text


def tokenizer_of(backend) -> object:
    return getattr(backend, "tokenizer", None) or backend.engine.tokenizer


# ------------------------------------------------------------------------------------ in process


def run_engine(backend, cases: list[tuple[str, str]], mode: str, max_tokens: int, warmup: int) -> list[dict]:
    for prefix, suffix in cases[:warmup]:
        backend.complete(prefix, suffix, mode, max_tokens)
    out = []
    for i, (prefix, suffix) in enumerate(cases):
        text, stats = backend.complete(prefix, suffix, mode, max_tokens)
        keep = ("latency_ms", "nfe", "tokens", "steps", "context_tokens")
        out.append({"i": i, "text": text, **{k: stats[k] for k in keep}})
    return out


def cell_summary(rows: list[dict]) -> dict:
    lat = [r["latency_ms"] for r in rows]
    summary = {"n": len(rows), "latency_ms": {**common.percentiles(lat), "mean": common.mean(lat)},
               "empty": sum(not r["text"].strip() for r in rows)}
    if rows and "nfe" in rows[0]:
        nfe, tokens = sum(r["nfe"] for r in rows), sum(r["tokens"] for r in rows)
        summary.update(nfe_mean=nfe / len(rows), tokens_mean=tokens / len(rows),
                       tokens_per_call=tokens / nfe if nfe else None,
                       context_tokens_mean=common.mean(r["context_tokens"] for r in rows))
    return summary


def cache_ratio(backend, cases: list[tuple[str, str]], mode: str, max_tokens: int, warmup: int) -> dict:
    """Cached vs uncached KV: latency of each, ratio of p50s, and how often the outputs are equal."""
    spec = backends.parse_spec(backend.spec)
    on, off = (backends.EngineBackend(dataclasses.replace(spec, params={**spec.params, "cache": flag}),
                                      backend.engine) for flag in ("1", "0"))
    for prefix, suffix in cases[:warmup]:
        on.complete(prefix, suffix, mode, max_tokens), off.complete(prefix, suffix, mode, max_tokens)
    pairs = []
    for prefix, suffix in cases:  # interleaved, so drifting machine load hits both alike
        a, sa = on.complete(prefix, suffix, mode, max_tokens)
        b, sb = off.complete(prefix, suffix, mode, max_tokens)
        pairs.append((sa["latency_ms"], sb["latency_ms"], a == b, sa["nfe"], sb["nfe"]))
    same = [p for p in pairs if p[2]]

    def p50(xs):
        return common.percentile(list(xs), 50)

    def ratio(ps):
        return p50(p[1] for p in ps) / p50(p[0] for p in ps) if ps else None

    return {"n": len(pairs), "equal_outputs": len(same) / len(pairs) if pairs else None,
            "cached_p50_ms": p50(p[0] for p in pairs), "uncached_p50_ms": p50(p[1] for p in pairs),
            "ratio_p50": ratio(pairs), "ratio_p50_equal_outputs": ratio(same),
            "ratio_per_hole_p50": p50(p[1] / p[0] for p in pairs),
            "nfe_mean_cached": common.mean(p[3] for p in pairs),
            "nfe_mean_uncached": common.mean(p[4] for p in pairs)}


# ---------------------------------------------------------------------------------- LSP over stdio

LSP_LOAD_TIMEOUT_S, LSP_REQUEST_TIMEOUT_S = 300.0, 120.0


async def lsp_complete(conn: lsp_client.Conn, uri: str, prefix: str, suffix: str) -> tuple[str, float]:
    """didOpen a document, ask for an inline completion at the cursor; (first item text, ms from sending
    the request to reading its response)."""
    await conn.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                                "text": prefix + suffix}})
    params = {"textDocument": {"uri": uri}, "position": lsp_client.utf16_position(prefix),
              "context": {"triggerKind": 2}}
    t0 = time.perf_counter()
    msg = await conn.request("textDocument/inlineCompletion", params, LSP_REQUEST_TIMEOUT_S)
    ms = (time.perf_counter() - t0) * 1e3
    if "error" in msg:
        raise RuntimeError(f"textDocument/inlineCompletion failed: {msg['error']}")
    await conn.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    result = msg.get("result")
    items = (result or {}).get("items", []) if isinstance(result, dict) else (result or [])
    return (items[0].get("insertText", "") if items else ""), ms


def lsp_settings(spec: backends.Spec, max_tokens: dict) -> dict:
    """Server settings that make it do what the in-process backend does (no context cut of its own)."""
    return {"sampler": backends.sampler_overrides(spec), "syntax": backends.syntax_on(spec),
            "scope": backends.scope_on(spec),
            "maxTokensSingle": max_tokens["single"],
            "maxTokensMulti": max_tokens["multi"], "prefixTokens": 65536, "suffixTokens": 65536,
            "alternatives": 1, "debounceMs": 0, "maxLines": 1000}


def run_lsp(spec: backends.Spec, cases: dict, max_tokens: dict, warmup: int,
            log_file: str | None = None) -> tuple[dict, dict]:
    """Per (mode, context) rows through the server, and the server's own counters at the end."""
    return asyncio.run(_run_lsp(spec, cases, max_tokens, warmup, log_file))


async def _run_lsp(spec: backends.Spec, cases: dict, max_tokens: dict, warmup: int,
                   log_file: str | None) -> tuple[dict, dict]:
    proc, _ = await lsp_client.spawn("stdio", spec.model, *(["--log-file", log_file] if log_file else []))
    conn = await lsp_client.connect("stdio", proc, None, LSP_LOAD_TIMEOUT_S)
    rows: dict = {}
    try:
        await conn.initialize(lsp_settings(spec, max_tokens), LSP_LOAD_TIMEOUT_S, LSP_REQUEST_TIMEOUT_S)
        for mode, by_ctx in cases.items():
            await conn.notify("workspace/didChangeConfiguration", {"settings": {"dllm": {"mode": mode}}})
            for budget, pairs in by_ctx.items():
                for k, (prefix, suffix) in enumerate(pairs[:warmup]):
                    await lsp_complete(conn, f"file:///bench/warmup-{mode}-{budget}-{k}.py", prefix, suffix)
                rows[mode, budget] = []
                for i, (prefix, suffix) in enumerate(pairs):
                    text, ms = await lsp_complete(conn, f"file:///bench/{mode}-{budget}-{i}.py", prefix, suffix)
                    rows[mode, budget].append({"i": i, "text": text, "latency_ms": ms})
        stats = await conn.call("dllm/stats", {}, LSP_REQUEST_TIMEOUT_S)
    finally:
        await lsp_client.stop(conn, proc, 10)
    return rows, stats


# --------------------------------------------------------------------------------- subprocesses

_PROBE = """
import json, resource, sys, time
t0 = time.perf_counter(); from dllm_complete import dllm; t1 = time.perf_counter()
dllm.Engine; t2 = time.perf_counter()
out = {"import_dllm_s": t1 - t0, "import_dllm_engine_s": t2 - t0}
if len(sys.argv) > 1:  # then also: load the backend, serve the case twice, report memory
    from bench import backends
    case = json.loads(sys.stdin.read())
    b = backends.make(case["spec"])
    out["load_s"] = time.perf_counter() - t0
    with open("/proc/self/statm") as f:
        out["rss_after_load_mb"] = int(f.read().split()[1]) * resource.getpagesize() / 2**20
    for _ in range(2):
        b.complete(case["prefix"], case["suffix"], case["mode"], case["max_tokens"])
        out.setdefault("first_completion_s", time.perf_counter() - t0)
    try:  # this process's own high-water mark (ru_maxrss outlives execve: it would count the parent at fork)
        with open("/proc/self/status") as f:
            out["peak_rss_mb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
    except OSError:
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import torch
    if torch.cuda.is_available():
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(out))
"""


def _probe(case: dict | None) -> dict:
    """Run the probe in a fresh interpreter (import times; with a case, also its load time and peak memory).
    Its cwd is the repository root, which `python -c` puts first on sys.path: `bench` imports from there."""
    args = ["serve"] if case else []
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], input=json.dumps(case) if case else "",
                         cwd=common.REPO_ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def probes(repeats: int, case: dict | None) -> tuple[dict | None, dict | None]:
    """(import times: medians over `repeats` fresh processes; cold start and peak memory of the first one serving
    `case`)."""
    runs = [_probe(case if i == 0 else None) for i in range(max(repeats, 1 if case else 0))]
    memory = None
    if case:
        memory = {k: runs[0][k] for k in ("load_s", "first_completion_s", "rss_after_load_mb", "peak_rss_mb",
                                           "cuda_peak_mb") if k in runs[0]}
        memory["case"] = f"{case['mode']}, {len(case['prefix']) + len(case['suffix'])} chars"
    runs = runs[:repeats]
    imports = {k: common.percentile([r[k] for r in runs], 50) for k in ("import_dllm_s", "import_dllm_engine_s")}
    return ({**imports, "repeats": repeats} if runs else None), memory


# ------------------------------------------------------------------------------------------ main


def targets(summary: dict) -> dict:
    """The engine issue's targets, read off the largest context measured."""
    eng, top = summary["engine"], str(max(summary["settings"]["contexts"]))
    single = eng.get("single", {}).get(top)
    cache = (summary.get("cache") or {}).get("multi") or (summary.get("cache") or {}).get("single")
    imp = summary.get("import") or {}
    checks = {
        "single_p50_under_60ms": single and single["latency_ms"]["p50"] < 60,
        "single_tokens_per_call_at_least_3": single and (single["tokens_per_call"] or 0) >= 3,
        "cache_at_least_2x": cache and cache["ratio_p50"] is not None and cache["ratio_p50"] >= 2,
        "import_dllm_under_1s": None if imp.get("import_dllm_s") is None else imp["import_dllm_s"] < 1,
    }
    return {k: (bool(v) if v is not None else None) for k, v in checks.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default", help="checkpoint directory, or 'default'")
    p.add_argument("--backend", default=None, help="backend spec (default dllm:<model>); see backends.py")
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="Python file the holes come from")
    p.add_argument("--contexts", default="250,500,1000", help="context budgets in tokens, comma separated")
    p.add_argument("--modes", default="single,multi")
    p.add_argument("--n", type=int, default=30, help="holes per (mode, context)")
    p.add_argument("--warmup", type=int, default=2, help="untimed completions per (mode, context) and path")
    p.add_argument("--max-tokens-single", type=int, default=32)
    p.add_argument("--max-tokens-multi", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-lsp", action="store_true", help="skip the end-to-end LSP measurement")
    p.add_argument("--no-cache-ratio", action="store_true", help="skip cached vs uncached")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    p.add_argument("--lsp-log", default=None, metavar="PATH", help="the server's JSON log (default: none)")
    p.add_argument("--import-repeats", type=int, default=3, help="0 skips the import-time measurement")
    p.add_argument("--out", type=Path, default=None,
                   help="per-completion JSONL, summary beside it in <out>.summary.json (for plots.py)")
    return p.parse_args(argv)


def measure_engine(backend, cases: dict, max_tokens: dict, warmup: int) -> tuple[dict, list[dict]]:
    """{mode: {context: cell summary}} in process, and the per-completion records."""
    engine, records = {}, []
    for mode, by_ctx in cases.items():
        engine[mode] = {}
        for c, pairs in by_ctx.items():
            rows = run_engine(backend, pairs, mode, max_tokens[mode], warmup)
            engine[mode][str(c)] = cell_summary(rows)
            records += [{"path": "engine", "mode": mode, "context": c, **r} for r in rows]
            print(f"engine {mode:6} ctx={c:5}: p50 {engine[mode][str(c)]['latency_ms']['p50']:.1f} ms",
                  file=sys.stderr)
    return engine, records


def measure_lsp(spec: backends.Spec, cases: dict, max_tokens: dict, warmup: int, engine: dict,
                log_file: str | None) -> tuple[dict, dict, list[dict]]:
    """{mode: {context: cell summary + overhead over the engine}}, the server's counters, the records."""
    rows, server_stats = run_lsp(spec, cases, max_tokens, warmup, log_file)
    lsp, records = {m: {} for m in cases}, []
    for (mode, c), rs in rows.items():
        cell = lsp[mode][str(c)] = cell_summary(rs)
        cell["overhead_p50_ms"] = cell["latency_ms"]["p50"] - engine[mode][str(c)]["latency_ms"]["p50"]
        records += [{"path": "lsp", "mode": mode, "context": c, **r} for r in rs]
    return lsp, server_stats, records


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    try:
        spec = backends.parse_spec(args.backend or f"dllm:{args.model}")
    except ValueError as exc:
        raise common.usage_error(PROG, str(exc)) from None
    if spec.kind in backends.HTTP_PARAMS:
        raise common.usage_error(PROG, "measures our engines (dllm:, ar:, hf:); "
                                 "compare servers over HTTP with python -m bench.arena")
    loading = sorted(set(spec.params) & backends.LOAD_PARAMS)
    if loading and spec.kind != "hf" and not args.no_lsp:  # dllm-lsp loads as dllm.load decides: not comparable
        raise common.usage_error(PROG, f"{', '.join(loading)} cannot be given to the language "
                                 "server's arm; add --no-lsp")
    contexts = [int(c) for c in args.contexts.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    max_tokens = {"single": args.max_tokens_single, "multi": args.max_tokens_multi}
    backend = backends.make(spec)
    text, tok = args.source.read_text(encoding="utf-8"), tokenizer_of(backend)
    finders = {"single": single_holes, "multi": multi_holes}
    cases = {m: {c: [window(tok, h, c) for h in pick(finders[m](text), args.n, args.seed)] for c in contexts}
             for m in modes}
    engine, records = measure_engine(backend, cases, max_tokens, args.warmup)
    cache = lsp = server_stats = case = None
    if spec.kind == "dllm" and not args.no_cache_ratio:
        cache = {m: cache_ratio(backend, cases[m][max(contexts)], m, max_tokens[m], args.warmup) for m in modes}
    if spec.kind != "hf" and not args.no_lsp:  # the server runs our engines only
        lsp, server_stats, more = measure_lsp(spec, cases, max_tokens, args.warmup, engine, args.lsp_log)
        records += more
    if not args.no_memory:
        big = "multi" if "multi" in modes else modes[0]
        prefix, suffix = cases[big][max(contexts)][0]
        case = {"spec": spec.text, "prefix": prefix, "suffix": suffix, "mode": big, "max_tokens": max_tokens[big]}
    imports, memory = probes(args.import_repeats, case)
    summary = {
        "bench": "latency", "backend": backend.info, "source": str(args.source),
        "settings": {"contexts": contexts, "modes": modes, "n": args.n, "warmup": args.warmup,
                     "max_tokens": max_tokens, "seed": args.seed},
        "engine": engine, "lsp": lsp, "lsp_server_stats": server_stats, "cache": cache, "memory": memory,
        "import": imports, "bench_process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "out": str(args.out) if args.out else None, "stamp": common.stamp(),
    }
    summary["targets"] = targets(summary)
    return common.report(summary, records, args.out)


if __name__ == "__main__":
    main()
