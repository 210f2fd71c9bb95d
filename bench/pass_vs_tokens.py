"""HumanEval-infilling pass@1 against training tokens: every model pair this project shipped, scored
with today's sampler, and what more tokens would bring.

The weights shipped at earlier commits come out of git history into bench/results/curve/ (ignored by
git) and each goes through `bench.arena` alone (one thread each, `--jobs` side by side); an
evaluation whose summary is there already is not run again. The last line holds every point and, per
lineage, a least-squares line pass@1 = a + b * log10(tokens) with the tokens at which it reaches the
issue's targets: a rough extrapolation of few points (whose schedules differed), not a measurement.

    python -m bench.pass_vs_tokens --splits single-line,multi-line --jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import common, plots

RESULTS = common.REPO_ROOT / "bench" / "results"
CACHE = RESULTS / "curve"
FILES = ("config.json", "model.safetensors", "tokenizer.json")
TARGETS = {"single-line": 0.15, "multi-line": 0.05}
REACH = 100
SPLIT_ARGS = {"single-line": [], "multi-line": ["--limit", "500", "--seed", "0"]}
# (commit, model): the pairs as shipped, oldest first. The diffusion models of the first three were
# trained from scratch; from 1ea75cc on, each was the AR model of its run adapted (Dream's recipe).
SHIPPED = [(c, m) for c in ("657e209", "dc0ddc3", "b27534c", "1ea75cc", "501295a")
           for m in ("dllm-code-small", "ar-code-small")]


def extract(commit: str, model: str) -> Path:
    """The model's files as shipped at `commit`, written once under the cache."""
    out = CACHE / f"{commit}-{model}"
    if not all((out / f).is_file() for f in FILES):
        out.mkdir(parents=True, exist_ok=True)
        for f in FILES:
            blob = subprocess.run(["git", "show", f"{commit}:dllm/weights/{model}/{f}"], cwd=common.REPO_ROOT,
                                  capture_output=True, check=True).stdout
            (out / f).write_bytes(blob)
    return out


def backend_numbers(summary: dict, split: str) -> dict:
    """The one backend's numbers (n, pass@1, exact_match, ...) in an arena summary of one split; a
    summary cached by the former single-backend script holds them at its top level."""
    if "splits" not in summary:
        return summary
    (numbers,) = summary["splits"][split]["backends"].values()
    return numbers


def evaluate(commit: str, model: str, split: str) -> dict:
    """This model's numbers on the split: `bench.arena` with it alone, syntax constraint on (cached)."""
    out = CACHE / f"{commit}-{model}-{split}.jsonl"
    cached = common.summary_path(out)
    if not cached.is_file():
        kind = "ar" if model.startswith("ar-") else "dllm"
        cmd = [sys.executable, "-m", "bench.arena", "--backend", f"{kind}:{extract(commit, model)}?syntax=1",
               "--split", split, *SPLIT_ARGS[split], "--workers", "1", "--out", str(out)]
        run = subprocess.run(cmd, cwd=common.REPO_ROOT, capture_output=True, text=True,
                             env=os.environ | {"OMP_NUM_THREADS": "1"})
        if run.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {run.stderr.strip().splitlines()[-1:]}")
    return backend_numbers(json.loads(cached.read_text()), split)


def point(commit: str, model: str, split: str, summary: dict) -> dict:
    meta = json.loads((extract(commit, model) / "config.json").read_text())["dllm"]
    return {"commit": commit, "model": model, "kind": meta["kind"], "split": split,
            "tokens_seen": meta["tokens_seen"], "adapted": "adapted_from" in meta,
            "pass@1": summary["pass@1"], "exact_match": summary["exact_match"],
            "syntax_valid": summary["syntax_valid"], "n": summary["n"]}


def log_fit(points: list[dict], target: float) -> dict | None:
    """pass@1 = a + b * log10(tokens) by least squares, and the tokens where it reaches `target` (None
    when that lies beyond REACH times the most tokens measured, where a fixed-size model's gains stall)."""
    xs = [math.log10(p["tokens_seen"]) for p in points]
    ys = [p["pass@1"] for p in points]
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    reach = 10 ** ((target - a) / b) if b > 0 else None
    if reach and reach > REACH * max(p["tokens_seen"] for p in points):
        reach = None
    return {"points": len(points), "intercept": round(a, 4), "per_10x_tokens": round(b, 4), "target": target,
            "tokens_for_target": round(reach) if reach else None}


LABELS = {"ar": "AR twin", "diffusion-adapted": "diffusion (adapted)",
          "diffusion-from-scratch": "diffusion (from scratch)"}


