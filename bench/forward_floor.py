"""The floor under a completion's latency: one forward over the whole context.

Every completion starts with it, diffusion or autoregressive: the diffusion model's first step runs
prefix + canvas + suffix (it fills the key/value cache the later steps read), the AR twin's prefill
runs its prompt. However few the steps after it, a completion takes at least this long. Per model and
context length: the median time of that forward (random token ids; the time does not depend on them),
with the model as `dllm.load` serves it. JSON summary as the last line.

    python -m bench.forward_floor
    python -m bench.forward_floor --contexts 250,500,1000 --n 30 --models default,dllm/weights/ar-code-small
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from dllm_complete import dllm

from .common import print_summary, stamp


def forward_ms(model, tokens: int, n: int) -> float:
    """Median ms of one uncached forward over `tokens` positions into a fresh cache."""
    ids = torch.randint(0, model.cfg.vocab_size, (1, tokens))
    positions = torch.arange(tokens)
    cache = model.new_cache(1, tokens)
    times = []
    with torch.inference_mode():
        for i in range(n + 3):
            t0 = time.perf_counter()
            model.hidden(ids, positions, cache)
            if i >= 3:  # the first calls warm the allocator and oneDNN's caches
                times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="forward_floor.py")
    p.add_argument("--models", default="default,dllm/weights/ar-code-small")
    p.add_argument("--contexts", default="250,500")
    p.add_argument("--n", type=int, default=30)
    args = p.parse_args(argv)
    contexts = [int(c) for c in args.contexts.split(",")]
    engines = {name: dllm.load(None if name == "default" else name) for name in args.models.split(",")}
    rows = {name: {} for name in engines}
    for tokens in contexts:  # models interleaved at each length
        for name, engine in engines.items():
            rows[name][str(tokens)] = round(forward_ms(engine.model, tokens, args.n), 2)
            print(name, engine.info["kind"], tokens, "tokens:", rows[name][str(tokens)], "ms", file=sys.stderr)
    summary = {"bench": "forward_floor", "n": args.n, "forward_ms": rows,
               "models": {name: engine.info for name, engine in engines.items()}, **stamp()}
    print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
