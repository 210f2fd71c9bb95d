"""When to complete, and how much."""

import pytest

from dllm_complete.lsp_server.trigger import decide, opens_block


@pytest.mark.parametrize("line_prefix,line_suffix,prev,invoked,mode,reason", [
    ("    fo", "o(x)", "", False, None, "mid-word"),
    ("    fo", "o(x)", "", True, "single", "mid-word-invoked"),
    ("    x = ", "foo(y)", "", False, None, "text-right"),
    ("    print(", ")", "", False, "single", "mid-statement"),
    ("    x = foo(", "):", "", False, "single", "mid-statement"),
    ("    ", "", "def f(x):", False, "multi", "block-start"),
    ("    ", "", "if (x) {", False, "multi", "block-start"),
    ("", "", "x = 1", False, "single", "empty-line"),
    ("", "", "x = 1", True, "multi", "empty-line-invoked"),
    ("def f(x):", "", "", False, "multi", "after-opener"),
    ("    return x +", "", "", False, "single", "mid-statement"),
])
def test_decisions(line_prefix, line_suffix, prev, invoked, mode, reason):
    d = decide(line_prefix, line_suffix, prev, invoked=invoked)
    assert (d.mode, d.reason) == (mode, reason)


def test_configured_mode_wins_where_completing_is_allowed():
    assert decide("", "", "def f():", invoked=False, mode="single").mode == "single"
    assert decide("x", "y", "", invoked=False, mode="multi").mode is None


def test_long_lines_are_skipped():
    assert decide("x" * 3000, "", "", invoked=True).reason == "line-too-long"


def test_openers():
    assert opens_block("for x in y:  ") and opens_block("fn main() {") and opens_block("xs.map(x =>")
    assert not opens_block("return x") and not opens_block("")
