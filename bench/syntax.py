"""Syntax benchmark: tree-sitter re-masking + truncation on vs off, at the same step budget.

Every sampled item is completed twice by the same engine and sampler settings: once with a fresh
`grammars.SyntaxConstraint` (re-masking between steps, syntax-aware truncation at the end) and once
without. Suites: HumanEval-infilling multi-line and random-span (Python, scored for pass@1 in the
`humaneval` sandbox) and the JavaScript / Go / Rust hole sets in bench/data (cut from registry
packages by bench/data/make_holes.py; no network here).

A completion is a syntax error when the file with it has more tree-sitter error sites (ERROR and
MISSING nodes) than the file with the reference middle; for Python also when it does not compile
while the reference does. An empty completion is an error exactly where the hole needs code (the
file without a middle is broken); the empty rate is reported beside it (truncation may cut a
completion to nothing).

Latency: the constraint's own time per request (remask + finalize, measured around the calls) and
the total infill time with and without it; the added latency is the median over items of on / off
(the two arms of an item run back to back, alternating which goes first). One JSON line per
(item, arm) goes to --out; the summary is the last stdout line.

    python -m bench.syntax --model runs/dllm-code-small/model --limit 20
    python -m bench.syntax --suites js,go,rust --limit 10 --steps 16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

from . import common, humaneval

HOLES_DIR = Path(__file__).resolve().parent / "data"
HUMANEVAL_SUITES = {"humaneval-multi-line": "multi-line", "humaneval-random-span": "random-span"}
HOLE_SUITES = {"js": ("javascript", "holes-js.jsonl"), "go": ("go", "holes-go.jsonl"),
               "rust": ("rust", "holes-rs.jsonl")}
SUITES = (*HUMANEVAL_SUITES, *HOLE_SUITES)
ARMS = ("on", "off")
METRIC = ("syntax_error: the file with the completion has more tree-sitter ERROR/MISSING sites than with the "
          "reference middle (Python: or does not compile while the reference does); on = re-masking + "
          "truncation, off = neither, same sampler and step cap")


# ---------------------------------------------------------------------------------------- items


def load_items(suite: str, limit: int | None, seed: int, data_dir: str | None, holes_dir: Path) -> list[dict]:
    """Items with id, language, mode, prefix, suffix, reference, whole_lines (+ problem for Python)."""
    if suite in HUMANEVAL_SUITES:
        split = HUMANEVAL_SUITES[suite]
        problems = humaneval.sample(humaneval.load_split(split, data_dir), limit, seed)
        return [{"id": p["task_id"], "language": "python", "mode": humaneval.default_mode(split),
                 "prefix": p["prompt"], "suffix": p["suffix"], "reference": p["canonical_solution"],
                 "whole_lines": humaneval.is_line_level(p), "kind": split, "problem": p} for p in problems]
    language, name = HOLE_SUITES[suite]
    with (holes_dir / name).open(encoding="utf-8") as f:
        holes = [json.loads(line) for line in f if line.strip()]
    return [{"id": h["id"], "language": language, "mode": h["mode"], "prefix": h["prefix"],
             "suffix": h["suffix"], "reference": h["middle"], "whole_lines": h["kind"] == "block",
             "kind": h["kind"]}
            for h in humaneval.sample(holes, limit, seed)]


def file_with(item: dict, middle: str) -> str:
    """The whole file with `middle` in the hole (a whole-line hole gets its final newline back)."""
    if middle and item["whole_lines"] and not middle.endswith("\n"):
        middle += "\n"
    return item["prefix"] + middle + item["suffix"]


# ---------------------------------------------------------------------------------------- syntax


class SyntaxJudge:
    """Counts tree-sitter error sites (and, for Python, compiles) to judge finished files."""

    def __init__(self) -> None:
        self._parsers: dict = {}

    def error_sites(self, language: str, source: str) -> int:
        from tree_sitter import Parser

        from dllm_complete.grammars.languages import language_for
        from dllm_complete.grammars.validity import error_sites

        if language not in self._parsers:
            self._parsers[language] = Parser(language_for(language).language)
        return len(error_sites(self._parsers[language].parse(source.encode("utf-8", "replace"))))

    @staticmethod
    def compiles(source: str) -> bool:
        try:
            compile(source, "<syntax-bench>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
            return False
        return True

    def reference(self, item: dict) -> dict:
        src = file_with(item, item["reference"])
        ref = {"errors": self.error_sites(item["language"], src)}
        if item["language"] == "python":
            ref["compiles"] = self.compiles(src)
        return ref

    def verdict(self, item: dict, ref: dict, completion: str) -> dict:
        src = file_with(item, completion)
        errors = self.error_sites(item["language"], src)
        out = {"ts_errors": errors, "ref_ts_errors": ref["errors"]}
        bad = errors > ref["errors"]
        if item["language"] == "python":
            out["compiles"] = self.compiles(src)
            bad = bad or (ref["compiles"] and not out["compiles"])
        out["syntax_error"] = bad
        return out


# ------------------------------------------------------------------------------------- engine


class TimedConstraint:
    """Wraps a constraint to time its calls and see what truncation did."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.remask_ms = self.finalize_ms = 0.0
        self.remask_calls = 0
        self.before_finalize: str | None = None
        self.after_finalize: str | None = None

    def remask(self, prefix, pieces, suffix):
        t0 = time.perf_counter()
        try:
            return self.inner.remask(prefix, pieces, suffix)
        finally:
            self.remask_ms += (time.perf_counter() - t0) * 1e3
            self.remask_calls += 1

    def needs_text(self, prefix, suffix):
        return self.inner.needs_text(prefix, suffix)

    def finalize(self, prefix, middle, suffix):
        t0 = time.perf_counter()
        self.before_finalize = middle
        try:
            self.after_finalize = self.inner.finalize(prefix, middle, suffix)
            return self.after_finalize
        finally:
            self.finalize_ms += (time.perf_counter() - t0) * 1e3


