"""GPU figures: diffusion infilling against autoregressive decoding of the same model, side by side.

Random weights in the shapes of Open-dCoder-0.5B (Qwen2-0.5B) and Dream-7B (Qwen2.5-7B), bf16, one
GPU. Per model, context (1k, 4k tokens) and infill length (32, 64, 128 tokens):

- `diffusion engine`: `dllm.Engine`'s own denoising loop (dual KV cache, fused LM head + confidence
  through the selected kernel backend), eager. Random weights never pass a confidence threshold, so
  the threshold is 1.0 and the step cap is length / tokens-per-step: the loop's floor rule then
  commits exactly `--tokens-per-step` tokens every step (say so next to any figure from here).
- `diffusion engine graph`: the same loop with its forwards replayed from CUDA graphs
  (`dllm.forward.GraphedForward`: canvas padded to a bucket of slots, a graph per shape), as
  `dllm.load` picks it on a GPU when its probe at load shows it faster; the loop's host-side logic
  (commit rule, bans, re-masking) stays as it is.
- `diffusion graph`: the same schedule with the cached step (middle-window forward + fused head)
  captured once in a CUDA graph and replayed; the commit (top-k of the masked slots) runs on the
  device between replays, so the loop never synchronises with the host.
- `ar eager` / `ar graph`: the same weights with causal attention: prefill, then one token per
  forward with a static KV cache (the decode step captured in a CUDA graph for `ar graph`).

Latency is the median over `--repeats` runs after a warm-up (prefill included); tokens/s = infill
length / latency. The JSON last line holds every cell and the diffusion/AR ratio of the best of each.
Without CUDA it prints why and exits with status 0 (`--smoke` runs tiny shapes on the CPU instead,
without graphs, to check the script itself).

    python -m bench.gpu                      # both models, all cells
    python -m bench.gpu --models open-dcoder-0.5b --contexts 1024 --lengths 64
    python -m bench.gpu --checkpoint ~/models/Dream-Coder-v0-Base-7B   # a real checkpoint (docs/models.md)

With `--checkpoint DIR` the weights are a real checkpoint's (any family `dllm.load` reads), its mask
and end tokens banned as above so that the schedule stays the same; the context is still random ids.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import sys
import time

import torch

from dllm_complete.kernels.dispatch import Backend, select_backend
from dllm_complete.kernels.reference import ban_bias
from dllm_complete.dllm.checkpoint import Loaded, ModelSpec, load_checkpoint
from dllm_complete.dllm.contract import SamplerConfig
from dllm_complete.dllm.engine import Engine
from dllm_complete.dllm.forward import capture_graphs
from dllm_complete.dllm.model import ModelConfig, Transformer
from dllm_complete.dllm.tokenizer import SpecialIds

from . import common
from .timing import sync

MODELS = {  # Hugging Face configs of the real checkpoints (Qwen2 architecture: q/k/v bias)
    "open-dcoder-0.5b": ModelConfig(vocab_size=151936, dim=896, n_layers=24, n_heads=14, n_kv_heads=2,
                                    intermediate_size=4864, rope_theta=1e6, qkv_bias=True,
                                    tie_embeddings=True, max_seq_len=8192),
    "dream-7b": ModelConfig(vocab_size=152064, dim=3584, n_layers=28, n_heads=28, n_kv_heads=4,
                            intermediate_size=18944, rope_theta=1e6, qkv_bias=True, max_seq_len=8192),
    "smoke": ModelConfig(vocab_size=1000, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=128,
                         qkv_bias=True, max_seq_len=1024),
}


class RandomTokenizer:
    """Just what `Engine` asks of a tokenizer. The end-of-middle id is banned with the mask, so random
    weights never end an infill early and every run commits the full length."""

    def __init__(self, vocab_size: int, special: SpecialIds | None = None) -> None:
        self.vocab_size = vocab_size
        self.special = special or SpecialIds(mask=vocab_size - 1, eom=vocab_size - 2, bos=vocab_size - 3)

    def never_generated(self, vocab_size: int | None = None) -> list[int]:
        sp = self.special
        return [i for i in (sp.mask, sp.eom, sp.bos) if i is not None] + list(range(self.vocab_size, vocab_size or 0))

    def stop_ids(self) -> list[int]:
        return [self.special.eom]

    def newline_ids(self) -> list[int]:
        return []

    def pieces(self) -> list[str]:
        return [""] * self.vocab_size


def random_model(cfg: ModelConfig, device: torch.device, dtype: torch.dtype, seed: int = 0) -> Transformer:
    """Qwen2's initialisation (N(0, 0.02) weights, zero biases, unit norms), made on the device: logits
    stay small, so no random proposal reaches probability 1.0 and the step schedule stays fixed."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Transformer(cfg)
    finally:
        torch.set_default_dtype(default)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.02)
            elif "norm" not in name:
                p.zero_()
    return model.eval().requires_grad_(False)


