"""Tiny checkpoints for tests: real files in the real layout, loadable by `dllm.load`.

The model is trained for a few hundred small steps on SAMPLE_CODE with the repository's own objective
and optimizer, so that it answers like a (bad) model: different tokens in different slots,
confidences spread around the sampler's thresholds, completions that end before the canvas cap. (A
random model proposes one token everywhere and never ends, which lets broken sampling rules pass.)
Training runs on one thread in float64, is deterministic for its arguments (the same float32 weights on
every CPU), and happens once per process.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from .checkpoint import save_checkpoint
from .model import ModelConfig, Transformer
from .tokenizer import Tokenizer, own_special_ids
from .train.bpe import train_bpe
from .train.corpus import SourceFile
from .train.objective import ar_batch, diffusion_batch, weighted_loss
from .train.trainer import TrainConfig, batch_stream, lr_at, make_optimizer

SAMPLE_CODE = '''def add(a, b):
    """Return the sum."""
    return a + b


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)
        return len(self.items)
'''

# The recipe, measured on SAMPLE_CODE (about 2.5 s of one core per diffusion model): the matrices start at
# 5x training's N(0, 0.02), which learns in far fewer steps at this size; with fewer steps or a larger
# batch every slot proposes the same few tokens and multi-line completions never end. The AR twin
# learns in half the steps.
STEPS = {"diffusion": 200, "ar": 100}
BATCH, SEQ_LEN, LR, INIT_SCALE, HOLE_FRACTION = 4, 96, 5e-3, 5.0, 0.8


def sample_holes(n: int) -> list[tuple[str, str]]:
    """n (prefix, suffix) cuts of SAMPLE_CODE, evenly spaced."""
    step = (len(SAMPLE_CODE) - 40) // n
    return [(SAMPLE_CODE[:c], SAMPLE_CODE[c:]) for c in range(20, 20 + n * step, step)]


def tiny_tokenizer(vocab_size: int = 384) -> Tokenizer:
    hf = train_bpe([SAMPLE_CODE] * 4, vocab_size)
    return Tokenizer(hf, own_special_ids(hf))


def _config(tok: Tokenizer, kind: str, dim: int, n_layers: int) -> ModelConfig:
    return ModelConfig(vocab_size=tok.vocab_size, dim=dim, n_layers=n_layers, n_heads=4, n_kv_heads=2,
                       intermediate_size=dim * 2, causal=kind == "ar", max_seq_len=1024)


@functools.lru_cache(maxsize=None)
def _trained(kind: str, seed: int, dim: int, n_layers: int, logits_shift: bool,
             steps: int) -> dict[str, torch.Tensor]:
    """State dict of a tiny model trained `steps` steps on SAMPLE_CODE."""
    tok = tiny_tokenizer()
    model = Transformer(_config(tok, kind, dim, n_layers))
    model.init_weights(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(INIT_SCALE)
    model.double()  # float64, rounded to float32 at the end: the same weights on every CPU (float32
    # training diverged between an Intel and an AMD machine, whose GEMMs sum in different orders)
    files = [SourceFile("sample.py", "sample", SAMPLE_CODE)]
    if kind == "ar":
        make = functools.partial(ar_batch, tok, files, length=SEQ_LEN, fim_fraction=HOLE_FRACTION,
                                 max_middle=SEQ_LEN // 2)
    else:
        make = functools.partial(diffusion_batch, tok, files, length=SEQ_LEN, infill_fraction=HOLE_FRACTION,
                                 shift=logits_shift)
    cfg = TrainConfig(kind, "tiny", Path("."), total_tokens=steps * BATCH * SEQ_LEN, batch=BATCH, seq_len=SEQ_LEN,
                      lr=LR, min_lr_ratio=1.0, warmup_steps=10, weight_decay=0.0, seed=seed)  # constant after warm-up
    opt = make_optimizer(model, cfg)
    batches = batch_stream(make, seed, 0, BATCH, workers=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same numbers whatever the caller's thread count
    try:
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            weighted_loss(model, *next(batches)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
    finally:
        torch.set_num_threads(threads)
    return {k: v.detach().float() for k, v in model.state_dict().items()}


def tiny_model(kind: str = "diffusion", *, seed: int = 0, dim: int = 64, n_layers: int = 2,
               logits_shift: bool = False, steps: int | None = None) -> tuple[Transformer, Tokenizer]:
    """A fresh copy of the tiny model (float32, CPU) trained `steps` steps (None: the kind's recipe), and
    its tokenizer."""
    tok = tiny_tokenizer()
    model = Transformer(_config(tok, kind, dim, n_layers))
    model.load_state_dict(_trained(kind, seed, dim, n_layers, logits_shift, STEPS[kind] if steps is None else steps))
    return model, tok


def tiny_checkpoint(path: str | Path, *, kind: str = "diffusion", seed: int = 0, dim: int = 64,
                    n_layers: int = 2, context_tokens: int = 512, logits_shift: bool = False,
                    steps: int | None = None) -> Path:
    """Write the tiny trained model (float32) with its small BPE tokenizer to `path` (see `tiny_model`)."""
    model, tok = tiny_model(kind, seed=seed, dim=dim, n_layers=n_layers, logits_shift=logits_shift, steps=steps)
    return save_checkpoint(model, tok, path, kind, f"tiny-{kind}", dtype=torch.float32,
                           extra={"context_tokens": context_tokens, "logits_shift": logits_shift})