def complete(engine, item: dict, arm: str, sampler, max_tokens: int | None) -> dict:
    """One infill; the record's engine-side fields."""
    from dllm_complete.grammars import constraint_for

    inner = constraint_for(item["language"]) if arm == "on" else None
    constraint = TimedConstraint(inner) if inner is not None else None
    t0 = time.perf_counter()
    try:
        res = engine.infill(item["prefix"], item["suffix"], language=item["language"], mode=item["mode"],
                            max_tokens=max_tokens, constraint=constraint, sampler=sampler)
    except Exception as exc:  # one broken item must not end a long run
        traceback.print_exc(file=sys.stderr)
        return {"completion": "", "engine_error": f"{type(exc).__name__}: {exc}"}
    wall_ms = (time.perf_counter() - t0) * 1e3
    st = res.stats
    rec = {"completion": res.text, "engine_error": None, "latency_ms": wall_ms,
           "nfe": st.nfe, "steps": st.steps, "tokens": st.tokens, "remasked": st.remasked,
           "timings_ms": dict(st.timings_ms)}
    if constraint is not None:
        rec.update(constraint_ms=constraint.remask_ms + constraint.finalize_ms,
                   remask_ms=constraint.remask_ms, finalize_ms=constraint.finalize_ms,
                   remask_calls=constraint.remask_calls,
                   truncated=constraint.before_finalize != constraint.after_finalize)
    return rec


# ------------------------------------------------------------------------------------- summary


def _rate(flags) -> float | None:
    flags = list(flags)
    return sum(map(bool, flags)) / len(flags) if flags else None


def _num(x, digits: int = 4):
    return None if x is None else round(x, digits)


