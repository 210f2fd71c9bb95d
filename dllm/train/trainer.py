"""The training loop: AdamW, warm-up + cosine, optional bf16 autocast and torch.compile, gradient
accumulation, checkpoint/resume (optimizer state as safetensors, never pickle), held-out loss, a
progress bar.

It knows the objectives only through `batch_fn(rng, batch) -> (tokens, targets, weights)`. Batch k is
built from its own seed, so a resumed run sees the batches it would have seen; on a GPU (`workers`)
they are built ahead by CPU worker processes while the current one trains.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

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
    workers: int = 0  # processes building batches ahead (for a GPU; on the CPU they only compete)
    stop_at_tokens: int = 0  # stop (with a checkpoint) once this run has trained this many; the schedule still
    # spans total_tokens, so `resume` finishes one uninterrupted schedule
    compile: bool = False  # torch.compile the model's forward (measure first: bench/train_step.py --compile)
    logits_shift: bool = False  # outputs predict the next position's token (a diffusion model adapted from AR)
    provenance: dict = dataclasses.field(default_factory=dict)  # recorded in config.json (e.g. adapted_from)
    context_tokens: int = 0  # the context the saved model reads (config.json); 0 = seq_len

    @property
    def tokens_per_step(self) -> int:
        return self.batch * self.seq_len * self.accum

    @property
    def steps(self) -> int:
        return max(1, self.total_tokens // self.tokens_per_step)

    @property
    def last_step(self) -> int:
        return min(self.steps, self.stop_at_tokens // self.tokens_per_step) if self.stop_at_tokens else self.steps


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


def save_run(model: Transformer, tokenizer: Tokenizer, opt: torch.optim.Optimizer, cfg: TrainConfig,
             step: int, seen: int) -> None:
    """The run's checkpoint (model/, optimizer.safetensors, state.json), each written beside its old
    self and swapped in by rename, state.json last: a run stopped while saving resumes from the last
    whole checkpoint."""
    out = cfg.out
    shutil.rmtree(out / "model.new", ignore_errors=True)
    save_checkpoint(model, tokenizer, out / "model.new", cfg.kind, cfg.name,
                    extra={"tokens_seen": seen, "context_tokens": cfg.context_tokens or cfg.seq_len,
                           "logits_shift": cfg.logits_shift, **cfg.provenance})
    save_optimizer(opt, model, out / "optimizer.safetensors.new")
    if (out / "model").exists():
        shutil.rmtree(out / "model.old", ignore_errors=True)
        (out / "model").rename(out / "model.old")
    (out / "model.new").rename(out / "model")
    os.replace(out / "optimizer.safetensors.new", out / "optimizer.safetensors")
    state = json.dumps({"step": step, "config": dataclasses.asdict(cfg) | {"out": str(cfg.out)}})
    (out / "state.json.new").write_text(state)
    os.replace(out / "state.json.new", out / "state.json")
    shutil.rmtree(out / "model.old", ignore_errors=True)


def open_log(path: Path, step: int):
    """The run's log, to append to from `step` on: the records of a resumed run's later steps (written
    after its last checkpoint) are dropped, and so is a log of a run that never saved one (`step` 0)."""
    kept = []
    if step and path.is_file():
        kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))
    return path.open("a")


def save_optimizer(opt: torch.optim.Optimizer, model: Transformer, path: Path) -> None:
    """AdamW's state and the float32 weights (the model checkpoint is bf16), so a resume is exact."""
    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {f"{n}::weight32": p.detach().float().cpu().contiguous() for n, p in model.named_parameters()}
    for p, state in opt.state.items():
        for k, v in state.items():
            tensors[f"{names[id(p)]}::{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    save_file(tensors, str(path))


def load_optimizer(opt: torch.optim.Optimizer, model: Transformer, path: Path) -> None:
    tensors = load_file(str(path))
    params = dict(model.named_parameters())
    for key, value in tensors.items():
        name, k = key.split("::")
        if k == "weight32":
            with torch.no_grad():
                params[name].copy_(value)
        else:
            opt.state[params[name]][k] = value.to(params[name].device)


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, torch.bfloat16, enabled=enabled)


def _to(batch, device: torch.device):
    return tuple(t.to(device, non_blocking=True) for t in batch)


