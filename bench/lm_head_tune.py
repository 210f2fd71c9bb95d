"""Tile sweep of the Triton LM head + confidence kernel on a GPU, timed with CUDA events.

For each (rows x vocabulary x hidden) shape: the read-bandwidth floor (weights read once), the plain
path (full logits, then softmax / argmax), the kernel with its default tiles, and every tile
configuration of the sweep (vocabulary block, K block, warps, pipeline stages, programs per SM),
each checked against the float32 reference (greedy tokens, probability error) before it may win.
Medians of `triton.testing.do_bench`. The JSON last line holds every cell.

    python -m bench.lm_head_tune                       # the Open-dCoder-0.5B and Dream-7B head shapes
    python -m bench.lm_head_tune --shapes 32x151936x896 --quick
    TRITON_INTERPRET=1 python -m bench.lm_head_tune --smoke   # tiny shapes on the CPU: checks the script
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch
import torch.nn.functional as F

from dllm_complete.kernels.dispatch import triton_import_error
from dllm_complete.kernels.reference import ban_bias, lm_head_confidence_reference

from . import common
from .timing import median_ms, read_bandwidth

SHAPES = "32x151936x896,64x151936x896,128x151936x896,32x152064x3584,64x152064x3584,128x152064x3584"
SWEEP = {"block_v": (64, 128, 256), "block_k": (64, 128), "num_warps": (4, 8), "num_stages": (3, 4),
         "programs_per_sm": (4, 8)}
QUICK = {"block_v": (128,), "block_k": (64, 128), "num_warps": (4,), "num_stages": (3,), "programs_per_sm": (4,)}


def shape_cells(N: int, V: int, D: int, grid: dict, bandwidth: float, device) -> dict:
    from dllm_complete.kernels.lm_head_triton import lm_head_confidence_triton  # needs Triton: checked in main

    g = torch.Generator(device=device).manual_seed(N + V + D)
    h = (torch.randn(N, D, generator=g, device=device) * 4).to(torch.bfloat16)
    w = (torch.randn(V, D, generator=g, device=device) / D ** 0.5).to(torch.bfloat16)
    banned = torch.arange(0, V, 97, device=device)
    bias = ban_bias(V, banned, device)
    ref = lm_head_confidence_reference(h.float(), w.float(), bias)
    floor = (V * D + N * D) * 2 / bandwidth * 1e3

    def plain():
        logits = F.linear(h, w).float() + bias
        return logits.softmax(-1).max(-1)

    def check(out) -> dict:
        return {"same_tokens": int((out.token == ref.token).sum()), "rows": N,
                "max_prob_err": float((out.prob - ref.prob).abs().max())}

    cells = {"floor_ms": floor, "plain_ms": median_ms(plain, device)}
    default = lambda: lm_head_confidence_triton(h, w, bias)
    cells["default"] = {"ms": median_ms(default, device), **check(default())}
    base_ok = cells["default"]["same_tokens"]
    tried = []
    for values in itertools.product(*grid.values()):
        cfg = dict(zip(grid, values))
        fn = lambda cfg=cfg: lm_head_confidence_triton(h, w, bias, **cfg)
        try:
            result = {**cfg, **check(fn()), "ms": median_ms(fn, device)}
        except Exception as e:  # a tile that does not fit (shared memory, registers)
            result = {**cfg, "error": str(e).splitlines()[0][:120]}
        result["ok"] = "error" not in result and result["same_tokens"] >= base_ok and result["max_prob_err"] < 1e-2
        tried.append(result)
    good = [r for r in tried if r["ok"]]
    best = min(good, key=lambda r: r["ms"]) if good else None
    cells.update(best=best, tried=tried)
    print(f"N={N} V={V} D={D}: floor {floor:.3f} ms, plain {cells['plain_ms']:.3f} ms, default "
          f"{cells['default']['ms']:.3f} ms ({cells['default']['ms'] / floor:.2f}x floor), best "
          + (f"{best['ms']:.3f} ms ({best['ms'] / floor:.2f}x floor) "
             f"{ {k: best[k] for k in grid} }" if best else "none"), file=sys.stderr)
    return {"shape": {"rows": N, "vocab": V, "dim": D}, **cells}


def _skipped(why: str) -> dict:
    summary = {"bench": "lm_head_tune", "skipped": why, "stamp": common.stamp()}
    common.print_summary(summary)
    return summary


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", default=SHAPES, help="NxVxD,... (rows x vocabulary x hidden)")
    p.add_argument("--quick", action="store_true", help="a two-point sweep")
    p.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU under TRITON_INTERPRET=1")
    args = p.parse_args(argv)
    if args.smoke:
        args.shapes, args.quick = "5x300x40,17x1000x24", True
    elif not torch.cuda.is_available():
        return _skipped("no CUDA device (--smoke checks the script on the CPU)")
    if triton_import_error():
        return _skipped(f"Triton does not import ({triton_import_error()}): pip install -e '.[gpu]'")
    device = torch.device("cpu" if args.smoke else "cuda")
    bandwidth = read_bandwidth(device, torch.bfloat16)
    print(f"read bandwidth {bandwidth / 1e9:.0f} GB/s", file=sys.stderr)
    grid = QUICK if args.quick else SWEEP
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",") if s]
    results = [shape_cells(N, V, D, grid, bandwidth, device) for N, V, D in shapes]
    summary = {"bench": "lm_head_tune", "read_bandwidth_gbs": bandwidth / 1e9, "sweep": grid,
               "results": results, "stamp": common.stamp()}
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
