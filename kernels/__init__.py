"""Fused operations for the denoising step's hot path, each with a torch reference that is its spec.

- `lm_head_confidence`: output projection of the masked rows + online softmax -> greedy token,
  top-1 probability, margin and entropy, without materialising (rows x vocabulary) logits.
  Spec `reference.py`; implementations `lm_head_torch.py` (CPU) and `lm_head_triton.py` (CUDA, or
  Triton's interpreter). `lm_head_score` is the per-step call: token + the one score asked for.
- `attention`: grouped-query attention as stacked GEMMs (CPU, `attention_torch.py`); spec
  `attention_reference` (SDPA).
  Measurements and the decisions they led to: README.md.

The backend is chosen once per loaded model with `select_backend("auto" | "triton" | "torch", device)`.
This package imports torch only; Triton is imported when the Triton backend is selected.
"""

from .attention_torch import attention_reference, grouped_attention
from .dispatch import BACKENDS, Backend, select_backend, triton_import_error
from .lm_head_torch import lm_head_confidence_torch, lm_head_score_torch
from .reference import Confidence, ban_bias, lm_head_confidence_reference

__all__ = ["BACKENDS", "Backend", "Confidence", "attention_reference", "ban_bias", "grouped_attention", "lm_head_confidence_reference",
           "lm_head_confidence_torch", "lm_head_score_torch", "select_backend", "triton_import_error"]