def arm_summary(records: list[dict], budget: int) -> dict:
    ok = [r for r in records if r["engine_error"] is None]
    lat = [r["latency_ms"] for r in ok]
    out = {
        "n": len(records), "engine_errors": len(records) - len(ok),
        "syntax_error_rate": _num(_rate(r["syntax_error"] for r in records)),
        "syntax_errors": sum(bool(r["syntax_error"]) for r in records),
        "empty_rate": _num(_rate(not r["completion"].strip() for r in records)),
        "exact_match": _num(_rate(r["completion"].strip() == r["reference"].strip() for r in records)),
        "latency_ms": {k: _num(v, 2) for k, v in common.percentiles(lat, (50, 95)).items()},
        "nfe_mean": _num(common.mean(r["nfe"] for r in ok), 2),
        "remasked": {"mean": _num(common.mean(r["remasked"] for r in ok), 2),
                     "p50": common.percentile([r["remasked"] for r in ok], 50),
                     "max": max((r["remasked"] for r in ok), default=None),
                     "budget_exhausted": _num(_rate(budget > 0 and r["remasked"] >= budget for r in ok))},
    }
    if any("passed" in r for r in records):
        out["pass@1"] = _num(_rate(r.get("passed") for r in records))
    if any("constraint_ms" in r for r in ok):
        cms = [r["constraint_ms"] for r in ok]
        share = [r["constraint_ms"] / r["latency_ms"] for r in ok if r["latency_ms"]]
        out["constraint_ms"] = {k: _num(v, 3) for k, v in common.percentiles(cms, (50, 95)).items()}
        out["constraint_share_p50"] = _num(common.percentile(share, 50))
        out["truncated_rate"] = _num(_rate(r["truncated"] for r in ok))
    return out


def paired_added_latency(records: list[dict]) -> float | None:
    """Median over items of latency on / off - 1: the two arms of an item run back to back, so this is
    robust where the p50s of the two arms fall on different kinds of hole."""
    by_item: dict = {}
    for r in records:
        if r.get("latency_ms"):
            by_item.setdefault((r["suite"], r["id"]), {})[r["arm"]] = r["latency_ms"]
    ratios = [t["on"] / t["off"] for t in by_item.values() if "on" in t and "off" in t]
    return _num(common.percentile(ratios, 50) - 1) if ratios else None


def compare(on: dict, off: dict, records: list[dict]) -> dict:
    """The issue's three targets for one suite (or all suites pooled)."""
    out: dict = {}
    e_on, e_off = on["syntax_errors"], off["syntax_errors"]
    out["syntax_errors_removed"] = _num(1 - e_on / e_off) if e_off else None
    out["syntax_errors_halved"] = e_on * 2 <= e_off if e_off else e_on == 0
    if "pass@1" in on and "pass@1" in off:
        out["pass@1_delta"] = _num(on["pass@1"] - off["pass@1"])
        out["pass@1_not_lower"] = on["pass@1"] >= off["pass@1"]
    p_on, p_off = on["latency_ms"].get("p50"), off["latency_ms"].get("p50")
    out["added_latency_p50"] = _num(p_on / p_off - 1) if p_on and p_off else None
    out["added_latency_per_item_p50"] = paired_added_latency(records)
    added = out["added_latency_per_item_p50"]
    out["added_latency_under_15pct"] = added is not None and added < 0.15
    return out


def summarize(args, records: list[dict], info: dict, sampler_cfg: dict, wall_s: float) -> dict:
    budget = sampler_cfg.get("remask_budget", 0)
    suites = {}
    for suite in args.suites:
        rs = [r for r in records if r["suite"] == suite]
        arms = {arm: arm_summary([r for r in rs if r["arm"] == arm], budget) for arm in ARMS}
        kinds = sorted({r["kind"] for r in rs})
        by_kind = {k: {arm: _num(_rate(r["syntax_error"] for r in rs if r["kind"] == k and r["arm"] == arm))
                       for arm in ARMS} for k in kinds} if len(kinds) > 1 else None
        suites[suite] = {**arms, "compare": compare(arms["on"], arms["off"], rs),
                         **({"syntax_error_rate_by_kind": by_kind} if by_kind else {})}
    pooled = {arm: arm_summary([r for r in records if r["arm"] == arm], budget) for arm in ARMS}
    py = [r for r in records if "passed" in r]
    if py:
        for arm in ARMS:
            pooled[arm]["pass@1"] = _num(_rate(r["passed"] for r in py if r["arm"] == arm))
    return {
        "bench": "syntax", "metric": METRIC, "suites": suites, "all": {**pooled, "compare": compare(pooled["on"], pooled["off"], records)},
        "model": info, "sampler": sampler_cfg, "max_tokens": args.max_tokens, "limit": args.limit,
        "seed": args.seed, "out": str(args.out), "generate_wall_s": round(wall_s, 3), "stamp": common.stamp(),
    }


