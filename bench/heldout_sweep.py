"""Choose sampler defaults on held-out corpus holes, never on the evaluation set.

Cuts single-line and multi-line holes from the training corpus's held-out files (same split and seed
as `python -m dllm_complete.dllm.train`), runs each sampler setting on them and reports exact match (stripped),
edit similarity (difflib's ratio, 0-1: multi-line holes are rarely matched exactly), model calls, tokens per
model call and latency. JSON summary as the last line.

  python -m bench.heldout_sweep --model DIR --n 100 --settings "" "block_size=4" "threshold=0.7"
"""

from __future__ import annotations

import argparse
import difflib
import random
import sys
import time

import msgspec

from dllm_complete import dllm
from dllm_complete.dllm.train.corpus import collect, split_by_file
from dllm_complete.dllm.train.examples import cut_span

from .common import percentiles, print_summary, stamp


def holes(n: int, seed: int, mode: str) -> list[tuple[str, str, str]]:
    _, held = split_by_file(collect(), 0.01, 0)
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        text = held[rng.randrange(len(held))].text
        a, b = cut_span(text, rng)
        middle = text[a:b]
        lines = middle.count("\n")
        if (mode == "single" and lines == 1 and middle.strip()) or (mode == "multi" and 2 <= lines <= 6):
            out.append((text[:a], middle, text[b:]))
    return out


def parse_setting(text: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        out[key] = float(value) if "." in value else int(value)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.heldout_sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="checkpoint directory or name (default: the embedded model)")
    p.add_argument("--n", type=int, default=100, help="holes per mode")
    p.add_argument("--seed", type=int, default=1, help="which held-out holes")
    p.add_argument("--modes", default="single,multi", help="comma-separated modes")
    p.add_argument("--settings", nargs="*", default=[""],
                   help='sampler settings to compare, each "key=value,..." ("" = the defaults)')
    args = p.parse_args(argv)
    engine = dllm.load(args.model)
    base = engine.sampler
    results = []
    for mode in args.modes.split(","):
        data = holes(args.n, args.seed, mode)
        for setting in args.settings:
            engine.sampler = msgspec.structs.replace(base, **parse_setting(setting))
            hits, nfe, lat, tokens, similar = 0, [], [], 0, 0.0
            for prefix, middle, suffix in data:
                t0 = time.perf_counter()
                r = engine.infill(prefix, suffix, mode=mode)
                lat.append((time.perf_counter() - t0) * 1e3)
                nfe.append(r.stats.nfe)
                tokens += r.stats.tokens
                hits += r.text.strip() == middle.strip()
                similar += difflib.SequenceMatcher(None, r.text.strip(), middle.strip()).ratio()
            row = {"mode": mode, "setting": setting or "default", "exact_match": hits / len(data),
                   "similarity": similar / len(data),
                   "nfe_mean": sum(nfe) / len(nfe), "tokens_per_call": tokens / max(1, sum(nfe)), **{f"latency_{k}": v for k, v in percentiles(lat).items()}}
            results.append(row)
            print(row, file=sys.stderr, flush=True)
    print_summary({"bench": "heldout_sweep", "model": engine.info, "n": args.n, "results": results, **stamp()})


if __name__ == "__main__":
    main()
