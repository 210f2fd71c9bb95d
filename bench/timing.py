"""Timing for the kernel benches: medians on the CPU (host clock) or CUDA (events, back to back), and
the two ceilings a kernel is held against (read bandwidth, matrix-product rate) measured the same way."""

from __future__ import annotations

import statistics
import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, device: torch.device, warmup: int = 3, repeats: int = 20, budget_s: float = 3.0) -> float:
    """Median milliseconds of `fn()` over up to `repeats` runs (fewer if they exceed the budget); on
    CUDA, CUDA events around back-to-back runs (`triton.testing.do_bench`), free of host launch gaps."""
    if device.type == "cuda":
        import triton.testing

        return float(triton.testing.do_bench(fn, warmup=10, rep=50, return_mode="median"))
    for _ in range(warmup):
        fn()
    sync(device)
    times, start = [], time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


def read_bandwidth(device: torch.device, dtype: torch.dtype) -> float:
    """Bytes/s of a reduction over a buffer far larger than any cache."""
    n = (1 << 30 if device.type == "cuda" else 1 << 28) // torch.finfo(dtype).bits * 8
    buf = torch.ones(n, dtype=dtype, device=device)
    ms = median_ms(lambda: buf.sum(), device, 2, 10)
    return buf.numel() * buf.element_size() / (ms / 1e3)


def matmul_flops(device: torch.device, dtype: torch.dtype) -> float:
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    ms = median_ms(lambda: a @ b, device, 2, 10)
    return 2 * n ** 3 / (ms / 1e3)
