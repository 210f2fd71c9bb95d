"""Tiny random-weight checkpoints for tests: real files in the real layout, loadable by `dllm.load`."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import save_checkpoint
from .model import ModelConfig, Transformer
from .tokenizer import Tokenizer, own_special_ids
from .train.bpe import train_bpe

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


def sample_holes(n: int) -> list[tuple[str, str]]:
    """n (prefix, suffix) cuts of SAMPLE_CODE, evenly spaced."""
    step = (len(SAMPLE_CODE) - 40) // n
    return [(SAMPLE_CODE[:c], SAMPLE_CODE[c:]) for c in range(20, 20 + n * step, step)]


def tiny_tokenizer(vocab_size: int = 384) -> Tokenizer:
    hf = train_bpe([SAMPLE_CODE] * 4, vocab_size)
    return Tokenizer(hf, own_special_ids(hf))


def tiny_checkpoint(path: str | Path, *, kind: str = "diffusion", seed: int = 0, dim: int = 64,
                    n_layers: int = 2, context_tokens: int = 512, logits_shift: bool = False) -> Path:
    """Write a random model (float32) with a small trained BPE tokenizer to `path`."""
    tok = tiny_tokenizer()
    cfg = ModelConfig(vocab_size=tok.vocab_size, dim=dim, n_layers=n_layers, n_heads=4, n_kv_heads=2,
                      intermediate_size=dim * 2, causal=kind == "ar", max_seq_len=1024)
    model = Transformer(cfg)
    model.init_weights(seed)
    with torch.no_grad():  # larger logits than a fresh init, so confidences spread out
        model.lm_head.weight.mul_(25.0)
    return save_checkpoint(model, tok, path, kind, f"tiny-{kind}", dtype=torch.float32,
                           extra={"context_tokens": context_tokens, "logits_shift": logits_shift})
