"""Kernel tests run Triton through its interpreter on machines without CUDA.

The interpreter is chosen when a kernel is decorated, so TRITON_INTERPRET must be set before
`kernels.lm_head_triton` is first imported; this file is loaded before the test modules.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
