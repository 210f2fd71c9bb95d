"""Per-kernel time against its reference and against the hardware floor.

For the fused LM head + confidence (`kernels/`) at each shape (rows N, vocabulary V, hidden D):
- `plain`: what a step did before the fusion: logits = lm_head(h) (N, V), banned ids set to -inf,
  `dllm.sampler.propose` (softmax, argmax, gather) - the baseline every other number is divided by;
- `<backend> score`: what the engine calls per step (token + top-1 probability); `<backend> confidence`:
  all three scores (probability, margin, entropy); on the CPU also the online-softmax torch tiles;
- the backend is torch on the CPU, Triton on CUDA (the interpreter is for correctness, not speed).
The floor of a shape is max(bytes that must move / measured read bandwidth, 2*N*V*D / measured matmul
throughput): the weight (V, D) has to be read once, the matmul has to be done once. Read bandwidth
is timed with a sum over a buffer larger than the last-level cache, throughput with a large matmul,
both in the run's dtype on the run's device. On the CPU a small head (8 MB) may sit in cache, so its
time can undercut the DRAM floor; the floor is the GPU target (within 1.5x).

With `--engine MODEL` it measures the whole fast path end to end instead: the engine as first built
(float32, logits + softmax head; `kernels="off"`) against the engine as loaded now (the load-time
decisions: dtype, kernel backend), on the same holes, interleaved per hole, same outputs checked.

With `--tune` it sweeps the Triton kernel's tiles on a GPU (bf16): for each shape the read-bandwidth
floor, the plain path (full logits, then softmax / argmax), the kernel with its default tiles, and
every tile configuration of the sweep (vocabulary block, K block, warps, pipeline stages, programs per
SM), each checked against the float32 reference (greedy tokens, probability error) before it may win.

    python -m bench.kernels                              # CPU: the default model's head + a Qwen2-size head
    python -m bench.kernels --device cuda --dtype bfloat16
    python -m bench.kernels --engine default --context 1000 --n 20
    python -m bench.kernels --engine default --context 1000 --n 20 --compiled   # + torch.compile: minutes
    python -m bench.kernels --tune                       # tile sweep: the Open-dCoder-0.5B and Dream-7B heads
    python -m bench.kernels --tune --shapes 32x151936x896 --quick
    TRITON_INTERPRET=1 python -m bench.kernels --tune --smoke   # tiny shapes on the CPU: checks the sweep
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from dllm_complete.dllm.contract import SamplerConfig
from dllm_complete.dllm.sampler import propose
from dllm_complete.kernels import dispatch, packed
from dllm_complete.kernels.attention_torch import MAX_STACKED_SCORES, attention_reference, grouped_attention
from dllm_complete.kernels.lm_head_torch import lm_head_confidence_torch
from dllm_complete.kernels.reference import ban_bias, lm_head_confidence_reference

from . import common
from .timing import matmul_flops, median_ms, read_bandwidth

CPU_SHAPES = "8x8192x256,32x8192x256,96x8192x256,32x151936x896"
GPU_SHAPES = "32x151936x896,64x151936x896,128x151936x896,32x152064x3584,64x152064x3584,128x152064x3584"
SMOKE_SHAPES = "5x300x40,17x1000x24"
SWEEP = {"block_v": (64, 128, 256), "block_k": (64, 128), "num_warps": (4, 8), "num_stages": (3, 4),
         "programs_per_sm": (4, 8)}
QUICK = {"block_v": (128,), "block_k": (64, 128), "num_warps": (4,), "num_stages": (3,), "programs_per_sm": (4,)}


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    return [tuple(int(x) for x in s.split("x")) for s in text.split(",") if s]


def plain(h, w, banned, cfg=SamplerConfig()):
    logits = F.linear(h, w)  # (N, V)
    logits[:, banned] = float("-inf")
    return propose(logits, cfg)


def bench_shape(N, V, D, device, dtype, args, bw, flops) -> dict:
    g = torch.Generator().manual_seed(N + V + D)
    h = (torch.randn(N, D, generator=g) * 4).to(device, dtype)
    w = (torch.randn(V, D, generator=g) / D ** 0.5).to(device, dtype)
    banned = torch.arange(0, V, 97, device=device)
    bias = ban_bias(V, banned, device)
    elt = torch.finfo(dtype).bits // 8
    floor_ms = max((V * D + N * D) * elt / bw, 2 * N * V * D / flops) * 1e3
    impls = {"plain": lambda: plain(h, w, banned)}
    backend = dispatch.select_backend("auto", device)
    impls[f"{backend.name} score"] = lambda: backend.lm_head_score(h, w, bias, "probability")  # the engine's call
    impls[f"{backend.name} confidence"] = lambda: backend.lm_head_confidence(h, w, bias)  # all three scores
    if device.type == "cpu":
        for tile in args.tiles:
            impls[f"torch tile={tile}"] = lambda tile=tile: lm_head_confidence_torch(h, w, bias, tile=tile)
    ref_tokens = lm_head_confidence_reference(h.float(), w.float(), bias).token  # float32 math
    rows = {}
    for name, fn in impls.items():
        ms = median_ms(fn, device, args.warmup, args.repeats)
        out = fn()
        tokens = out[0] if isinstance(out, tuple) else out.token
        rows[name] = {"ms": ms, "floor_x": ms / floor_ms, "same_tokens": int((tokens == ref_tokens).sum()), "rows": N}
    base = rows["plain"]["ms"]
    for r in rows.values():
        r["speedup_vs_plain"] = base / r["ms"]
    line = "  ".join(f"{k}: {v['ms']:.3f} ms" for k, v in rows.items())
    print(f"N={N} V={V} D={D} floor {floor_ms:.3f} ms | {line}", file=sys.stderr)
    return {"shape": {"rows": N, "vocab": V, "dim": D}, "floor_ms": floor_ms, "impls": rows}


def tune_shape(N, V, D, grid: dict, bandwidth: float, device, args) -> dict:
    """One shape of the tile sweep: floor, plain path, default tiles, and every configuration of `grid`."""
    from dllm_complete.kernels.lm_head_triton import lm_head_confidence_triton  # needs Triton: checked in tune

    g = torch.Generator(device=device).manual_seed(N + V + D)
    h = (torch.randn(N, D, generator=g, device=device) * 4).to(torch.bfloat16)
    w = (torch.randn(V, D, generator=g, device=device) / D ** 0.5).to(torch.bfloat16)
    bias = ban_bias(V, torch.arange(0, V, 97, device=device), device)
    ref = lm_head_confidence_reference(h.float(), w.float(), bias)
    floor = (V * D + N * D) * 2 / bandwidth * 1e3

    def timed(fn) -> float:
        return median_ms(fn, device, args.warmup, args.repeats)

    def plain_path():
        return (F.linear(h, w).float() + bias).softmax(-1).max(-1)

    def check(out) -> dict:
        return {"same_tokens": int((out.token == ref.token).sum()), "rows": N,
                "max_prob_err": float((out.prob - ref.prob).abs().max())}

    cells = {"floor_ms": floor, "plain_ms": timed(plain_path)}
    default = lambda: lm_head_confidence_triton(h, w, bias)
    cells["default"] = {"ms": timed(default), **check(default())}
    base_ok = cells["default"]["same_tokens"]
    tried = []
    for values in itertools.product(*grid.values()):
        cfg = dict(zip(grid, values))
        fn = lambda cfg=cfg: lm_head_confidence_triton(h, w, bias, **cfg)
        try:
            result = {**cfg, **check(fn()), "ms": timed(fn)}
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


def tune(args) -> dict:
    """The tile sweep on CUDA (--smoke: tiny shapes on the CPU, under TRITON_INTERPRET=1); a summary
    saying why when there is no CUDA device or Triton does not import."""
    why = None
    if not args.smoke and not torch.cuda.is_available():
        why = "no CUDA device (--smoke checks the sweep on the CPU)"
    elif dispatch.triton_import_error():
        why = f"Triton does not import ({dispatch.triton_import_error()}): pip install -e '.[gpu]'"
    if why:
        return {"bench": "lm_head_tune", "skipped": why, "stamp": common.stamp()}
    device = torch.device("cpu" if args.smoke else "cuda")
    bandwidth = read_bandwidth(device, torch.bfloat16)
    print(f"read bandwidth {bandwidth / 1e9:.0f} GB/s", file=sys.stderr)
    grid = QUICK if args.quick or args.smoke else SWEEP
    shapes = parse_shapes(SMOKE_SHAPES if args.smoke else args.shapes or GPU_SHAPES)
    results = [tune_shape(*s, grid, bandwidth, device, args) for s in shapes]
    return {"bench": "lm_head_tune", "read_bandwidth_gbs": bandwidth / 1e9, "sweep": grid,
            "results": results, "stamp": common.stamp()}


def unchunked_attention(q, k, v, mask=None):
    """The grouped attention op before long queries went in chunks: SDPA past one stacked pass."""
    if (q.shape[1] // k.shape[1]) * q.shape[2] * k.shape[2] > MAX_STACKED_SCORES:
        return attention_reference(q, k, v, mask)
    return grouped_attention(q, k, v, mask)


def unpacked(engine):
    """The engine with every GEMM from its plain weight again, as before weights were packed."""
    for weight in engine.model.gemm_weights():
        packed.forget(weight)
    return engine


def separate_projections(engine):
    """The engine with q/k/v and gate/up as separate GEMMs again, as before they were stacked."""
    engine.model.fuse_projections(on=False)
    return unpacked(engine)


def engine_ab(args) -> dict:
    """p50 latency of single- and multi-line infills before/after the fast path, in one run.

    `before` is the engine as first built; the arms after it add one step each, in the order they came:
    `sdpa` (the load dtype and the fused LM head, with the model's own SDPA attention), on the CPU
    `unchunked` (+ the grouped attention op, long queries - a canvas's full forward - left to SDPA),
    `separate` (+ long queries in chunks) and `stacked` (+ q/k/v and gate/up stacked), then `after`,
    today's engine (+ on the CPU in bf16, weights packed for oneDNN: `kernels/packed.py`).
    Beside them: on the CPU `float32`, today's engine in float32, to isolate the dtype; on CUDA
    `no-graphs`, today's engine with its forwards run eagerly, to isolate the CUDA graphs; with
    `--compiled`, `compiled`, today's engine with its forward under `torch.compile` (opt-in at load):
    the first call per mode (`warmup_s`) and the slowest (`max_ms`) show compiles and recompiles.
    """
    from . import latency
    from dllm_complete.dllm.checkpoint import DEFAULT_MODEL, load_checkpoint
    from dllm_complete.dllm.engine import Engine

    path = DEFAULT_MODEL if args.engine == "default" else args.engine
    engines = {"before": Engine(load_checkpoint(path, dtype="float32"), kernels="off", graphs="off"),
               "sdpa": separate_projections(Engine(load_checkpoint(path), graphs="off")),
               "after": Engine(load_checkpoint(path))}
    engines["sdpa"].model.use_attention(None)
    if engines["after"].device.type == "cpu":
        engines["unchunked"] = separate_projections(Engine(load_checkpoint(path), graphs="off"))
        engines["unchunked"].model.use_attention(unchunked_attention)
        engines["separate"] = separate_projections(Engine(load_checkpoint(path), graphs="off"))
        engines["stacked"] = unpacked(Engine(load_checkpoint(path), graphs="off"))
        engines["float32"] = Engine(load_checkpoint(path, dtype="float32"), graphs="off")
    if engines["after"].device.type == "cuda":  # isolate the CUDA graphs of the step (dllm/forward.py)
        engines["no-graphs"] = Engine(load_checkpoint(path), graphs="off")
    if args.compiled:
        engines["compiled"] = Engine(load_checkpoint(path), compile_forward=True)
    text = latency.DEFAULT_SOURCE.read_text(encoding="utf-8")
    tok = engines["after"].tokenizer
    finders = {"single": latency.single_holes, "multi": latency.multi_holes}
    modes = {}
    for mode, find in finders.items():
        holes = [latency.window(tok, h, args.context) for h in latency.pick(find(text), args.n, args.seed)]
        warmup_s = {}
        for k, e in engines.items():
            t0 = time.perf_counter()
            e.infill(*holes[0], mode=mode)
            warmup_s[k] = time.perf_counter() - t0
        runs = {k: [] for k in engines}
        names = list(engines)
        for i, (prefix, suffix) in enumerate(holes):
            for k in names[i % len(names):] + names[:i % len(names)]:  # rotate the order hole by hole
                t0 = time.perf_counter()
                r = engines[k].infill(prefix, suffix, mode=mode)
                runs[k].append(((time.perf_counter() - t0) * 1e3, r.text, r.stats.nfe))
        p50 = {k: statistics.median(x[0] for x in v) for k, v in runs.items()}
        modes[mode] = {"n": len(holes), "p50_ms": p50, "warmup_s": warmup_s,
                       "max_ms": {k: max(x[0] for x in v) for k, v in runs.items()},
                       "speedup_p50": {k: p50["before"] / p50[k] for k in names[1:]},
                       "speedup_per_hole_median": {k: statistics.median(
                           b[0] / a[0] for b, a in zip(runs["before"], runs[k])) for k in names[1:]},
                       "same_text": {k: sum(b[1] == a[1] for b, a in zip(runs["before"], runs[k]))
                                     for k in names[1:]},
                       "nfe_mean": {k: statistics.mean(x[2] for x in v) for k, v in runs.items()}}
        m = modes[mode]
        print(f"{mode}: p50 " + ", ".join(f"{k} {v:.1f} ms" for k, v in p50.items())
              + f"; speed-up {m['speedup_p50']}; same text {m['same_text']}/{m['n']}", file=sys.stderr)
    return {"bench": "kernels-engine", "model": str(path), "context": args.context,
            **{k: e.info for k, e in engines.items()},
            "threads": torch.get_num_threads(), "modes": modes, "stamp": common.stamp()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, help="float32 (CPU default) | bfloat16 (CUDA default) | float16")
    p.add_argument("--shapes", default=None, help="NxVxD,... (rows x vocabulary x hidden)")
    p.add_argument("--tiles", default="0,4096,16384", help="torch tiles to time on the CPU (0 = whole vocabulary)")
    p.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0 = torch's default)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--engine", default=None, metavar="MODEL",
                   help="end-to-end before/after on a checkpoint directory ('default' = the packaged model)")
    p.add_argument("--context", type=int, default=1000, help="--engine: context tokens per hole")
    p.add_argument("--n", type=int, default=20, help="--engine: holes per mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compiled", action="store_true", help="--engine: add the engine under torch.compile (slow)")
    p.add_argument("--tune", action="store_true", help="the Triton kernel's tile sweep on CUDA (bf16)")
    p.add_argument("--quick", action="store_true", help="--tune: a two-point sweep")
    p.add_argument("--smoke", action="store_true", help="--tune: tiny shapes on the CPU under TRITON_INTERPRET=1")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.engine or args.tune:
        if args.tune:  # its own device and dtype: CUDA (the CPU with --smoke), bf16
            summary = tune(args)
        else:
            with torch.inference_mode():
                summary = engine_ab(args)
        common.print_summary(summary)
        return summary
    args.tiles = [int(t) for t in args.tiles.split(",") if t]
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench/kernels.py: no CUDA device here; run it with --device cpu", file=sys.stderr)
        raise SystemExit(2)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    shapes = parse_shapes(args.shapes or (GPU_SHAPES if device.type == "cuda" else CPU_SHAPES))
    bw, flops = read_bandwidth(device, dtype), matmul_flops(device, dtype)
    print(f"read bandwidth {bw / 1e9:.1f} GB/s, matmul {flops / 1e12:.2f} TFLOP/s ({dtype})", file=sys.stderr)
    with torch.inference_mode():
        results = [bench_shape(*s, device, dtype, args, bw, flops) for s in shapes]
    summary = {"bench": "kernels", "op": "lm_head_confidence", "device": str(device),
               "dtype": str(dtype).removeprefix("torch."), "threads": torch.get_num_threads(),
               "read_bandwidth_gbs": bw / 1e9, "matmul_tflops": flops / 1e12, "results": results,
               "stamp": common.stamp()}
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
