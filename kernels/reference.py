"""The specification of the fused "LM head + confidence" op, written the obvious way.

Given final hidden states of the rows still to be predicted and the output projection, return per
row the greedy token and the three confidences the sampler can rank by:

    logits  = hidden @ weight.T (+ bias)            # (N, V) float32; bias carries -inf on banned ids
    p       = softmax(logits)                        # (N, V)
    token   = argmax(logits)   (first index on ties, as torch.argmax)
    prob    = p[token]                               # top-1 probability (LLaDA)
    margin  = p[token] - second largest p            # (Kim et al., 2025); 0 on a tie
    entropy = -sum p log p, in nats                  # the sampler's confidence is exp(-entropy)

This module materialises the (N, V) logits on purpose: it is the slow twin every fast
implementation (`lm_head_torch.py`, `lm_head_triton.py`) is tested against. `confidence` is the one
definition of the three scores: the sampler's plain path and the engine's slow twin call it too.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Confidence(NamedTuple):
    """Per-row result of the op; every field has shape (N,)."""
    token: torch.Tensor  # int64 argmax id
    prob: torch.Tensor  # float32 top-1 probability
    margin: torch.Tensor  # float32 top-1 minus top-2 probability
    entropy: torch.Tensor  # float32 entropy in nats

    def score(self, kind: str) -> torch.Tensor:
        """The sampler's confidence of a kind: probability | margin | entropy (as exp(-H))."""
        if kind == "probability":
            return self.prob
        if kind == "margin":
            return self.margin
        if kind == "entropy":
            return torch.exp(-self.entropy)
        raise ValueError(f"unknown confidence kind {kind!r}")


def confidence(logits: torch.Tensor, token: torch.Tensor, kind: str) -> torch.Tensor:
    """The confidence of `token` (N,) under each row of `logits` (N, V): probability p[token]; margin
    top-1 minus top-2 probability (of the distribution, whichever token was drawn); entropy exp(-H)."""
    p = torch.softmax(logits.float(), dim=-1)  # (N, V)
    if kind == "probability":
        return p.gather(-1, token[:, None]).squeeze(-1)
    if kind == "margin":
        top2 = p.topk(min(2, p.shape[-1]), dim=-1).values  # (N, 2)
        return top2[:, 0] - top2[:, 1] if top2.shape[-1] > 1 else top2[:, 0]
    if kind == "entropy":
        return torch.exp((p * p.clamp_min(1e-12).log()).sum(-1))
    raise ValueError(f"unknown confidence kind {kind!r}")


def ban_bias(vocab_size: int, banned: torch.Tensor | list[int] | None, device=None) -> torch.Tensor | None:
    """(V,) float32 additive bias: -inf on banned ids, 0 elsewhere (None when nothing is banned)."""
    if banned is None or len(banned) == 0:
        return None
    bias = torch.zeros(vocab_size, dtype=torch.float32, device=device)
    bias[torch.as_tensor(banned, dtype=torch.long, device=device)] = float("-inf")
    return bias


def lm_head_confidence_reference(hidden: torch.Tensor, weight: torch.Tensor,
                                 bias: torch.Tensor | None = None) -> Confidence:
    """hidden (N, D), weight (V, D), bias (V,) or None -> Confidence of N rows (float32 math)."""
    logits = hidden.float() @ weight.float().T  # (N, V)
    if bias is not None:
        logits = logits + bias.float()
    token = logits.argmax(-1)  # (N,)
    logp = torch.log_softmax(logits, -1)  # (N, V)
    entropy = -torch.where(logp > float("-inf"), logp.exp() * logp, torch.zeros_like(logp)).sum(-1)
    return Confidence(token, confidence(logits, token, "probability"), confidence(logits, token, "margin"), entropy)