def timed(fn, device: torch.device, warmup: int, repeats: int) -> tuple[float, object]:
    """(median ms, last result) of fn()."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), out


def graphed(fn, device: torch.device, use_graph: bool):
    """fn itself, or a CUDA graph of it (its inputs and outputs must be static tensors)."""
    if not use_graph:
        return fn
    [(graph, out)] = capture_graphs([fn], device)

    def replay():
        graph.replay()
        return out
    return replay


@dataclasses.dataclass
class Case:
    prefix: list[int]
    suffix: list[int]
    length: int
    per_step: int


def make_case(vocab: int, context: int, length: int, per_step: int, seed: int = 0) -> Case:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab - 8, (context,), generator=g).tolist()
    cut = context * 3 // 4  # the engine gives the prefix 75% of the budget
    return Case(ids[:cut], ids[cut:], length, per_step)


# ------------------------------------------------------------------------------------ diffusion


def diffusion_engine(engine: Engine, case: Case) -> dict:
    """The engine's own loop, eager."""
    # blocks of 8, each refreshing the cache: the schedule of the published figures (not today's defaults)
    cfg = SamplerConfig(threshold=1.0, max_steps=case.length // case.per_step, confidence="probability",
                        block_size=8, refresh_each_block=True)
    out, stats = engine.fill_ids(case.prefix, case.suffix, case.length, cfg)
    return {"steps": stats.steps, "nfe": stats.nfe, "filled": int((out != engine.mask_id).sum())}


class GraphDiffusion:
    """Prefill eagerly, then replay one captured cached step per denoising step (k commits each)."""

    def __init__(self, model: Transformer, backend: Backend, case: Case, mask_id: int, bias, use_graph: bool):
        dev = model.embed_tokens.weight.device
        self.model, self.backend, self.case, self.mask_id, self.bias = model, backend, case, mask_id, bias
        P, L = len(case.prefix), case.length
        self.canvas = torch.tensor(case.prefix + [mask_id] * L + case.suffix, device=dev)[None]  # (1, N)
        self.positions = torch.arange(self.canvas.shape[1], device=dev)
        self.window = self.positions[P:P + L]  # (L,) static
        self.tokens = self.canvas[:, P:P + L].clone()  # (1, L) static input of the captured step
        self.cache = model.new_cache(1, self.canvas.shape[1])
        self.step = graphed(self._step, dev, use_graph)

    def _head(self, hidden):  # (L, D) -> tokens (L,), confidence (L,)
        out = self.backend.lm_head_confidence(hidden, self.model.lm_head.weight, self.bias)
        return out.token, out.prob

    def _step(self):
        return self._head(self.model.hidden(self.tokens, self.window, self.cache)[0])

    def _commit(self, tokens, conf):
        mid = self.tokens[0]
        masked = mid == self.mask_id
        top = torch.where(masked, conf, torch.full_like(conf, -1.0)).topk(self.case.per_step).indices
        mid[top] = tokens[top]  # in place: the captured step reads self.tokens

    def run(self) -> dict:
        P, L = len(self.case.prefix), self.case.length
        self.tokens.fill_(self.mask_id)
        self.canvas[0, P:P + L] = self.mask_id
        hidden = self.model.hidden(self.canvas, self.positions, self.cache)[0, P:P + L]  # prefill + step 1
        self._commit(*self._head(hidden))
        steps = L // self.case.per_step
        for _ in range(steps - 1):
            self._commit(*self.step())
        return {"steps": steps, "nfe": steps, "filled": int((self.tokens != self.mask_id).sum())}


