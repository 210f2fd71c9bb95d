"""The training loop: AdamW, warm-up + cosine, optional bf16 autocast, gradient accumulation,
checkpoint/resume (optimizer state as safetensors, never pickle), held-out loss, a progress bar.

It knows the objectives only through `batch_fn(rng, batch) -> (tokens, targets, weights)`. On a GPU
(`device="cuda"`, `prefetch`) the next batch is built on a CPU thread while the current one trains.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..checkpoint import save_checkpoint
from ..model import Transformer
from ..tokenizer import Tokenizer
from .objective import weighted_loss


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    kind: str  # "diffusion" or "ar"
    name: str
    out: Path
    total_tokens: int
    batch: int = 16
    seq_len: int = 256
    accum: int = 1
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    eval_every: int = 100
    eval_batches: int = 8
    ckpt_every: int = 200
    autocast_bf16: bool = False
    seed: int = 0
    tokens_before: int = 0  # tokens the initial weights had already seen (continued training)
    device: str = "cpu"
    prefetch: bool = False  # build the next batch on a CPU thread (for a GPU; on the CPU it only competes)
    logits_shift: bool = False  # outputs predict the next position's token (a diffusion model adapted from AR)
    provenance: dict = dataclasses.field(default_factory=dict)  # recorded in config.json (e.g. adapted_from)

    @property
    def tokens_per_step(self) -> int:
        return self.batch * self.seq_len * self.accum

    @property
    def steps(self) -> int:
        return max(1, self.total_tokens // self.tokens_per_step)


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: Transformer, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95),
                             eps=1e-8)


def save_optimizer(opt: torch.optim.Optimizer, model: Transformer, path: Path) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {}
    for p, state in opt.state.items():
        for k, v in state.items():
            tensors[f"{names[id(p)]}::{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    save_file(tensors, str(path))


def load_optimizer(opt: torch.optim.Optimizer, model: Transformer, path: Path) -> None:
    tensors = load_file(str(path))
    params = dict(model.named_parameters())
    for key, value in tensors.items():
        name, k = key.split("::")
        opt.state[params[name]][k] = value.to(params[name].device)


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, torch.bfloat16, enabled=enabled)


def _to(batch, device: torch.device):
    return tuple(t.to(device, non_blocking=True) for t in batch)


def evaluate(model: Transformer, batches, autocast: bool) -> float:
    device = next(model.parameters()).device
    model.eval()
    total = 0.0
    with torch.no_grad(), _autocast(device, autocast):
        for batch in batches:
            tokens, targets, weights = _to(batch, device)
            total += weighted_loss(model(tokens), targets, weights).item()
    model.train()
    return total / len(batches)


def train(model: Transformer, tokenizer: Tokenizer, cfg: TrainConfig,
          batch_fn: Callable, heldout_fn: Callable, resume: Path | None = None) -> Path:
    """Run to `cfg.total_tokens`; checkpoints and `log.jsonl` go to `cfg.out`. Returns the final model dir."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model.to(device)
    opt = make_optimizer(model, cfg)
    step = 0
    state_file = cfg.out / "state.json"
    if resume is not None and (resume / "state.json").is_file():
        step = json.loads((resume / "state.json").read_text())["step"]
        load_optimizer(opt, model, resume / "optimizer.safetensors")
    rng = random.Random(cfg.seed * 1_000_003 + step)
    held_rng = random.Random(12345)
    held = [heldout_fn(held_rng, cfg.batch) for _ in range(cfg.eval_batches)]
    log = (cfg.out / "log.jsonl").open("a")
    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc=cfg.name, unit="step", dynamic_ncols=True)
    t0, tokens_done = time.perf_counter(), 0
    prefetch = ThreadPoolExecutor(1) if cfg.prefetch else None
    pending = prefetch.submit(batch_fn, rng, cfg.batch) if prefetch else None
    while step < cfg.steps:
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for _ in range(cfg.accum):
            if pending is not None:
                batch, pending = pending.result(), prefetch.submit(batch_fn, rng, cfg.batch)
            else:
                batch = batch_fn(rng, cfg.batch)
            tokens, targets, weights = _to(batch, device)
            with _autocast(device, cfg.autocast_bf16):
                loss = weighted_loss(model(tokens), targets, weights) / cfg.accum
            loss.backward()
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens_done += cfg.tokens_per_step
        tok_s = tokens_done / (time.perf_counter() - t0)
        bar.set_postfix(loss=f"{loss_sum:.3f}", tok_s=f"{tok_s:.0f}", lr=f"{lr:.1e}")
        bar.update(1)
        seen = cfg.tokens_before + step * cfg.tokens_per_step
        record = {"step": step, "tokens": seen, "loss": loss_sum, "lr": lr,
                  "tok_s": round(tok_s)}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record["heldout"] = evaluate(model, held, cfg.autocast_bf16)
            bar.write(f"step {step} heldout {record['heldout']:.4f}")
        log.write(json.dumps(record) + "\n")
        log.flush()
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            save_checkpoint(model, tokenizer, cfg.out / "model", cfg.kind, cfg.name,
                            extra={"tokens_seen": seen, "context_tokens": cfg.seq_len,
                                   "logits_shift": cfg.logits_shift, **cfg.provenance})
            save_optimizer(opt, model, cfg.out / "optimizer.safetensors")
            state_file.write_text(json.dumps({"step": step, "config": dataclasses.asdict(cfg) | {"out": str(cfg.out)}}))
    bar.close()
    if prefetch:
        prefetch.shutdown(cancel_futures=True)
    return cfg.out / "model"
