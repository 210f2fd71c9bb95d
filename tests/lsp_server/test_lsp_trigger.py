"""When to complete, and how much."""

import pytest

from dllm_complete.lsp_server.config import DEFAULTS
from dllm_complete.lsp_server.trigger import MAX_LINE_CHARS, decide, opens_block


@pytest.mark.parametrize("line_prefix,line_suffix,prev,next_line,invoked,mode,reason", [
    ("    fo", "o(x)", "", "", False, None, "mid-word"),
    ("    fo", "o(x)", "", "", True, "single", "mid-word-invoked"),
    ("    x = ", "foo(y)", "", "", False, None, "text-right"),
    ("    x = ", "foo(y)", "", "", True, "single", "text-right-invoked"),
    ("    print(", ")", "", "", False, "single", "mid-statement"),
    ("    x = foo(", "):", "", "", False, "single", "mid-statement"),
    ("    ", "", "def f(x):", "def g():", False, "multi", "empty-block"),
    ("    ", "", "if (x) {", "}", True, "multi", "empty-block"),
    ("    ", "", "def f(x):", "    return x", False, "single", "in-block"),
    ("", "", "x = 1", "y = 2", False, "single", "in-block"),
    ("", "", "x = 1", "y = 2", True, "single", "in-block"),
    ("", "", "    return x", "def g():", True, "multi", "block-end"),
    ("", "", "x = 1", "", False, "multi", "end-of-file"),
    ("def f(x):", "", "", "", False, "multi", "after-opener"),
    ("    return x +", "", "", "", False, "single", "mid-statement"),
    # at the start of a line that has text: nothing unless asked; asked, lines above it
    ("", "    return x", "def f(x):", "", False, None, "text-right"),
    ("", "    return x", "    y = x", "", True, "single", "in-block"),
    ("", "def g():", "def f(x):", "", True, "multi", "empty-block"),
    # after a line's indentation, before its text: the same
    ("    ", "return x", "    y = x", "", True, "single", "in-block"),
    ("    ", "return x", "def f(x):", "", False, None, "text-right"),
])
def test_decisions(line_prefix, line_suffix, prev, next_line, invoked, mode, reason):
    d = decide(line_prefix, line_suffix, prev, next_line, invoked=invoked)
    assert (d.mode, d.reason) == (mode, reason)


def test_configured_mode_wins_where_completing_is_allowed():
    assert decide("", "", "def f():", invoked=False, mode="single").mode == "single"
    assert decide("x", "y", "", invoked=False, mode="multi").mode is None


def test_long_lines_are_skipped():
    assert decide("x" * 3000, "", "", invoked=True).reason == "line-too-long"
    # the CLI's and dllm-serve's `auto` draw the line where the language server does
    assert decide("x = " + "1" * 1500 + " + ", "", "", invoked=True).mode == "single"
    assert DEFAULTS.max_line_chars == MAX_LINE_CHARS


def test_openers():
    assert opens_block("for x in y:  ") and opens_block("fn main() {") and opens_block("xs.map(x =>")
    assert not opens_block("return x") and not opens_block("")
