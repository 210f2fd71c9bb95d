"""Grouped attention (stacked GEMMs) against its spec, SDPA with grouped-query heads."""

import pytest
import torch

from dllm_complete.kernels.attention_torch import attention_reference, grouped_attention
from dllm_complete.kernels.attention_torch import MAX_STACKED_SCORES


@pytest.mark.parametrize("heads,kv_heads,rows,slots", [(4, 2, 1, 7), (4, 2, 33, 300), (6, 2, 17, 65),
                                                      (8, 8, 5, 129), (14, 2, 48, 1031), (2, 1, 300, 500)])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_grouped_attention_matches_sdpa(heads, kv_heads, rows, slots, dtype, tol):
    gen = torch.Generator().manual_seed(rows * 1000 + slots)
    q = torch.randn(1, heads, rows, 64, generator=gen).to(dtype)
    k = (torch.randn(1, kv_heads, slots, 64, generator=gen) * 2).to(dtype)
    v = torch.randn(1, kv_heads, slots, 64, generator=gen).to(dtype)
    got, want = grouped_attention(q, k, v), attention_reference(q, k, v)
    assert got.shape == want.shape and got.dtype == dtype
    torch.testing.assert_close(got.float(), want.float(), atol=tol, rtol=tol)


def test_masked_grouped_attention_matches_sdpa():
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, h, t, 32, generator=gen) for h, t in ((6, 5), (2, 40), (2, 40)))
    pos = torch.arange(20, 25)
    mask = torch.arange(40)[None, :] <= pos[:, None]  # an AR step's causal mask over a static cache
    torch.testing.assert_close(grouped_attention(q, k, v, mask), attention_reference(q, k, v, mask))


def test_long_queries_go_in_chunks_and_match_sdpa_masked_or_not():
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(1, h, t, 64, generator=gen) for h, t in ((4, 70), (2, 1200), (2, 1200)))
    assert 2 * 70 * 1200 > MAX_STACKED_SCORES  # chunks of 16 rows, the last one 6
    mask = torch.arange(1200)[None, :] <= torch.arange(1100, 1170)[:, None]
    torch.testing.assert_close(grouped_attention(q, k, v), attention_reference(q, k, v))
    torch.testing.assert_close(grouped_attention(q, k, v, mask), attention_reference(q, k, v, mask))


def test_a_wrong_head_grouping_would_be_caught():
    q, k, v = torch.randn(1, 4, 3, 16), torch.randn(1, 2, 9, 16), torch.randn(1, 2, 9, 16)
    swapped = grouped_attention(q[:, [0, 2, 1, 3]], k, v)[:, [0, 2, 1, 3]]  # heads 1 and 2 on the wrong KV head
    assert not torch.allclose(swapped, attention_reference(q, k, v), atol=1e-3)
