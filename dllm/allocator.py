"""glibc's malloc thresholds for CPU serving: a forward's large temporaries stay mapped between calls.

A CPU forward allocates and frees tensors of a few MB (activations, attention scores, logits). By
default glibc maps blocks over its mmap threshold afresh and unmaps them on free, and hands the top
of the heap back to the kernel past its trim threshold; both thresholds move with the process's
history (glibc raises them as large mapped blocks are freed). Where they stay low, every forward
faults its temporaries in again: the default model's single-line infill measured ~15% slower in a
fresh process that had not happened to import torch._dynamo (which raised them as a side effect).
Pinning them at the ceiling of glibc's own rule removes that luck (`python -m bench.allocator`).
"""

from __future__ import annotations

import ctypes
import functools
import platform

MMAP_THRESHOLD = 32 << 20  # glibc's largest dynamic mmap threshold on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc pairs with it
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


@functools.cache
def keep_temporaries_mapped() -> bool:
    """Pin the thresholds, once per process; True where done (glibc), False elsewhere."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
