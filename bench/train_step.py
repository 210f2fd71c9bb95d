"""Training speed: one optimizer step of the trainer's loss against the all-positions reference.

The trainer's loss (`dllm.train.objective.weighted_loss`) runs the output projection on the scored
positions only where most are unscored context (a diffusion batch; an AR batch scores nearly every
position and keeps the plain projection); the reference projects every position, as the loss did
first. `--compile` adds the trainer's `--compile`: the same loss around a torch.compile'd forward.
For each `--kinds` x `--sizes`: random weights of that size, real batches of the training objective
(the shipped tokenizer, a slice of this interpreter's corpus), forward + backward + AdamW, the arms
taking turns step by step; median milliseconds, tokens/s, speed-up over the reference, and each arm's
loss on one batch (equal up to rounding). JSON last line.

    python -m bench.train_step --sizes small,medium --compile
    python -m bench.train_step --device cuda --batch 64 --compile
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from dllm_complete.dllm.checkpoint import DEFAULT_MODEL
from dllm_complete.dllm.model import ModelConfig, Transformer
from dllm_complete.dllm.tokenizer import Tokenizer
from dllm_complete.dllm.train.sizes import SIZES
from dllm_complete.dllm.train.corpus import collect
from dllm_complete.dllm.train.objective import IGNORE, ar_batch, diffusion_batch, position_loss, weighted_loss

from . import common
from .timing import sync

BATCHES = {"diffusion": functools.partial(diffusion_batch, shift=True), "ar": ar_batch}


def all_positions_loss(model, tokens, targets, weights):
    """The reference: logits at every position, cross-entropy where there is a target."""
    return position_loss(model(tokens), targets, weights)


def measure(kind: str, size: str, tok: Tokenizer, files, args, device: torch.device) -> dict:
    dim, layers, heads, kv, inter = SIZES[size]
    cfg = ModelConfig(vocab_size=tok.vocab_size, dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv,
                      intermediate_size=inter, tie_embeddings=True, causal=kind == "ar", max_seq_len=4096)
    model = Transformer(cfg)
    model.init_weights(0)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rng = random.Random(0)
    batches = [tuple(t.to(device) for t in BATCHES[kind](tok, files, rng, args.batch, args.seq_len))
               for _ in range(args.batches)]
    eager = model.hidden
    arms = {"all positions": (all_positions_loss, eager), "scored positions": (weighted_loss, eager)}
    if args.compile:  # the trainer's --compile: the same loss around a compiled forward
        arms["scored positions, compiled"] = (weighted_loss, torch.compile(eager))

    def step(arm: str, batch) -> float:
        loss_fn, model.hidden = arms[arm]
        sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, torch.bfloat16, enabled=args.bf16):
            loss = loss_fn(model, *batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        return (time.perf_counter() - t0) * 1e3

    times = {arm: [] for arm in arms}
    for r in range(args.warmup + args.repeats):
        for k in range(len(arms)):  # rotating order: drift in machine load hits every arm alike
            arm = list(arms)[(r + k) % len(arms)]
            ms = step(arm, batches[r % len(batches)])
            if r >= args.warmup:
                times[arm].append(ms)
    losses = {}
    with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=args.bf16):  # same weights, same batch
        for arm, (loss_fn, model.hidden) in arms.items():
            losses[arm] = float(loss_fn(model, *batches[0]))
    del model.hidden  # the module's own method again
    tokens = args.batch * args.seq_len
    ref = statistics.median(times["all positions"])
    results = {arm: {"step_ms": statistics.median(ms), "tokens_per_s": tokens / statistics.median(ms) * 1e3,
                     "speedup": ref / statistics.median(ms), "loss": losses[arm]} for arm, ms in times.items()}
    scored = statistics.mean(float((b[1] != IGNORE).float().mean()) for b in batches)
    print(f"{kind} {size}: {scored:.0%} of positions scored; "
          + ", ".join(f"{arm} {r['step_ms']:.0f} ms ({r['speedup']:.2f}x, loss {r['loss']:.4f})"
                      for arm, r in results.items()), file=sys.stderr)
    return {"kind": kind, "size": size, "params": model.num_params(), "scored_fraction": scored, "arms": results}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kinds", default="diffusion,ar")
    p.add_argument("--sizes", default="small")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batches", type=int, default=4, help="distinct batches, cycled")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=8)
    p.add_argument("--files", type=int, default=2000, help="corpus files to draw batches from")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-bf16", dest="bf16", action="store_false")
    p.add_argument("--compile", action="store_true", help="also time the forward under torch.compile")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    tok = Tokenizer.from_file(str(Path(DEFAULT_MODEL) / "tokenizer.json"))
    files = collect()[: args.files]
    rows = [measure(kind, size, tok, files, args, device)
            for kind in args.kinds.split(",") for size in args.sizes.split(",")]
    summary = {"bench": "train_step", "device": str(device), "threads": torch.get_num_threads(), "bf16": args.bf16,
               "compile": args.compile,
               "settings": {"batch": args.batch, "seq_len": args.seq_len, "repeats": args.repeats,
                            "files": len(files)},
               "results": rows, "stamp": common.stamp()}
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
