"""HumanEval-infilling as the diffusion families' authors run it, for a checkpoint directory.

    python -m bench.humaneval_infill --model ~/models/Dream-Coder-v0-Base-7B                  # lengths 4..64, averaged
    python -m bench.humaneval_infill --model ~/models/open-dcoder-0.5B --oracle             # the true middle's length

The protocol of DreamOn's and Open-dLLM's evaluation scripts (docs/models.md): the single-line split,
the prompt the family's conventions build (`dllm/families.py`: Dream's `<|beginoftext|>` + prefix +
masks + suffix + `<|endoftext|>`, ...), a fixed canvas of N masks (never grown), one token committed per
step (steps = N, threshold 1), whole-canvas decoding, entropy confidence, the whole middle kept (mode
multi); pass@1 averaged over N in --lengths, or with N the canonical middle's token count (--oracle).
Greedy, where the authors sample at temperature 0.1-0.2. DreamOn's canvas edits itself from N up to
--max-tokens. Prints one JSON line last; the authors' figure for the family is in docs/models.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from tqdm import tqdm

from bench import humaneval


def protocol(length: int):
    """The authors' sampler for a canvas of `length` masks: one token a step, whole canvas, entropy."""
    from dllm_complete.dllm.contract import SamplerConfig

    return SamplerConfig(canvas=length, max_steps=length, threshold=1.0, block_size=0, confidence="entropy")


def run(engine, problems: list[dict], length: int | None, max_tokens: int, workers: int) -> dict:
    """pass@1 at a fixed canvas `length`, or (None) at each problem's oracle length."""
    completions, errors, t0 = [], 0, time.perf_counter()
    for p in tqdm(problems, desc=f"canvas {length or 'oracle'}", file=sys.stderr, dynamic_ncols=True):
        n = length or max(1, len(engine.tokenizer.encode(p["canonical_solution"])))
        try:
            out = engine.infill(p["prompt"], p["suffix"], mode="multi", max_tokens=max(max_tokens, n),
                                sampler=protocol(n))
            completions.append(out.text)
        except Exception as exc:  # one hole must not end the run; it fails, unexecuted (an empty middle may pass)
            print(f"{p['task_id']}: {type(exc).__name__}: {exc}", file=sys.stderr)
            completions.append(None)
            errors += 1
    seconds = time.perf_counter() - t0
    answered = [(p, c) for p, c in zip(problems, completions) if c is not None]
    verdicts = humaneval.score_many([p for p, _ in answered], [c for _, c in answered], workers=workers)
    return {"length": length or "oracle", "pass@1": 100 * sum(v["passed"] for v in verdicts) / len(problems),
            "exact_match": 100 * sum(v["exact_match"] for v in verdicts) / len(problems),
            "seconds_per_hole": seconds / len(problems), "errors": errors}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="checkpoint directory (a published family, or ours)")
    p.add_argument("--split", default="single-line", choices=sorted(humaneval.SPLITS))
    p.add_argument("--lengths", default="4,8,16,32,64", help="fixed canvas lengths, pass@1 averaged over them")
    p.add_argument("--oracle", action="store_true", help="the canonical middle's token count as the canvas")
    p.add_argument("--max-tokens", type=int, default=64, help="most tokens a canvas that edits itself may reach")
    p.add_argument("--limit", type=int, default=None, help="a seeded sample of the split (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument("--workers", type=int, default=2, help="parallel scoring processes")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be >= 1 (leave it out for the whole split)")
    from dllm_complete import dllm

    try:
        lengths = [None] if args.oracle else [int(n) for n in args.lengths.split(",")]
        if any(n is not None and n < 1 for n in lengths):
            raise ValueError(f"--lengths must be >= 1, got {args.lengths}")
        engine = dllm.load(args.model, device=args.device, dtype=args.dtype)
    except ValueError as exc:
        sys.exit(f"humaneval_infill: {exc}")
    if engine.spec.kind != "diffusion":
        sys.exit(f"humaneval_infill: {args.model} is an autoregressive checkpoint")
    problems = humaneval.sample(humaneval.load_split(args.split), args.limit, args.seed)
    engine.infill(problems[0]["prompt"], problems[0]["suffix"], mode="multi", max_tokens=args.max_tokens,
                  sampler=protocol(8))  # warm-up, untimed: the first length paid the first calls' costs
    rows = [run(engine, problems, n, args.max_tokens, args.workers) for n in lengths]
    for row in rows:
        print(json.dumps(row), file=sys.stderr)
    result = {"model": engine.info["model"], "family": engine.spec.family, "split": args.split,
              "holes": len(problems), "protocol": "oracle" if args.oracle else "fixed lengths, averaged",
              "pass@1": statistics.mean(r["pass@1"] for r in rows), "by_length": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