# ------------------------------------------------------------------------------------------- AR


class ARDecode:
    """Greedy decoding with a static KV cache; the one-token step optionally captured in a CUDA graph."""

    def __init__(self, model: Transformer, prompt: list[int], length: int, bias, use_graph: bool):
        dev = model.embed_tokens.weight.device
        self.model, self.length, self.bias = model, length, bias
        self.prompt = torch.tensor(prompt, device=dev)[None]  # (1, T)
        n = len(prompt)
        self.slots = torch.arange(n + length, device=dev)
        self.cache = model.new_cache(1, n + length)
        self.token = torch.zeros(1, 1, dtype=torch.long, device=dev)  # static step inputs
        self.pos = torch.zeros(1, dtype=torch.long, device=dev)
        self.mask = torch.zeros(1, n + length, dtype=torch.bool, device=dev)  # (1, S) may attend
        self.out = torch.zeros(length, dtype=torch.long, device=dev)
        self.step = graphed(self._step, dev, use_graph)

    def _next(self, hidden):  # (1, D) -> (1,)
        logits = self.model.lm_head(hidden).float()  # (1, V)
        if self.bias is not None:
            logits = logits + self.bias
        return logits.argmax(-1)

    def _step(self):
        return self._next(self.model.hidden(self.token, self.pos, self.cache, self.mask)[0])

    def run(self) -> dict:
        n = self.prompt.shape[1]
        causal = self.slots[None, :] <= self.slots[:n, None]  # (T, S)
        first = self._next(self.model.hidden(self.prompt, self.slots[:n], self.cache, causal)[0, -1:])
        self.out[0] = first[0]
        self.mask.copy_(self.slots[None, :] < n)
        for i in range(1, self.length):
            self.token.view(-1).copy_(self.out[i - 1:i])
            self.pos.fill_(n + i - 1)
            self.mask[0, n + i - 1] = True
            self.out[i:i + 1].copy_(self.step())
        return {"steps": self.length, "nfe": self.length}


# ------------------------------------------------------------------------------------------ main


