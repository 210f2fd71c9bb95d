"""Copilot-Arena-style comparison: several completion backends on the same HumanEval-infilling holes.

For every split and backend: latency p50/p95 and pass@1 (plus exact match, syntax-valid rate, model
calls); for every pair of backends: win/tie/loss on correctness and the latency the user waits for
when the two suggestions are shown together (the slower of the two, per hole); the speed-quality
frontier (backends no other one beats on both p50 latency and pass@1); and each backend against a
reference (the AR twin by default): p50 speed-up and pass@1 difference.

Backends are loaded once (one model per checkpoint directory, shared by all sampler settings) and
run interleaved hole by hole, in rotating order, so a drift in machine load hits all of them alike.
All completions are generated first and scored afterwards (sandboxed, `humaneval.score_many`,
each distinct completion once). Writes one JSON line per (backend, task) to --out, the summary to
<out>.summary.json, and prints the summary as the last stdout line.

One backend on one split is the plain HumanEval-infilling evaluation: every hole when --limit is left
out; `?syntax=1` gives the AR twin the syntax constraint the diffusion engine has on by default.

    python -m bench.arena --limit 40 --out bench/results/arena.jsonl
    python -m bench.arena --backend 'fast@dllm:default?threshold=0.5' --backend ar:dllm/weights/ar-code-small
    python -m bench.arena --backend dllm:default --split single-line --out r.jsonl
    python -m bench.arena --backend 'ar:dllm/weights/ar-code-small?syntax=1' --split multi-line --limit 500
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from . import backends as backends_mod
from . import common, humaneval

PROG = "python -m bench.arena"  # usage errors and notes on stderr, and argparse's own

DEFAULT_AR_MODEL = common.REPO_ROOT / "dllm" / "weights" / "ar-code-small"
DLLM_SETTINGS = [  # (label, query): the diffusion engine's knobs, one change at a time from the default
    ("dllm t=0.9", "threshold=0.9"),
    ("dllm t=0.7", "threshold=0.7"),
    ("dllm t=0.5", "threshold=0.5"),
    ("dllm t=0.9 no-syntax", "threshold=0.9&syntax=0"),
    ("dllm t=0.9 one block", "threshold=0.9&block=0"),
    ("dllm t=0.9 steps=8", "threshold=0.9&steps=8"),
    ("dllm t=0.9 steps=32", "threshold=0.9&steps=32"),
    ("dllm t=0.9 ordered-end", "threshold=0.9&ordered=1"),
    ("dllm t=0.9 non-empty", "threshold=0.9&empty=0"),
]


def default_specs(dllm_model: str, ar_model: str) -> list[str]:
    specs = [f"{label}@dllm:{dllm_model}?{query}" for label, query in DLLM_SETTINGS]
    return specs + [f"ar@ar:{ar_model}?syntax=1", f"ar lookup@ar:{ar_model}?syntax=1&draft=8",
                    f"hf generate@hf:{ar_model}?syntax=1"]


# ------------------------------------------------------------------------------------ generation


def generate(backend, problem: dict, mode: str, max_tokens: int | None, fail_fast: bool = False) -> dict:
    try:
        text, stats = backend.complete(problem["prompt"], problem["suffix"], mode, max_tokens)
        return {"completion": text, "latency_ms": stats["latency_ms"], "nfe": stats["nfe"],
                "tokens": stats["tokens"], "steps": stats["steps"], "timings_ms": stats.get("timings_ms"),
                "remasked": stats.get("remasked"), "scope_remasked": stats.get("scope_remasked"),
                "scope_cut": stats.get("scope_cut"), "scope_ms": stats.get("scope_ms"), "error": None}
    except Exception as exc:  # one broken problem must not end a long run
        if fail_fast:
            raise
        traceback.print_exc(file=sys.stderr)
        return {"completion": "", "latency_ms": None, "nfe": None, "tokens": None, "steps": None,
                "timings_ms": None, "error": f"{type(exc).__name__}: {exc}"}


def run_split(split: str, problems: list[dict], backends: list, max_tokens: int | None, warmup: int,
              mode: str | None = None, fail_fast: bool = False) -> list[dict]:
    """Completions of every backend on every problem (records without verdicts yet); `mode` defaults
    to the split's (`humaneval.default_mode`)."""
    mode = mode or humaneval.default_mode(split)
    for b in backends:
        for p in problems[:warmup]:
            generate(b, p, mode, max_tokens, fail_fast)  # untimed; a failure shows again on the holes
    rows = []
    for j, p in enumerate(tqdm(problems, desc=f"arena {split}", file=sys.stderr, dynamic_ncols=True)):
        for k in range(len(backends)):
            b = backends[(j + k) % len(backends)]
            rows.append({"split": split, "mode": mode, "backend": b.label, "spec": b.spec, "task_id": p["task_id"],
                         **generate(b, p, mode, max_tokens, fail_fast)})
    return rows


