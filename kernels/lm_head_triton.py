"""LM head + confidence as two Triton kernels (split-vocabulary online softmax, then a merge).

The op is bound by reading the (V, D) output projection once (a 150k x 3584 bf16 matrix is 1.1 GB;
the few dozen masked rows add little), so the grid splits the *vocabulary* across programs, as
flash-decoding splits the keys: program (i, j) multiplies row block i by vocabulary slice j in
(BLOCK_V x BLOCK_K) tiles, keeps five running numbers per row (max, its id, second max, sum exp and
sum exp * shifted logit; Milakov & Gimelshein's online softmax extended to top-2 and entropy) and
writes them to a small (N, splits) buffer. The second kernel merges the splits per row. The (N, V)
logits never exist.

Spec: `reference.lm_head_confidence_reference`; the merge rule is `lm_head_torch.combine`.
Runs on CUDA, or anywhere under Triton's interpreter (`TRITON_INTERPRET=1`, for tests on the CPU).
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl

from .reference import Confidence


@triton.jit
def _partial_kernel(h_ptr, w_ptr, bias_ptr, top1_ptr, index_ptr, top2_ptr, sumexp_ptr, sumexpz_ptr,
                    N, V, D, stride_h, stride_w, v_per_split, n_splits,
                    HAS_BIAS: tl.constexpr, IEEE: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,)
    row_ok = rows < N
    v_begin = pid_s * v_per_split
    v_end = tl.minimum(v_begin + v_per_split, V)
    top1 = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    top2 = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    index = tl.zeros((BLOCK_M,), tl.int32)
    sumexp = tl.zeros((BLOCK_M,), tl.float32)
    sumexpz = tl.zeros((BLOCK_M,), tl.float32)
    lane = tl.arange(0, BLOCK_V)
    for v0 in range(v_begin, v_end, BLOCK_V):
        cols = v0 + lane  # (BV,)
        col_ok = cols < v_end
        acc = tl.zeros((BLOCK_M, BLOCK_V), tl.float32)
        for k0 in range(0, D, BLOCK_K):
            ks = k0 + tl.arange(0, BLOCK_K)
            k_ok = ks < D
            h = tl.load(h_ptr + rows[:, None] * stride_h + ks[None, :],
                        mask=row_ok[:, None] & k_ok[None, :], other=0.0)  # (BM, BK)
            w = tl.load(w_ptr + cols[None, :] * stride_w + ks[:, None],
                        mask=col_ok[None, :] & k_ok[:, None], other=0.0)  # (BK, BV)
            if IEEE:
                acc = tl.dot(h, w, acc, input_precision="ieee")
            else:
                acc = tl.dot(h, w, acc)
        if HAS_BIAS:
            acc += tl.load(bias_ptr + cols, mask=col_ok, other=0.0)[None, :]
        logits = tl.where(col_ok[None, :], acc, float("-inf"))  # (BM, BV)
        # top-2 of the tile, merged into the running top-2 (earlier tiles win ties)
        t_max = tl.max(logits, 1)
        t_arg = tl.argmax(logits, 1, tie_break_left=True)
        t_sec = tl.max(tl.where(lane[None, :] == t_arg[:, None], float("-inf"), logits), 1)
        better = t_max > top1
        top2 = tl.where(better, tl.maximum(top1, t_sec), tl.maximum(top2, t_max))
        index = tl.where(better, t_arg + v0, index)
        # online softmax: rescale the running sums to the new maximum
        new_max = tl.maximum(top1, t_max)
        m = tl.where(new_max == float("-inf"), 0.0, new_max)
        d = top1 - m  # <= 0, -inf before the first finite logit (when sumexp is 0)
        alpha = tl.exp(d)
        sumexpz = alpha * (sumexpz + sumexp * tl.where(d == float("-inf"), 0.0, d))
        sumexp = alpha * sumexp
        z = logits - m[:, None]
        p = tl.exp(z)  # 0 on banned / out-of-range ids
        sumexp += tl.sum(p, 1)
        sumexpz += tl.sum(p * tl.where(z == float("-inf"), 0.0, z), 1)
        top1 = new_max
    out = rows * n_splits + pid_s
    tl.store(top1_ptr + out, top1, mask=row_ok)
    tl.store(index_ptr + out, index, mask=row_ok)
    tl.store(top2_ptr + out, top2, mask=row_ok)
    tl.store(sumexp_ptr + out, sumexp, mask=row_ok)
    tl.store(sumexpz_ptr + out, sumexpz, mask=row_ok)


@triton.jit
def _merge_kernel(top1_ptr, index_ptr, top2_ptr, sumexp_ptr, sumexpz_ptr,
                  token_ptr, prob_ptr, margin_ptr, entropy_ptr, N, n_splits,
                  BLOCK_R: tl.constexpr, BLOCK_S: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    js = tl.arange(0, BLOCK_S)
    row_ok = rows < N
    ok = row_ok[:, None] & (js < n_splits)[None, :]
    at = rows[:, None] * n_splits + js[None, :]  # (BR, BS)
    t1 = tl.load(top1_ptr + at, mask=ok, other=float("-inf"))
    t2 = tl.load(top2_ptr + at, mask=ok, other=float("-inf"))
    se = tl.load(sumexp_ptr + at, mask=ok, other=0.0)
    sz = tl.load(sumexpz_ptr + at, mask=ok, other=0.0)
    idx = tl.load(index_ptr + at, mask=ok, other=0)
    best = tl.argmax(t1, 1, tie_break_left=True)  # (BR,) winning split
    mx = tl.max(t1, 1)
    m = tl.where(mx == float("-inf"), 0.0, mx)
    d = t1 - m[:, None]  # (BR, BS); -inf for empty splits, whose sums are 0
    scale = tl.exp(d)
    shift = se * tl.where(d == float("-inf"), 0.0, d)
    total = tl.where(row_ok, tl.sum(se * scale, 1), 1.0)  # padding rows: keep the math finite
    totalz = tl.sum(scale * (sz + shift), 1)
    is_best = js[None, :] == best[:, None]
    token = tl.sum(tl.where(is_best, idx, 0), 1)
    second = tl.max(tl.where(is_best, t2, t1), 1)
    prob = 1.0 / total
    tl.store(token_ptr + rows, token.to(tl.int64), mask=row_ok)
    tl.store(prob_ptr + rows, prob, mask=row_ok)
    tl.store(margin_ptr + rows, (1.0 - tl.exp(second - m)) * prob, mask=row_ok)
    tl.store(entropy_ptr + rows, tl.log(total) - totalz / total, mask=row_ok)


@functools.cache
def _sm_count(index: int) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def _splits(device: torch.device, row_blocks: int, V: int, block_v: int, programs_per_sm: int) -> int:
    """Enough programs to fill the GPU a few times over; a handful under the interpreter."""
    tiles = triton.cdiv(V, block_v)
    if device.type != "cuda":
        return min(tiles, 4)
    sms = _sm_count(device.index if device.index is not None else torch.cuda.current_device())
    return max(1, min(tiles, (programs_per_sm * sms) // row_blocks, 1024))


def lm_head_confidence_triton(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                              *, n_splits: int | None = None, block_v: int = 128, block_k: int = 64,
                              num_warps: int = 4, num_stages: int = 4, programs_per_sm: int = 4) -> Confidence:
    """hidden (N, D), weight (V, D) of one dtype, bias (V,) float32 or None -> Confidence of N rows.

    The default tiles won `python -m bench.kernels --tune` on an H100 over both Qwen2 head shapes and 32-128 rows."""
    N, D = hidden.shape
    V = weight.shape[0]
    if weight.dtype == torch.bfloat16 and not hidden.is_cuda:  # Triton 3.9's interpreter gets bf16 tl.dot wrong
        weight = weight.float()
    hidden = hidden.to(weight.dtype)
    if hidden.stride(-1) != 1:
        hidden = hidden.contiguous()
    if weight.stride(-1) != 1:
        weight = weight.contiguous()
    dev = hidden.device
    block_m = min(64, max(16, triton.next_power_of_2(N)))
    row_blocks = triton.cdiv(N, block_m)
    splits = n_splits or _splits(dev, row_blocks, V, block_v, programs_per_sm)
    v_per_split = triton.cdiv(triton.cdiv(V, splits), block_v) * block_v
    splits = triton.cdiv(V, v_per_split)
    part = torch.empty((4, N, splits), dtype=torch.float32, device=dev)  # top1, top2, sumexp, sumexpz
    index = torch.empty((N, splits), dtype=torch.int32, device=dev)
    _partial_kernel[(row_blocks, splits)](
        hidden, weight, bias if bias is not None else part, part[0], index, part[1], part[2], part[3],
        N, V, D, hidden.stride(0), weight.stride(0), v_per_split, splits,
        HAS_BIAS=bias is not None, IEEE=weight.dtype == torch.float32,
        BLOCK_M=block_m, BLOCK_V=block_v, BLOCK_K=block_k,
        num_warps=num_warps, num_stages=num_stages)
    token = torch.empty(N, dtype=torch.int64, device=dev)
    out = torch.empty((3, N), dtype=torch.float32, device=dev)  # prob, margin, entropy
    block_r = 16
    _merge_kernel[(triton.cdiv(N, block_r),)](
        part[0], index, part[1], part[2], part[3], token, out[0], out[1], out[2], N, splits,
        BLOCK_R=block_r, BLOCK_S=max(2, triton.next_power_of_2(splits)))
    return Confidence(token, out[0], out[1], out[2])
