"""Which completion mode `lsp_server.trigger` picks at the official HumanEval-infilling holes.

Each hole is met as an editor meets it, two ways: the cursor where the hole stands (the start of the
line after it, an explicit request: lines go above that line), and after Enter (the cursor on a line
of its own after the indentation, `humaneval.typed_indent`). Counts the share of single-line holes
given one line and of multi-line holes given several, the decision reasons, and how many holes of the
two splits are the same cursor (same prefix and suffix: no rule of the cursor can tell those apart).
No model is run.

    python -m bench.modes
"""

from __future__ import annotations

import argparse
from collections import Counter

from dllm_complete.lsp_server import trigger

from . import common, humaneval

PRESENTATIONS = {"as-cut": lambda p: p, "after-enter": humaneval.typed_indent}


def decision(problem: dict) -> trigger.Decision:
    return trigger.decide_at(problem["prompt"] + problem["suffix"], len(problem["prompt"]), invoked=True)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="folder of the official splits (default: humaneval.DATA_DIR)")
    p.add_argument("--out", help="per-hole JSONL (and <out>.summary.json)")
    args = p.parse_args(argv)
    splits = {name: humaneval.load_split(name, args.data_dir) for name in ("single-line", "multi-line")}
    wanted = {"single-line": "single", "multi-line": "multi"}
    records, cells = [], {}
    for shown, present in PRESENTATIONS.items():
        for name, problems in splits.items():
            reasons: Counter[str] = Counter()
            hits = 0
            for problem in problems:
                d = decision(present(problem))
                reasons[f"{d.mode}:{d.reason}"] += 1
                hits += d.mode == wanted[name]
                records.append({"task_id": problem["task_id"], "presentation": shown, "mode": d.mode,
                                "reason": d.reason, "lines": problem["canonical_solution"].count("\n")})
            cells[f"{name}/{shown}"] = {"n": len(problems), "wanted": wanted[name],
                                        "share": round(hits / len(problems), 4), "reasons": dict(reasons)}
    single = {(q["prompt"], q["suffix"]) for q in splits["single-line"]}
    same = sum((q["prompt"], q["suffix"]) in single for q in splits["multi-line"])
    summary = {"bench": "modes", **common.stamp(), "cells": cells, "multi_line_holes_same_as_single": same,
               "multi_line_holes": len(splits["multi-line"])}
    return common.report(summary, records, args.out)


if __name__ == "__main__":
    main()
