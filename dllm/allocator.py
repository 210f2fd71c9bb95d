"""glibc's malloc thresholds for CPU serving: a forward's large temporaries stay mapped between calls.

A CPU forward allocates and frees tensors of a few MB (activations, attention scores, logits). By
default glibc maps blocks over its mmap threshold afresh and unmaps them on free, and hands the top
of the heap back to the kernel past its trim threshold; both thresholds move with the process's
history (glibc raises them as large mapped blocks are freed). Where they stay low, every forward
faults its temporaries in again: the default model's single-line infill measured ~15% slower in a
fresh process that had not happened to import torch._dynamo (which raised them as a side effect).
Pinning them at the ceiling of glibc's own rule removes that luck (`python -m bench.allocator`).

oneDNN (torch's CPU GEMMs in bf16) keeps a compiled primitive per distinct shape, up to 1,024 by
default; an editor's context length changes with every keystroke, so that cache grew RSS by ~100 MB
per 300 completions (`/proc` RSS, 300 infills at distinct context lengths). `cap_primitive_cache`
bounds it before the first GEMM, unless the user set ONEDNN_PRIMITIVE_CACHE_CAPACITY.
torch's ideep layer above oneDNN keeps a second per-shape cache of its own (per thread, 1,024 by
default, LRU_CACHE_CAPACITY). With only oneDNN's capped, the server under a 2,000-keystroke typing
storm still grew 61 MB after warm-up (27 MB per 1,000 keystrokes; 37 MB of it stayed after a
malloc_trim), with both capped 11 MB (3.4 per 1,000), most of it before the 450th keystroke
(`python -m bench.pressure --parts storm`); in process, a completion per keystroke stayed flat only
with this cache bounded. Single-line latency and texts did not change from 1 to 1,024 entries.
`cap_ideep_cache` bounds it the same way, before the first GEMM, unless the user set it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

MMAP_THRESHOLD = 32 << 20  # glibc's largest dynamic mmap threshold on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc pairs with it
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
PRIMITIVE_CACHE = 64  # oneDNN primitives kept (the repeated shapes of the denoising steps fit)
IDEEP_CACHE = 64  # ideep computations kept (one completion runs about 20 distinct GEMM shapes)


def cap_primitive_cache() -> str:
    """Bound oneDNN's primitive cache (read when oneDNN makes its first primitive); the capacity used."""
    return os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(PRIMITIVE_CACHE))


def cap_ideep_cache() -> str:
    """Bound torch's ideep computation cache (read when a thread first uses it); the capacity used."""
    return os.environ.setdefault("LRU_CACHE_CAPACITY", str(IDEEP_CACHE))


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