def score_rows(rows: list[dict], problems: dict, timeout_s: float, workers: int) -> None:
    """Add the sandbox verdict to every row; each distinct (task, completion) is executed once. A row whose
    backend failed is not executed: it fails (its empty text could pass a hole that wants nothing)."""
    answered = [r for r in rows if r["error"] is None]
    for r in rows:
        if r["error"] is not None:
            r.update(passed=False, result="backend_error", exact_match=False, syntax_valid=False, detail=r["error"])
    rows = answered
    keys = sorted({(r["task_id"], r["completion"]) for r in rows})
    with tqdm(total=len(keys), desc="score", file=sys.stderr, dynamic_ncols=True) as bar:
        verdicts = humaneval.score_many([problems[t] for t, _ in keys], [c for _, c in keys], timeout_s=timeout_s,
                                        workers=workers, on_done=lambda _: bar.update())
    by_key = dict(zip(keys, verdicts))
    for r in rows:
        v = by_key[r["task_id"], r["completion"]]
        r.update(passed=v["passed"], result=v["result"], exact_match=v["exact_match"],
                 syntax_valid=v["syntax_valid"], detail=v["detail"])


# --------------------------------------------------------------------------------------- summary


def _rate(rows: list[dict], key: str) -> float | None:
    return common.mean(float(bool(r[key])) for r in rows)


def backend_stats(rows: list[dict]) -> dict:
    """Per backend label: n, pass@1, exact match, syntax-valid rate, the share of empty completions and the
    passes that were empty (a hole whose tests pass without its line), latency p50/p95/mean, nfe,
    tokens; `results` counts the test verdicts, `backend_error` where the backend gave no completion."""
    out = {}
    for label in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == label]
        ok = [r for r in mine if r["error"] is None]
        lat = [r["latency_ms"] for r in ok]
        out[label] = {"n": len(mine), "pass@1": _rate(mine, "passed"), "exact_match": _rate(mine, "exact_match"),
                      "syntax_valid": _rate(mine, "syntax_valid"),
                      "empty": common.mean(float(r.get("completion") == "") for r in ok),
                      "empty_passes": sum(bool(r["passed"]) and r.get("completion") == "" for r in mine),
                      "latency_ms": {**common.percentiles(lat, (50, 95)), "mean": common.mean(lat)},
                      "nfe_mean": common.mean(r["nfe"] for r in ok),
                      "tokens_mean": common.mean(r["tokens"] for r in ok),
                      "results": dict(Counter(r.get("result") for r in mine)), "errors": len(mine) - len(ok)}
    return out


