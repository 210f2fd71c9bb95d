"""The scope constraint on HumanEval-infilling: unresolved names, pass@1 and latency, off against on.

    OMP_NUM_THREADS=1 python -m bench.scope --splits single-line --out bench/results/scope.jsonl
    OMP_NUM_THREADS=1 python -m bench.scope --splits multi-line,random-span --limit 500
    OMP_NUM_THREADS=1 python -m bench.scope --splits "" --heldout 300      # held-out corpus files, no tests

Two arms of the default diffusion engine with its syntax constraint, interleaved hole by hole
(`bench.arena`): `off` and `on` (`scope=1`: grammars/scope.py joins it). Per arm: pass@1, the share
of completions that use a name that resolves to nothing, judged by an independent resolver (pyflakes'
undefined names in the infilled file, on the completion's own lines: a name the suffix uses and the
completion failed to define does not count), and latency; the
per-hole latency ratio on/off (median). False re-masks: the scope check run on every hole's canonical
middle (which passes its tests) with the file given, where any name it flags would be a correct name re-masked; each one
is listed. `--heldout N`: N single-line holes cut from the training corpus's held-out files (real
repositories' code the model never trained on; `bench.heldout_sweep`), with the same measures but no
pass@1 (no tests). `--resolvers ROWS.jsonl` instead compares our resolver with jedi (python-lsp-server's)
on a run's `off` completions and on the canonical middles: how often each flags a completion, its
precision and recall against pyflakes, its false flags on canonical middles, and its time per check.
Prints one JSON line last.

    python -m bench.scope --splits single-line --resolvers bench/results/scope-single.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import sys

from bench import arena, backends as backends_mod, common, humaneval

ARMS = {"off": "off@dllm:{model}?scope=0", "on": "on@dllm:{model}?scope=1"}


def undefined_names(source: str) -> set[tuple[str, int]]:
    """(name, line) of the names pyflakes reports undefined in `source` (nothing if it does not compile)."""
    import pyflakes.api
    import pyflakes.messages

    class Collect:
        def __init__(self):
            self.found: set[tuple[str, int]] = set()

        def flake(self, message):
            if isinstance(message, (pyflakes.messages.UndefinedName, pyflakes.messages.UndefinedLocal)):
                self.found.add((message.message_args[0], message.lineno))

        def unexpectedError(self, *args):  # noqa: N802 - pyflakes' reporter protocol
            pass

        def syntaxError(self, *args):  # noqa: N802
            pass

    reporter = Collect()
    pyflakes.api.check(source, "hole.py", reporter)
    return reporter.found


def unresolved(problem: dict, completion: str) -> set[str]:
    """Names the completion uses on its own lines that resolve to nothing (pyflakes)."""
    first = problem["prompt"].count("\n") + 1
    last = first + humaneval.normalize_completion(problem, completion).rstrip("\n").count("\n")
    found = undefined_names(humaneval.infilled_source(problem, completion))
    return {name for name, line in found if first <= line <= last}


def false_remasks(problems: list[dict]) -> list[dict]:
    """Names the scope check flags in canonical middles (each would be a correct name re-masked), given
    the file as the arms, the language server and the CLI give it."""
    from dllm_complete.grammars.languages import language_for
    from dllm_complete.grammars.scope import ScopeConstraint

    language = language_for("python").language
    found = []
    for p in problems:
        check = ScopeConstraint(language, p["prompt"] + p["suffix"])
        for _, _, name in check.unresolved(p["prompt"], p["canonical_solution"], p["suffix"]):
            found.append({"task_id": p["task_id"], "name": name})
    return found


def jedi_unresolved(problem: dict, completion: str) -> set[str]:
    """Names on the completion's lines that jedi cannot take to a definition (it analyses, never runs)."""
    import jedi

    first = problem["prompt"].count("\n") + 1
    last = first + humaneval.normalize_completion(problem, completion).rstrip("\n").count("\n")
    script = jedi.Script(humaneval.infilled_source(problem, completion))
    return {n.name for n in script.get_names(all_scopes=True, definitions=False, references=True)
            if first <= n.line <= last and not n.goto()}


def compare_resolvers(problems: dict, rows: list[dict]) -> dict:
    """Ours and jedi against pyflakes on the completions of `rows`, and on the canonical middles."""
    import time

    from dllm_complete.grammars.languages import language_for
    from dllm_complete.grammars.scope import ScopeConstraint

    language = language_for("python").language

    def ours(problem, completion):
        check = ScopeConstraint(language, problem["prompt"] + problem["suffix"])
        return {n for *_, n in check.unresolved(problem["prompt"], completion, problem["suffix"])}

    out = {}
    cases = [(problems[r["task_id"]], r["completion"]) for r in rows if r["completion"]]
    truth = [bool(unresolved(p, c)) for p, c in cases]
    for name, judge in (("ours", ours), ("jedi", jedi_unresolved)):
        judge(*cases[0])  # warm-up (jedi's first call loads its caches)
        t0 = time.perf_counter()
        flags = [bool(judge(p, c)) for p, c in cases]
        ms = (time.perf_counter() - t0) * 1e3 / len(cases)
        hits = sum(f and t for f, t in zip(flags, truth))
        canonical = [p for p in problems.values() if judge(p, p["canonical_solution"])]
        out[name] = {"flagged_share": 100 * sum(flags) / len(flags), "precision": hits / max(1, sum(flags)),
                     "recall": hits / max(1, sum(truth)), "false_flags_on_canonical": len(canonical),
                     "canonical_examples": [p["task_id"] for p in canonical[:5]], "ms_per_check": ms}
    return {"completions": len(cases), "pyflakes_share": 100 * sum(truth) / len(truth), **out}


