"""HumanEval-infilling benchmark CLI: complete every sampled problem with one backend, score, report.

Writes one JSON line per task to --out and prints a JSON summary as the last stdout line. The model
is loaded once; generation runs first and scoring after it, so scoring never competes with the
timed completions for CPU. Backends live in BACKENDS: "dllm" (the engine), "ar" and "hf" (the AR
twin, ours and through transformers; see backends.py).

    python -m bench.humaneval_infill --split single-line --model default --limit 50 --out r.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from . import common, humaneval

@dataclasses.dataclass
class Generation:
    text: str
    latency_ms: float | None
    nfe: int | None = None
    timings_ms: dict = dataclasses.field(default_factory=dict)
    error: str | None = None


class SpecBackend:
    """A `bench/backends.py` backend: `dllm` (the diffusion engine), `ar` (our AR twin), `hf` (the twin
    through transformers). The syntax constraint is on for each unless --no-syntax: every backend gets
    the same tree-sitter truncation (the diffusion engine also re-masks)."""

    def __init__(self, kind: str, model: str | None, steps: int | None = None, threshold: float | None = None,
                 syntax: bool = True, block: int | None = None, dtype: str | None = None):
        from . import backends

        params = {"syntax": int(syntax)}
        engine = {k: v for k, v in (("steps", steps), ("threshold", threshold), ("block", block)) if v is not None}
        if engine and kind != "dllm":
            raise SystemExit(f"--steps/--threshold/--block apply to the diffusion engine, not to {kind!r}")
        if dtype and kind == "hf":
            raise SystemExit("--dtype applies to our engines (dllm, ar), not to 'hf'")
        params |= engine | ({"dtype": dtype} if dtype else {})
        query = "&".join(f"{k}={v}" for k, v in params.items())
        self.backend = backends.make(f"{kind}:{model or 'default'}?{query}")
        self.name = kind

    @property
    def info(self) -> dict:
        return self.backend.info

    def complete(self, prefix: str, suffix: str, mode: str, max_tokens: int | None) -> Generation:
        text, stats = self.backend.complete(prefix, suffix, mode, max_tokens)
        return Generation(text=text, latency_ms=stats["latency_ms"], nfe=stats["nfe"],
                          timings_ms=stats["timings_ms"])


BACKENDS = {kind: functools.partial(SpecBackend, kind) for kind in ("dllm", "ar", "hf")}


# -------------------------------------------------------------------------------------- running


def generate_one(backend, problem: dict, mode: str, max_tokens: int | None, fail_fast: bool) -> Generation:
    try:
        return backend.complete(problem["prompt"], problem["suffix"], mode, max_tokens)
    except Exception as exc:  # one broken problem must not end a long run
        if fail_fast:
            raise
        traceback.print_exc(file=sys.stderr)
        return Generation(text="", latency_ms=None, error=f"{type(exc).__name__}: {exc}")


def warm_up(backend, problems: list[dict], mode: str, max_tokens: int | None, n: int) -> None:
    for problem in problems[:n]:
        generate_one(backend, problem, mode, max_tokens, fail_fast=True)


def generate_all(backend, problems: list[dict], mode: str, max_tokens: int | None,
                 fail_fast: bool) -> list[Generation]:
    bar = tqdm(problems, desc="generate", file=sys.stderr, dynamic_ncols=True)
    return [generate_one(backend, p, mode, max_tokens, fail_fast) for p in bar]


def score_all(problems: list[dict], gens: list[Generation], timeout_s: float, workers: int) -> list[dict]:
    with tqdm(total=len(problems), desc="score", file=sys.stderr, dynamic_ncols=True) as bar:
        return humaneval.score_many(problems, [g.text for g in gens], timeout_s=timeout_s,
                                    workers=workers, on_done=lambda _: bar.update())


def task_record(problem: dict, gen: Generation, verdict: dict) -> dict:
    return {"task_id": problem["task_id"], "completion": gen.text, **verdict,
            "latency_ms": gen.latency_ms, "nfe": gen.nfe, "timings_ms": gen.timings_ms,
            "engine_error": gen.error}


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _rate(records: list[dict], key: str) -> float | None:
    return common.mean(float(bool(r[key])) for r in records)


def summarize(args, records: list[dict], info: dict, mode: str, wall_s: float) -> dict:
    ok = [r for r in records if r["engine_error"] is None]
    latencies = [r["latency_ms"] for r in ok]
    return {
        "bench": "humaneval-infill", "split": args.split, "n": len(records), "mode": mode,
        "pass@1": _rate(records, "passed"), "exact_match": _rate(records, "exact_match"),
        "syntax_valid": _rate(records, "syntax_valid"),
        "results": dict(Counter(r["result"] for r in records)),
        "latency_ms": {**common.percentiles(latencies, (50, 95)), "mean": common.mean(latencies)},
        "nfe_mean": common.mean(r["nfe"] for r in ok if r["nfe"] is not None),
        "engine_errors": len(records) - len(ok),
        "model": info, "max_tokens": args.max_tokens, "limit": args.limit, "seed": args.seed,
        "typed_indent": args.typed_indent, "typed_chars": args.typed_chars,
        "out": str(args.out), "generate_wall_s": round(wall_s, 3), "stamp": common.stamp(),
    }


# ------------------------------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", default="single-line",
                   help=f"one of {sorted(humaneval.SPLITS)} or a .jsonl(.gz) path")
    p.add_argument("--data-dir", default=None, help="folder holding the official splits")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="dllm")
    p.add_argument("--model", default="default", help="checkpoint directory, or 'default'")
    p.add_argument("--limit", type=int, default=None, help="number of problems (all when omitted)")
    p.add_argument("--seed", type=int, default=0, help="seed of the problem sample")
    p.add_argument("--out", type=Path, default=None, help="per-task JSONL (default bench/results/...)")
    p.add_argument("--mode", choices=("single", "multi", "auto"), default=None,
                   help="completion mode (default: single for single-line, else multi)")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="sampler max_steps override")
    p.add_argument("--threshold", type=float, default=None, help="sampler confidence threshold override")
    p.add_argument("--block", type=int, default=None, help="sampler block size override (0 = the whole span)")
    p.add_argument("--no-syntax", action="store_true", help="disable syntax-aware re-masking")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                   help="the weights' dtype (default: the load default; bf16 on CPUs with native bf16)")
    p.add_argument("--typed-indent", action="store_true",
                   help="the hole's indentation already typed, as an editor leaves the cursor after Enter")
    p.add_argument("--typed-chars", type=int, default=0,
                   help="also this many characters of the hole's first line typed (implies --typed-indent)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per test program")
    p.add_argument("--workers", type=int, default=2, help="parallel scoring processes")
    p.add_argument("--warmup", type=int, default=1, help="untimed completions before the run")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first engine error")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        p.error("--limit must be >= 0")
    return args


def default_out(split: str) -> Path:
    name = Path(split).name.split(".")[0] if split not in humaneval.SPLITS else split
    utc = common.utc_now().replace(":", "").replace("+0000", "Z")
    return common.REPO_ROOT / "bench" / "results" / f"humaneval-{name}-{utc}.jsonl"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    args.out = args.out or default_out(args.split)
    mode = args.mode or humaneval.default_mode(args.split)
    problems = humaneval.sample(humaneval.load_split(args.split, args.data_dir), args.limit, args.seed)
    if args.typed_indent or args.typed_chars:
        problems = [humaneval.typed_indent(p, args.typed_chars) for p in problems]
    model = None if args.model in (None, "", "default") else args.model
    backend = BACKENDS[args.backend](model, steps=args.steps, threshold=args.threshold,
                                     syntax=not args.no_syntax, block=args.block, dtype=args.dtype)
    warm_up(backend, problems, mode, args.max_tokens, args.warmup)
    t0 = time.perf_counter()
    gens = generate_all(backend, problems, mode, args.max_tokens, args.fail_fast)
    wall_s = time.perf_counter() - t0
    verdicts = score_all(problems, gens, args.timeout, args.workers)
    records = [task_record(p, g, v) for p, g, v in zip(problems, gens, verdicts)]
    write_jsonl(args.out, records)
    summary = summarize(args, records, backend.info, mode, wall_s)
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
