"""Prompt-lookup drafts in the AR decoder: the same greedy text as one token per call, in fewer calls."""

import argparse
from pathlib import Path

import pytest

from dllm_complete import dllm
from dllm_complete.dllm.ar import lookup
from dllm_complete.dllm.contract import SamplerConfig
from dllm_complete.kernels.attention_torch import grouped_attention

SOURCE = Path(argparse.__file__).read_text()  # repetitive real code: drafts are accepted often


def test_lookup_drafts_what_followed_the_longest_recent_match():
    assert lookup([1, 2, 3, 9, 9, 1, 2, 3], 2) == [9, 9]  # the 3-gram 1 2 3 seen before
    assert lookup([5, 1, 7, 4, 1], 3) == [7, 4, 1]  # only the 1-gram matches
    assert lookup([1, 2, 8, 2, 6, 2], 1) == [6]  # the latest occurrence wins
    assert lookup([1, 2, 3], 4) == [] and lookup([1, 2, 1], 0) == []


def _holes(n: int) -> list[tuple[str, str, str]]:
    """(mode, prefix, suffix): cursors after `name = ` and at the start of function bodies."""
    out, offset = [], 0
    for line in SOURCE.splitlines(keepends=True):
        if " = " in line and len(out) < n:
            cut = offset + line.index(" = ") + 3
            out.append(("single", SOURCE[:cut], SOURCE[offset + len(line) - 1:]))
        elif line.strip().startswith("def ") and line.rstrip().endswith(":") and len(out) < 2 * n:
            out.append(("multi", SOURCE[:offset + len(line)], SOURCE[offset + len(line):]))
        offset += len(line)
    return out


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_drafted_decoding_is_plain_greedy_decoding_in_fewer_calls(dtype):
    ar = dllm.load("ar-code-small", dtype=dtype)
    if dtype == "bfloat16":  # SDPA (chosen on AMX CPUs) rounds a 9-row check unlike 9 one-row steps in bf16,
        ar.model.use_attention(grouped_attention)  # which can flip a near tie; the grouped op rounds alike
    plain_calls = drafted_calls = 0
    for mode, prefix, suffix in _holes(12):
        plain = ar.infill(prefix, suffix, mode=mode, sampler=SamplerConfig())
        drafted = ar.infill(prefix, suffix, mode=mode, sampler=SamplerConfig(draft_tokens=8))
        assert drafted.text == plain.text
        assert drafted.stats.tokens == plain.stats.tokens
        plain_calls, drafted_calls = plain_calls + plain.stats.nfe, drafted_calls + drafted.stats.nfe
    assert drafted_calls < 0.8 * plain_calls  # drafts were checked and accepted, not skipped


def test_drafts_respect_the_token_cap_and_the_first_token_rules():
    ar = dllm.load("ar-code-small", dtype="float32")
    prefix = SOURCE[:SOURCE.index("class ArgumentParser")] + "class ArgumentParser(_AttributeHolder, _Act"
    for cap in (1, 3, 5):
        plain = ar.infill(prefix, "\n", mode="multi", max_tokens=cap)
        drafted = ar.infill(prefix, "\n", mode="multi", max_tokens=cap, sampler=SamplerConfig(draft_tokens=8))
        assert drafted.text == plain.text and drafted.stats.tokens <= cap


def test_a_negative_draft_length_is_refused():
    with pytest.raises(ValueError, match="draft_tokens"):
        SamplerConfig(draft_tokens=-1)