def summarize(rows: list[dict], problems: dict) -> dict:
    by = {arm: {r["task_id"]: r for r in rows if r["backend"] == arm} for arm in ARMS}
    out = {}
    for arm, got in by.items():
        bad = [t for t, r in got.items() if r["completion"] and unresolved(problems[t], r["completion"])]
        lat = [r["latency_ms"] for r in got.values() if r["latency_ms"] is not None]
        passed = [r["passed"] for r in got.values() if "passed" in r]
        exact = [r["completion"].strip() == problems[t]["canonical_solution"].strip() for t, r in got.items()]
        out[arm] = {"holes": len(got), "pass@1": 100 * statistics.mean(passed) if passed else None,
                    "exact_match": 100 * statistics.mean(exact) if exact else None,
                    "unresolved_share": 100 * len(bad) / max(1, len(got)), "unresolved_holes": sorted(bad)[:20],
                    "latency_p50_ms": statistics.median(lat) if lat else None,
                    "scope_remasked_mean": statistics.mean(r.get("scope_remasked") or 0 for r in got.values()),
                    "scope_cut_share": 100 * statistics.mean(bool(r.get("scope_cut")) for r in got.values()),
                    "scope_ms_mean": statistics.mean(r.get("scope_ms") or 0 for r in got.values())}
    both = [t for t in by["off"] if t in by["on"] and by["off"][t]["latency_ms"] and by["on"][t]["latency_ms"]]
    ratios = [by["on"][t]["latency_ms"] / by["off"][t]["latency_ms"] for t in both]
    off, on = out["off"]["unresolved_share"], out["on"]["unresolved_share"]
    return {"arms": out, "latency_ratio_median": statistics.median(ratios) if ratios else None,
            "unresolved_reduction": (1 - on / off) if off else None,
            "pass_delta": out["on"]["pass@1"] - out["off"]["pass@1"] if out["on"]["pass@1"] is not None else None}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--splits", default="single-line")
    p.add_argument("--limit", type=int, default=None, help="a seeded sample of each split (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="default", help="diffusion checkpoint")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--heldout", type=int, default=0, help="also N single-line holes of held-out corpus files")
    p.add_argument("--out", default=None, help="per (arm, task) JSONL")
    p.add_argument("--resolvers", default=None, metavar="ROWS", help="compare ours with jedi on a run's off rows")
    args = p.parse_args(argv)
    if args.resolvers:
        split = args.splits.split(",")[0]
        problems = {q["task_id"]: q for q in humaneval.load_split(split)}
        rows = [r for r in common.read_jsonl(args.resolvers) if r["backend"] == "off" and r["task_id"] in problems]
        summary = {"bench": "scope-resolvers", "split": split, **compare_resolvers(problems, rows),
                   "stamp": common.stamp()}
        common.print_summary(summary)
        return summary
    engines: dict = {}
    arms = [backends_mod.make(spec.format(model=args.model), engines) for spec in ARMS.values()]
    summary = {"bench": "scope", "model": args.model, "splits": {}, "stamp": common.stamp()}
    all_rows = []
    splits = [s for s in args.splits.split(",") if s] + (["heldout"] if args.heldout else [])
    for split in splits:
        if split == "heldout":
            from bench.heldout_sweep import holes

            problems = [{"task_id": f"SingleLine/heldout/{i}", "prompt": a, "canonical_solution": m, "suffix": b}
                        for i, (a, m, b) in enumerate(holes(args.heldout, args.seed, "single"))]
        else:
            problems = humaneval.sample(humaneval.load_split(split), args.limit, args.seed)
        by_id = {q["task_id"]: q for q in problems}
        rows = arena.run_split(split, problems, arms, None, args.warmup, mode="single" if split == "heldout" else None)
        if split != "heldout":
            arena.score_rows(rows, by_id, 5.0, args.workers)
        flagged = false_remasks(problems)
        summary["splits"][split] = {**summarize(rows, by_id), "holes": len(problems),
                                    "false_remasks_on_canonical": len(flagged), "false_remask_examples": flagged[:10]}
        print(f"scope {split}: {summary['splits'][split]['arms']}", file=sys.stderr)
        all_rows += rows
    if args.out:
        common.write_jsonl(args.out, all_rows)
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