def pairwise(rows: list[dict]) -> list[dict]:
    """Every pair (a, b) on the tasks both answered: a's win/tie/loss on correctness, and the wait."""
    by = {}
    for r in rows:
        by.setdefault(r["backend"], {})[r["task_id"]] = r
    out = []
    for a, b in itertools.combinations(list(by), 2):
        tasks = [t for t in by[a] if t in by[b]]
        pa = [bool(by[a][t]["passed"]) for t in tasks]
        pb = [bool(by[b][t]["passed"]) for t in tasks]
        timed = [(by[a][t]["latency_ms"], by[b][t]["latency_ms"]) for t in tasks]
        timed = [(x, y) for x, y in timed if x is not None and y is not None]
        wait = [max(x, y) for x, y in timed]
        out.append({"a": a, "b": b, "n": len(tasks),
                    "win": sum(x and not y for x, y in zip(pa, pb)), "loss": sum(y and not x for x, y in zip(pa, pb)),
                    "tie": sum(x == y for x, y in zip(pa, pb)), "both_pass": sum(x and y for x, y in zip(pa, pb)),
                    "both_fail": sum(not x and not y for x, y in zip(pa, pb)),
                    "a_faster": sum(x < y for x, y in timed) / len(timed) if timed else None,
                    "pair_wait_ms": common.percentiles(wait, (50, 95))})
    return out


def frontier(stats: dict) -> list[str]:
    """Labels on the speed-quality frontier (no other backend has lower-or-equal p50 latency and
    higher-or-equal pass@1 with one of them strict), fastest first."""
    pts = {k: (v["latency_ms"]["p50"], v["pass@1"]) for k, v in stats.items()
           if v["latency_ms"]["p50"] is not None and v["pass@1"] is not None}

    def beaten(k):
        lat, acc = pts[k]
        return any(l2 <= lat and a2 >= acc and (l2 < lat or a2 > acc) for j, (l2, a2) in pts.items() if j != k)

    return sorted((k for k in pts if not beaten(k)), key=lambda k: pts[k][0])


def versus(stats: dict, reference: str | None) -> dict:
    """Each backend against the reference: p50 speed-up (reference p50 / its p50) and pass@1 difference."""
    ref = stats.get(reference or "")
    if ref is None or not ref["latency_ms"]["p50"]:
        return {}
    out = {}
    for label, s in stats.items():
        p50, known = s["latency_ms"]["p50"], None not in (s["pass@1"], ref["pass@1"])
        out[label] = {"speedup_p50": ref["latency_ms"]["p50"] / p50 if p50 else None,
                      "pass_delta": s["pass@1"] - ref["pass@1"] if known else None}
    return out


def summarize_split(rows: list[dict], reference: str | None) -> dict:
    stats = backend_stats(rows)
    return {"mode": rows[0]["mode"] if rows else None, "n_tasks": len({r["task_id"] for r in rows}),
            "backends": stats, "pairs": pairwise(rows), "frontier": frontier(stats), "reference": reference,
            "versus_reference": versus(stats, reference)}


# ------------------------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--splits", "--split", dest="splits", default="single-line,multi-line",
                   help=f"comma separated, of {sorted(humaneval.SPLITS)} or .jsonl(.gz) paths")
    p.add_argument("--data-dir", default=None, help="folder holding the official splits")
    p.add_argument("--limit", type=int, default=None,
                   help="problems per split (fixed-seed sample; all when omitted or 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dllm-model", default="default", help="diffusion checkpoint for the default backends")
    p.add_argument("--ar-model", default=str(DEFAULT_AR_MODEL), help="AR twin checkpoint for the default backends")
    p.add_argument("--backend", action="append", default=None, metavar="SPEC",
                   help="[label@]dllm:DIR?..., ar:DIR, hf:DIR, infill:URL, openai:URL?model=NAME "
                        "(repeatable; replaces the default set; bench/backends.py)")
    p.add_argument("--reference", default=None, help="label to compare against (default: the first ar backend)")
    p.add_argument("--mode", choices=("single", "multi", "auto"), default=None,
                   help="completion mode (default: single for single-line splits, else multi)")
    p.add_argument("--max-tokens", type=int, default=None, help="token cap (default: the engine's per-mode cap)")
    p.add_argument("--typed-indent", action="store_true",
                   help="the hole's indentation already typed, as an editor leaves the cursor after Enter")
    p.add_argument("--typed-chars", type=int, default=0,
                   help="also this many characters of the hole's first line typed (implies --typed-indent)")
    p.add_argument("--warmup", type=int, default=2, help="untimed completions per backend and split")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per test program")
    p.add_argument("--workers", type=int, default=2, help="parallel scoring processes")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first engine error")
    p.add_argument("--out", type=Path, default=None, help="per (backend, task) JSONL")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        p.error("--limit must be >= 0")
    return args