def lineage(point: dict) -> str:
    """AR twin, diffusion model adapted from an AR model, or diffusion model trained from scratch."""
    if point["kind"] == "ar":
        return "ar"
    return "diffusion-adapted" if point["adapted"] else "diffusion-from-scratch"


def lineages(points: list[dict]) -> dict:
    """The points of each lineage (all three keys, in LABELS' order)."""
    return {name: [p for p in points if lineage(p) == name] for name in LABELS}


def fit_lineages(points: list[dict], splits: list[str]) -> dict:
    """{split: {lineage: log_fit or None}} towards each split's target."""
    return {s: {name: log_fit([q for q in group if q["split"] == s], TARGETS[s])
                for name, group in lineages(points).items()} for s in splits}


def markdown(summary: dict) -> str:
    """The README table: pass@1 per model and split by tokens seen, then each lineage's fit."""
    splits = list(summary["fits"])
    rows = {}
    for q in summary["points"]:
        rows.setdefault((q["kind"], lineage(q), q["tokens_seen"], q["commit"]), {})[q["split"]] = q["pass@1"]
    lines = ["| model | tokens | shipped at | " + " | ".join(splits) + " |", "|---" * (3 + len(splits)) + "|"]
    for (_, name, tokens, commit), by_split in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        cells = [f"{by_split[s]:.1%}" if s in by_split else "–" for s in splits]
        lines.append(f"| {LABELS[name]} | {tokens / 1e6:.0f}M | {commit} | " + " | ".join(cells) + " |")
    lines.append("")
    for s in splits:
        for name, fit in summary["fits"][s].items():
            if fit:
                reach = (f"at about {fit['tokens_for_target'] / 1e9:.1f}B tokens" if fit["tokens_for_target"]
                         else f"not within {REACH}x the tokens measured")
                gain = fit["per_10x_tokens"] * 100
                lines.append(f"- {s}, {name}: {gain:+.1f} points per 10x tokens ({fit['points']} models); "
                             f"{fit['target']:.0%} {reach}.")
    return "\n".join(lines) + "\n"


def plot(summary: dict, path: Path) -> Path:
    """pass@1 against tokens seen (log scale), one panel per split: the models, each lineage's fit
    drawn out to REACH times its most tokens, and the issue's target."""
    plt = plots.pyplot()
    splits = list(summary["fits"])
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 3.8), squeeze=False)
    for ax, split in zip(axes[0], splits):
        points = [q for q in summary["points"] if q["split"] == split]
        for i, (name, group) in enumerate(lineages(points).items()):
            if not group:
                continue
            xs = [q["tokens_seen"] for q in group]
            line = ax.plot(xs, [100 * q["pass@1"] for q in group], "o", color=f"C{i}", label=LABELS[name])
            fit = summary["fits"][split][name]
            if fit and fit["per_10x_tokens"] > 0:
                ends = [min(xs), REACH * max(xs)]
                ax.plot(ends, [100 * (fit["intercept"] + fit["per_10x_tokens"] * math.log10(x)) for x in ends],
                        "--", color=line[0].get_color(), linewidth=1)
        ax.axhline(100 * TARGETS[split], color="grey", linestyle=":", label="issue's target")
        ax.set_xscale("log")
        ax.set_xlabel("tokens seen")
        ax.set_ylabel("pass@1 (%)")
        ax.set_title(f"HumanEval-infilling {split}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return plots.save(plt, fig, path)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--splits", default="single-line", help="comma-separated: single-line, multi-line")
    p.add_argument("--commits", default=None, help="only these commits (comma-separated); default all shipped")
    p.add_argument("--jobs", type=int, default=2, help="evaluations side by side (one thread each)")
    p.add_argument("--plot", type=Path, default=None, help="also draw the figure to this PNG")
    args = p.parse_args(argv)
    splits = args.splits.split(",")
    if unknown := set(splits) - set(SPLIT_ARGS):
        p.error(f"unknown split(s) {sorted(unknown)}; choose from {sorted(SPLIT_ARGS)}")
    keep = set(args.commits.split(",")) if args.commits else {c for c, _ in SHIPPED}
    jobs = [(c, m, s) for s in splits for c, m in SHIPPED if c in keep]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        summaries = list(pool.map(lambda job: evaluate(*job), jobs))
    points = [point(c, m, s, summary) for (c, m, s), summary in zip(jobs, summaries)]
    summary = {"bench": "pass-vs-tokens", "points": points, "fits": fit_lineages(points, splits),
               "stamp": common.stamp()}
    common.write_summary(RESULTS / "pass-vs-tokens.jsonl", summary)
    print(markdown(summary), file=sys.stderr)
    if args.plot:
        plot(summary, args.plot)
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