# ------------------------------------------------------------------------------------------ CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default", help="checkpoint directory, or 'default' (the embedded model)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the loader's choice)")
    p.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated subset of {','.join(SUITES)}")
    p.add_argument("--limit", type=int, default=None, help="items per suite (fixed-seed sample; all when omitted)")
    p.add_argument("--seed", type=int, default=0, help="seed of the item sample")
    p.add_argument("--steps", type=int, default=None, help="sampler max_steps (the same for both arms)")
    p.add_argument("--threshold", type=float, default=None, help="sampler confidence threshold")
    p.add_argument("--remask-budget", type=int, default=None, help="tokens the constraint may re-mask per request")
    p.add_argument("--fill-broken", action="store_true",
                   help="sampler fill_broken: no empty completion where the file is broken at the cursor (arm on)")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--data-dir", default=None, help="folder with the HumanEval-infilling splits")
    p.add_argument("--holes-dir", type=Path, default=HOLES_DIR, help="folder with holes-<lang>.jsonl")
    p.add_argument("--out", type=Path, default=None, help="per-item JSONL (default bench/results/...)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per HumanEval test program")
    p.add_argument("--workers", type=int, default=2, help="parallel scoring processes")
    p.add_argument("--warmup", type=int, default=1, help="untimed completions per arm before the run")
    args = p.parse_args(argv)
    args.suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown or not args.suites:
        p.error(f"unknown suites {unknown}; choose from {', '.join(SUITES)}")
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be >= 1")
    return args


def load_engine(args):
    from dllm_complete import dllm
    import msgspec

    engine = dllm.load(None if args.model in (None, "", "default") else args.model, device=args.device)
    overrides = {k: v for k, v in {"max_steps": args.steps, "threshold": args.threshold,
                                   "remask_budget": args.remask_budget,
                                   "fill_broken": args.fill_broken or None}.items() if v is not None}
    sampler = msgspec.structs.replace(engine.sampler, **overrides)
    return engine, sampler, msgspec.to_builtins(sampler)


def main(argv: list[str] | None = None) -> dict:
    from tqdm import tqdm

    args = parse_args(argv)
    utc = common.utc_now().replace(":", "").replace("+0000", "Z")
    args.out = args.out or common.REPO_ROOT / "bench" / "results" / f"syntax-{utc}.jsonl"
    items = [(suite, it) for suite in args.suites
             for it in load_items(suite, args.limit, args.seed, args.data_dir, args.holes_dir)]
    engine, sampler, sampler_cfg = load_engine(args)
    for suite, it in items[:args.warmup]:
        for arm in ARMS:
            complete(engine, it, arm, sampler, args.max_tokens)
    judge = SyntaxJudge()
    records, scored = [], []  # scored: (record, HumanEval problem)
    t0 = time.perf_counter()
    for k, (suite, it) in enumerate(tqdm(items, desc="generate", file=sys.stderr, dynamic_ncols=True)):
        ref = judge.reference(it)
        for arm in (ARMS if k % 2 == 0 else ARMS[::-1]):  # alternate the order: no arm always runs warm
            rec = {"suite": suite, "id": it["id"], "language": it["language"], "kind": it["kind"], "arm": arm,
                   "reference": it["reference"], **complete(engine, it, arm, sampler, args.max_tokens)}
            rec.update(judge.verdict(it, ref, rec["completion"]))
            records.append(rec)
            if "problem" in it:
                scored.append((rec, it["problem"]))
    wall_s = time.perf_counter() - t0
    if scored:  # after generation, so that scoring never competes with the timed completions
        verdicts = humaneval.score_many([p for _, p in scored], [r["completion"] for r, _ in scored],
                                        timeout_s=args.timeout, workers=args.workers)
        for (r, _), v in zip(scored, verdicts):
            r.update(passed=v["passed"], result=v["result"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    summary = summarize(args, records, dict(getattr(engine, "info", {}) or {}), sampler_cfg, wall_s)
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
