"""Which masked slots to commit at a denoising step: pure tensor functions and their settings.

Confidence of a slot (all in (0, 1], higher = surer; defined once, in `kernels/reference.py`):
  probability  top-1 probability (LLaDA low-confidence remasking)
  margin       top-1 minus top-2 probability (Kim et al., 2025)
  entropy      exp(-H) of the predictive distribution
Every slot whose confidence reaches the threshold is committed, and at least `need` of them
(Fast-dLLM's threshold rule, with a floor that keeps the step cap). With an entropy budget instead, the
surest slots are committed while the sum of their -log(confidence) stays within it (the EB-sampler,
Ben-Hamu et al., 2025: many near-certain slots together, one unsure slot alone). The settings, `SamplerConfig`, are
part of the engine's torch-free boundary (`contract.py`).
"""

from __future__ import annotations

import torch

from dllm_complete.kernels.reference import confidence

from .contract import SamplerConfig


def propose(logits: torch.Tensor, cfg: SamplerConfig, generator: torch.Generator | None = None):
    """Candidate token and its confidence for every row. logits: (N, V) -> tokens (N,), conf (N,)."""
    logits = logits.float()
    if cfg.temperature > 0:  # scaled in float64 and shifted to a maximum of 0: finite at any temperature
        scaled = logits.double() / cfg.temperature
        logits = (scaled - scaled.amax(-1, keepdim=True)).float()
        tokens = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)  # (N,)
    else:
        tokens = logits.argmax(-1)
    return tokens, confidence(logits, tokens, cfg.confidence)


def select(conf: torch.Tensor, eligible: torch.Tensor, threshold: float, need: int,
           budget: float = 0.0) -> torch.Tensor:
    """Slots to commit (N,) bool: eligible and confident (`threshold`, or within the entropy `budget`
    when it is > 0), and at least the `need` most confident ones."""
    conf = torch.where(eligible, conf, torch.full_like(conf, -1.0))
    n_eligible = int(eligible.sum())
    if budget > 0:
        order = conf.argsort(descending=True)[:n_eligible]
        spent = (-conf[order].clamp_min(1e-12).log()).cumsum(0)
        commit = torch.zeros_like(eligible)
        commit[order[spent <= budget]] = True
    else:
        commit = eligible & (conf >= threshold)
    need = min(need, n_eligible)
    if need > 0:
        top = conf.topk(need).indices
        commit[top] = True
    return commit