def machine(stamp: dict) -> str:
    return f"{stamp['cpu']} ({stamp['cores']} cores)" + (f", {stamp['gpu']}" if stamp.get("gpu") else "")


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    utc = common.utc_now().replace(":", "").replace("+0000", "Z")
    out = args.out or common.REPO_ROOT / "bench" / "results" / f"arena-{utc}.jsonl"
    try:  # every spec and split checked before a model loads: a typo fails at once, not after an hour
        specs = [backends_mod.parse_spec(s) for s in args.backend or default_specs(args.dllm_model, args.ar_model)]
        sets = {split: humaneval.sample(humaneval.load_split(split, args.data_dir), args.limit or None, args.seed)
                for split in dict.fromkeys(s for s in args.splits.split(",") if s)}
    except (FileNotFoundError, ValueError) as exc:
        raise common.usage_error(PROG, str(exc)) from None
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise common.usage_error(PROG, f"backend labels must differ, got {labels}; name them with LABEL@SPEC")
    if args.reference is not None and args.reference not in labels:
        raise common.usage_error(PROG, f"--reference {args.reference!r} is none of the backends {labels}")
    engines: dict = {}
    try:
        loaded = [backends_mod.make(s, engines) for s in specs]
    except (OSError, ValueError) as exc:  # a checkpoint that is not there or not one of ours
        raise common.usage_error(PROG, f"--backend: {exc}") from None
    if out.exists():
        print(f"{PROG}: {out} exists: replaced once this run has finished a split", file=sys.stderr)
    reference = args.reference or next((b.label for b in loaded if b.info["backend"] == "ar"), None)
    stamp = common.stamp()
    info = {b.label: b.info for b in loaded}
    rows, splits, t0, interrupted = [], {}, time.perf_counter(), False
    for split, problems in sets.items():
        if args.typed_indent or args.typed_chars:
            problems = [humaneval.typed_indent(p, args.typed_chars) for p in problems]
        try:
            split_rows = run_split(split, problems, loaded, args.max_tokens, args.warmup, args.mode, args.fail_fast)
            score_rows(split_rows, {p["task_id"]: p for p in problems}, args.timeout, args.workers)
        except KeyboardInterrupt:  # Ctrl-C: the splits done so far are kept, with their summary
            print(f"{PROG}: interrupted in split {split}; keeping the {len(splits)} done",
                  file=sys.stderr)
            interrupted = True
            break
        splits[split] = summarize_split(split_rows, reference)
        for r in split_rows:
            r.update(model=info[r["backend"]].get("model"), commit=stamp["git"]["commit"], machine=machine(stamp))
        if not rows:  # an older run's summary goes with its rows: the two always describe one run
            common.summary_path(out).unlink(missing_ok=True)
        rows += split_rows
        common.write_jsonl(out, rows)  # after every split: a run that fails later keeps what it measured
    summary = {"bench": "arena", "splits": splits, "interrupted": interrupted, "backends": info,
               "limit": args.limit, "seed": args.seed,
               "max_tokens": args.max_tokens, "typed_indent": bool(args.typed_indent or args.typed_chars),
               "typed_chars": args.typed_chars, "wall_s": round(time.perf_counter() - t0, 3),
               "out": str(out) if rows or not interrupted else None,
               "machine": machine(stamp), "stamp": stamp}
    if rows or not interrupted:  # interrupted in its first split, a run leaves an older run's files alone
        common.write_summary(out, summary)
    common.print_summary(summary)
    if interrupted:
        raise SystemExit(130)
    return summary


if __name__ == "__main__":
    main()