_batch_fn: Callable | None = None  # a worker's batch builder, inherited through fork


def _worker_init(fn: Callable) -> None:
    global _batch_fn
    _batch_fn = fn
    torch.set_num_threads(1)
    # a terminal's Ctrl-C reaches the whole process group: the main process stops the pool; a worker
    # that died of it mid-task would leave the pool's lock held and terminate() waiting for ever
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_build(seed: int, batch: int):
    return tuple(t.numpy() for t in _batch_fn(random.Random(seed), batch))


def batch_stream(batch_fn: Callable, seed: int, start: int, batch: int, workers: int) -> Iterator[tuple]:
    """Batches start, start + 1, ...; batch k is `batch_fn(Random(seed * 1_000_003 + k), batch)`."""
    seeds = (seed * 1_000_003 + k for k in range(start, 1 << 62))
    if workers <= 0:
        return (batch_fn(random.Random(s), batch) for s in seeds)
    pool = multiprocessing.get_context("fork").Pool(workers, _worker_init, (batch_fn,))  # forked now, before CUDA
    return _pooled(pool, seeds, batch, 2 * workers)


def _pooled(pool, seeds: Iterator[int], batch: int, ahead_n: int) -> Iterator[tuple]:
    try:
        ahead = deque(pool.apply_async(_worker_build, (next(seeds), batch)) for _ in range(ahead_n))
        while True:
            arrays = ahead.popleft().get()
            ahead.append(pool.apply_async(_worker_build, (next(seeds), batch)))
            yield tuple(torch.from_numpy(a) for a in arrays)
    finally:
        pool.terminate()


def evaluate(model: Transformer, batches, autocast: bool, loss_fn: Callable = weighted_loss) -> float:
    device = next(model.parameters()).device
    model.eval()
    total = 0.0
    with torch.no_grad(), _autocast(device, autocast):
        for batch in batches:
            total += loss_fn(model, *_to(batch, device)).item()
    model.train()
    return total / len(batches)


def train(model: Transformer, tokenizer: Tokenizer, cfg: TrainConfig,
          batch_fn: Callable, heldout_fn: Callable, resume: Path | None = None,
          loss_fn: Callable | None = None) -> Path:
    """Run to `cfg.total_tokens`; checkpoints and `log.jsonl` go to `cfg.out`. Returns the final model dir.
    `loss_fn(model, *batch)`: the objective's loss (default `weighted_loss` of tokens, targets, weights)."""
    loss_fn = loss_fn or weighted_loss
    cfg.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    resumed = resume is not None and (resume / "state.json").is_file()
    step = json.loads((resume / "state.json").read_text())["step"] if resumed else 0
    batches = batch_stream(batch_fn, cfg.seed, step * cfg.accum, cfg.batch, cfg.workers)
    model.to(device)
    if cfg.compile:
        model.hidden = torch.compile(model.hidden)  # the loss and the checkpoints still see the plain module
    opt = make_optimizer(model, cfg)
    if resumed:
        load_optimizer(opt, model, resume / "optimizer.safetensors")
    held_rng = random.Random(12345)
    held = [heldout_fn(held_rng, cfg.batch) for _ in range(cfg.eval_batches)]
    log = open_log(cfg.out / "log.jsonl", step)
    model.train()
    bar = tqdm(total=cfg.last_step, initial=step, desc=cfg.name, unit="step", dynamic_ncols=True)
    t0, tokens_done = time.perf_counter(), 0
    while step < cfg.last_step:
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for _ in range(cfg.accum):
            batch = _to(next(batches), device)
            with _autocast(device, cfg.autocast_bf16):
                loss = loss_fn(model, *batch) / cfg.accum
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
        if step % cfg.eval_every == 0 or step == cfg.last_step:
            record["heldout"] = evaluate(model, held, cfg.autocast_bf16, loss_fn)
            bar.write(f"step {step} heldout {record['heldout']:.4f}")
        log.write(json.dumps(record) + "\n")
        log.flush()
        if step % cfg.ckpt_every == 0 or step == cfg.last_step:
            save_run(model, tokenizer, opt, cfg, step, seen)
    bar.close()
    batches.close()
    return cfg.out / "model"
