"""The window around the cursor: budgets, line boundaries, and the cursor's line kept whole."""

from dllm_complete.dllm.contract import JUDGED_CHARS
from dllm_complete.lsp_server.window import CHARS_PER_TOKEN, build, with_selection

LINES = [f"line_{i:03d} = {i}" for i in range(200)]
TEXT = "\n".join(LINES) + "\n"


def cursor(line: int, col: int) -> int:
    return sum(len(ln) + 1 for ln in LINES[:line]) + col


def test_small_file_is_kept_whole():
    ctx = build(TEXT, cursor(100, 4), 10_000, 10_000, min_chars=0)
    assert ctx.prefix + ctx.suffix == TEXT
    assert not ctx.prefix_cut and not ctx.suffix_cut


def test_budget_cuts_at_line_boundaries_and_keeps_more_prefix():
    ctx = build(TEXT, cursor(100, 4), 30, 10, min_chars=0)
    assert ctx.prefix_cut and ctx.suffix_cut
    assert ctx.prefix.startswith("line_") and ctx.suffix.endswith("\n")
    assert len(ctx.prefix) <= 30 * CHARS_PER_TOKEN and len(ctx.suffix) <= 10 * CHARS_PER_TOKEN + 20
    assert len(ctx.prefix) > len(ctx.suffix)
    assert ctx.line_prefix == "line" and ctx.line_suffix == "_100 = 100"
    assert ctx.prev_line == "line_099 = 99"
    assert ctx.next_lines[0].strip() == "line_101 = 101"


def test_the_window_is_at_least_what_the_syntax_constraint_parses():
    big = TEXT * 8
    assert len(build(big, len(big) // 2, 30, 10).prefix) >= JUDGED_CHARS - 20  # the default minimum
    ctx = build(TEXT, cursor(100, 4), 30, 10, min_chars=600)
    assert 30 * CHARS_PER_TOKEN < len(ctx.prefix) <= 600 and 10 * CHARS_PER_TOKEN < len(ctx.suffix) <= 600 + 20
    assert ctx.prefix.startswith("line_") and ctx.suffix.endswith("\n")


def test_cursor_line_is_never_cut_even_with_a_tiny_budget():
    long_line = "x = " + "a" * 500
    text = "before\n" + long_line + "\nafter\n"
    ctx = build(text, len("before\n") + 250, 1, 1, min_chars=0)
    assert ctx.prefix == long_line[:250]
    assert ctx.suffix == long_line[250:] + "\n"


def test_crlf_lines():
    text = "a = 1\r\nb = \r\nc = 3\r\n"
    ctx = build(text, text.index("b = ") + 4, 100, 100, min_chars=0)
    assert ctx.line_prefix == "b = " and ctx.line_suffix == ""
    assert ctx.prev_line == "a = 1" and ctx.next_lines == ("c = 3",)


def test_selection_replaces_the_typed_word():
    ctx = build("x = pri", 7, 100, 100, min_chars=0)
    sel = with_selection(ctx, 3, "print")
    assert sel.prefix == "x = print" and sel.line_prefix == "x = print"
