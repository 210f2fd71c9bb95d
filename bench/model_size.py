"""Which model size still meets the single-line latency target on this CPU (before training it).

For each size of `python -m dllm_complete.dllm.train fit --size`: random weights in that shape, the engine's own
denoising loop on a single-line canvas (16 slots, blocks of 8) at a 1,000-token context, with a fixed
number of tokens committed per step (random weights never pass a confidence threshold). Median over
`--repeats` runs, bf16 where the CPU has native bf16 (the load default). Fixed steps cost more than a
trained model's early stop, so the projection scales the shipped model's measured p50
(`bench/results/latency.summary.json`, engine, single-line, 1,000 tokens) by each size's time over
the shipped size's time in this run. The JSON last line holds every size.

    python -m bench.model_size
    python -m bench.model_size --sizes small,base --context 1000 --steps 8
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
from dllm_complete.dllm.checkpoint import Loaded, ModelSpec, cpu_has_native_bf16
from dllm_complete.dllm.engine import Engine
from dllm_complete.dllm.model import ModelConfig
from dllm_complete.dllm.train.sizes import SIZES

from . import common, gpu

VOCAB = 8192  # the shipped tokenizer's
TARGET_MS = 60.0  # the engine issue's single-line p50 target
SHIPPED = "small"  # the size of dllm/weights/dllm-code-small
LATENCY = common.REPO_ROOT / "bench" / "results" / "latency.summary.json"


def measure(name: str, args, dtype: torch.dtype) -> dict:
    dim, layers, heads, kv, inter = SIZES[name]
    cfg = ModelConfig(vocab_size=VOCAB, dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv,
                      intermediate_size=inter, tie_embeddings=True, max_seq_len=4096)
    model = gpu.random_model(cfg, torch.device("cpu"), dtype)
    spec = ModelSpec(name=name, kind="diffusion", logits_shift=True, family="llama", context_tokens=cfg.max_seq_len)
    engine = Engine(Loaded(model, gpu.RandomTokenizer(VOCAB), spec))
    case = gpu.make_case(VOCAB, args.context, args.slots, args.slots // args.steps)
    ms, info = gpu.timed(lambda: gpu.diffusion_engine(engine, case), torch.device("cpu"), 2, args.repeats)
    row = {"size": name, "params": model.num_params(), "shape": {"dim": dim, "layers": layers, "heads": heads,
           "kv_heads": kv, "intermediate": inter}, "p50_ms": ms, "steps": info["steps"]}
    print(f"{name}: {row['params'] / 1e6:.1f}M params, {ms:.1f} ms over {info['steps']} fixed steps", file=sys.stderr)
    return row


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=",".join(SIZES))
    p.add_argument("--context", type=int, default=1000)
    p.add_argument("--slots", type=int, default=16, help="single-line canvas")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    dtype = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    sizes = [name for name in args.sizes.split(",") if name]
    with torch.inference_mode():
        rows = [measure(name, args, dtype) for name in dict.fromkeys([SHIPPED, *sizes])]
    shipped_ms = json.loads(LATENCY.read_text())["engine"]["single"]["1000"]["latency_ms"]["p50"]
    for r in rows:
        r["projected_p50_ms"] = shipped_ms * (r["p50_ms"] / rows[0]["p50_ms"])  # the reference: exactly shipped_ms
        r["meets_target"] = r["projected_p50_ms"] < TARGET_MS
        print(f"{r['size']}: projected single-line p50 {r['projected_p50_ms']:.1f} ms "
              f"({'meets' if r['meets_target'] else 'misses'} {TARGET_MS:.0f} ms)", file=sys.stderr)
    fits = [r for r in rows if r["meets_target"]]
    summary = {"bench": "model_size", "dtype": str(dtype).removeprefix("torch."), "threads": torch.get_num_threads(),
               "settings": {"context": args.context, "slots": args.slots, "steps": args.steps,
                            "target_ms": TARGET_MS, "shipped_size": SHIPPED, "shipped_p50_ms": shipped_ms},
               "sizes": rows, "biggest_meeting_target": max(fits, key=lambda r: r["params"])["size"] if fits else None,
               "stamp": common.stamp()}
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
