"""The autoregressive twin's decoder: FIM prompt, static KV cache, one token per forward pass.

Served with the same context budget, stop rules (end-of-middle, end of line in single-line mode,
token cap), attention op (`kernels`), CUDA-graph decision (`forward.py`) and result type as the
diffusion engine, so the two are compared fairly.
"""

from __future__ import annotations

import time

import torch

from .canvas import Context, build_context
from .constraints import finished, sampler_for
from .contract import CancelToken, Constraint
from .engine import resolve_mode
from .forward import choose, fast_path
from .checkpoint import Loaded
from .result import Completion, Stats, first_line, phase_timings
from .sampler import SamplerConfig, propose
from .tokenizer import Tokenizer, end_ids
from .schedule import canvas_sizes


def fim_prompt(tokenizer: Tokenizer, prefix: str, suffix: str, mode: str, max_tokens: int | None,
               context_tokens: int) -> tuple[list[int], Context, str, int]:
    """(prompt ids, context, resolved mode, token cap): prefix-suffix-middle with FIM sentinels."""
    mode = resolve_mode(mode, prefix)
    _, cap = canvas_sizes(mode, max_tokens)
    ctx = build_context(tokenizer, prefix, suffix, max(16, context_tokens - cap))
    sp = tokenizer.special
    return [sp.fim_prefix] + ctx.prefix_ids + [sp.fim_suffix] + ctx.suffix_ids + [sp.fim_middle], ctx, mode, cap


class ARDecoder:
    def __init__(self, loaded: Loaded, sampler: SamplerConfig | None = None, kernels: str = "auto",
                 graphs: str = "auto") -> None:
        self.loaded = loaded
        self.model, self.tokenizer, self.spec = loaded.model, loaded.tokenizer, loaded.spec
        self.sampler = sampler or SamplerConfig()
        self.context_tokens = loaded.spec.context_tokens
        self.device = self.model.embed_tokens.weight.device
        sp = self.tokenizer.special
        if None in (sp.fim_prefix, sp.fim_suffix, sp.fim_middle):
            raise ValueError("this tokenizer has no FIM sentinel tokens; it cannot drive an AR infill model")
        self.end_ids = {mode: end_ids(self.tokenizer, mode) for mode in ("single", "multi")}
        self.stops, self.newlines = set(self.tokenizer.stop_ids()), set(self.tokenizer.newline_ids())
        self.banned = torch.tensor(self.tokenizer.never_generated(), device=self.device)
        fast_path(self.model, kernels)  # the attention op and stacked projections (`forward.py`)
        # the one-token step: a CUDA graph where a probe at load shows it faster (`forward.py`)
        self.decode, self.graphs = choose(self.model, graphs, "ar")

    @property
    def info(self) -> dict:
        return {**self.loaded.info, "graphs": self.graphs}

    def infill(self, prefix: str, suffix: str, *, language: str | None = None, mode: str = "auto",
               max_tokens: int | None = None, cancel: CancelToken | None = None,
               constraint: Constraint | None = None, sampler: SamplerConfig | None = None) -> Completion:
        t0 = time.perf_counter()
        cfg = sampler or self.sampler
        prompt, ctx, mode, cap = fim_prompt(self.tokenizer, prefix, suffix, mode, max_tokens,
                                            cfg.context_tokens or self.context_tokens)
        cfg = sampler_for(cfg, constraint, ctx)
        stats = Stats(context_tokens=len(ctx.prefix_ids) + len(ctx.suffix_ids), canvas=cap)
        t1 = time.perf_counter()
        gen = torch.Generator(self.device).manual_seed(cfg.seed) if cfg.temperature > 0 else None
        n = len(prompt)
        pieces = self.tokenizer.pieces()
        out: list[int] = []
        blank = True  # nothing but whitespace so far
        with torch.inference_mode():
            for _ in range(cap):  # one token per model call
                if cancel is not None:
                    cancel.check()
                if out:
                    logits = self.decode.step(out[-1], n + len(out) - 1)  # (1, V)
                else:
                    logits = self.decode.prefill(torch.tensor([prompt], device=self.device), n + cap)
                logits[:, self.banned] = float("-inf")
                if blank and not cfg.allow_empty:
                    logits[:, self.end_ids[mode]] = float("-inf")  # no end before the first non-blank token
                if not out and ctx.first_banned:  # the first token continues what was typed
                    logits[:, ctx.first_banned] = float("-inf")
                stats.nfe += 1
                nxt = int(propose(logits, cfg, gen)[0])
                if nxt in self.stops:
                    break
                out.append(nxt)
                blank = blank and not pieces[nxt].strip()
                if mode == "single" and nxt in self.newlines:
                    break
        t2 = time.perf_counter()
        text = finished(first_line(self.tokenizer.decode(out), mode), ctx, constraint)
        t3 = time.perf_counter()
        stats.steps, stats.tokens = len(out), len(out)
        stats.timings_ms = phase_timings(t0, t1, t2, t3)
        return Completion(text=text, stats=stats)