def run_model(name: str, cfg: ModelConfig | None, args, device: torch.device, dtype: torch.dtype) -> list[dict]:
    """Every cell for one model: random weights in `cfg`'s shape, or (cfg None) the checkpoint `name`."""
    t0 = time.perf_counter()
    if cfg is None:
        loaded = load_checkpoint(name, device=str(device), dtype=str(dtype).removeprefix("torch."))
        model, cfg, spec = loaded.model, loaded.model.cfg, loaded.spec
        tok = RandomTokenizer(cfg.vocab_size, loaded.tokenizer.special)
    else:
        model = random_model(cfg, device, dtype)
        tok = RandomTokenizer(cfg.vocab_size)
        spec = ModelSpec(name=name, kind="diffusion", logits_shift=False, family="random",
                         context_tokens=cfg.max_seq_len)
    engine = Engine(Loaded(model, tok, spec), kernels=args.kernels, graphs="off")
    bias = ban_bias(cfg.vocab_size, tok.never_generated(), device)
    print(f"{name}: {model.num_params() / 1e9:.2f}B params, built in {time.perf_counter() - t0:.1f}s, "
          f"kernels={engine.kernels.name if engine.kernels else 'off'}", file=sys.stderr)
    use_graph = device.type == "cuda" and not args.no_graphs
    graph_engine = Engine(Loaded(model, tok, spec), kernels=args.kernels, graphs="on") if use_graph else None
    rows = []
    for context in args.contexts:
        for length in args.lengths:
            case = make_case(cfg.vocab_size, context, length, args.tokens_per_step)
            cell = {"model": name, "context": context, "length": length, "tokens_per_step": args.tokens_per_step}
            cell["diffusion_engine"] = _measure(functools.partial(diffusion_engine, engine, case), device, args, length)
            if graph_engine is not None:
                cell["diffusion_engine_graph"] = _measure(functools.partial(diffusion_engine, graph_engine, case),
                                                          device, args, length)
            gd = GraphDiffusion(model, engine.kernels or select_backend("torch"), case, tok.special.mask,
                                bias, use_graph)
            cell["diffusion_graph" if use_graph else "diffusion_step"] = _measure(gd.run, device, args, length)
            # AR: the same weights; attention is causal through the explicit masks ARDecode passes
            prompt = case.prefix + case.suffix  # the AR prompt holds the same context tokens
            cell["ar_eager"] = _measure(ARDecode(model, prompt, length, bias, False).run, device, args, length)
            if use_graph:
                cell["ar_graph"] = _measure(ARDecode(model, prompt, length, bias, True).run, device, args, length)
            best_d = max(v["tokens_per_s"] for k, v in cell.items() if k.startswith("diffusion"))
            best_a = max(v["tokens_per_s"] for k, v in cell.items() if k.startswith("ar"))
            cell["diffusion_over_ar"] = best_d / best_a
            rows.append(cell)
            print(f"  ctx={context:5} L={length:4}: " + "  ".join(
                f"{k} {v['latency_ms']:.1f} ms ({v['tokens_per_s']:.0f} tok/s)" for k, v in cell.items()
                if isinstance(v, dict)) + f"  diffusion/AR {cell['diffusion_over_ar']:.2f}x", file=sys.stderr)
    del model, engine, graph_engine
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def _measure(fn, device, args, length) -> dict:
    ms, info = timed(fn, device, args.warmup, args.repeats)
    return {"latency_ms": ms, "tokens_per_s": length / (ms / 1e3), **(info or {})}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="open-dcoder-0.5b,dream-7b", help=f"comma separated: {', '.join(MODELS)}")
    p.add_argument("--contexts", default="1024,4096")
    p.add_argument("--lengths", default="32,64,128")
    p.add_argument("--tokens-per-step", type=int, default=4, help="tokens committed per denoising step (fixed)")
    p.add_argument("--kernels", default="auto", choices=("auto", "triton", "torch", "off"))
    p.add_argument("--no-graphs", action="store_true", help="skip the CUDA-graph variants")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU: checks the script, not the GPU")
    p.add_argument("--checkpoint", metavar="DIR", help="a real checkpoint's weights instead of --models' random ones")
    args = p.parse_args(argv)
    if args.smoke:
        args.models, args.contexts, args.lengths = "smoke", "96", "16,32"
    args.models = [m for m in args.models.split(",") if m]
    args.contexts = [int(c) for c in args.contexts.split(",")]
    args.lengths = [int(n) for n in args.lengths.split(",")]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    if any(n % args.tokens_per_step for n in args.lengths):
        p.error("every infill length must be a multiple of --tokens-per-step")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not torch.cuda.is_available() and not args.smoke:
        msg = "no CUDA device: the GPU figures need one (python -m bench.gpu --smoke checks the script on the CPU)"
        print(f"bench/gpu.py: {msg}", file=sys.stderr)
        summary = {"bench": "gpu", "skipped": msg, "stamp": common.stamp()}
        common.print_summary(summary)
        return summary
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rows = []
    with torch.inference_mode():
        for name in [args.checkpoint] if args.checkpoint else args.models:
            rows += run_model(name, None if args.checkpoint else MODELS[name], args, device, dtype)
    target = [r["diffusion_over_ar"] for r in rows if r["length"] == 64]
    summary = {"bench": "gpu", "device": str(device), "dtype": str(dtype).removeprefix("torch."),
               "settings": {"models": [args.checkpoint] if args.checkpoint else args.models, "contexts": args.contexts, "lengths": args.lengths,
                            "tokens_per_step": args.tokens_per_step, "kernels": args.kernels,
                            "graphs": device.type == "cuda" and not args.no_graphs,
                            "note": f"{'checkpoint' if args.checkpoint else 'random'} weights: a fixed number of "
                                    "tokens is committed per step"},
               "cells": rows,
               "targets": {"diffusion_over_ar_64_min": min(target) if target else None,
                           "diffusion_over_ar_64_ok": all(t >= 3 for t in target) if target else None},
               "stamp": common.stamp()}
    common.print_summary(summary)
    return summary


if __name__ == "__main__":
    main()
