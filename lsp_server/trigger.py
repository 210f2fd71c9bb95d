"""Whether to complete at the cursor, and how much: nothing, one line, or several lines.

The one place the completion mode is decided (the engine is told "single" or "multi"); the language
server, the CLI and the benchmarks' `auto` all ask `decide`. The rules, as pure functions of the
cursor's line and its neighbours:
  - nothing in the middle of a word, or before other text on the line that a completion would
    duplicate or have to weave around (an explicit request still gets a single line; at the start of
    a line that has text it gets lines inserted above that line, decided as on an empty line);
  - several lines where a block is open to be written: on an empty line under a block opener (`:`,
    `{`, `=>` ...) whose block has nothing in it yet, at the end of the opener line itself, on an
    empty line after the last line of a block (the next line dedents), or where nothing follows;
  - one line everywhere else: mid-statement, and on an empty line between two lines of one block
    (there one line belongs; several would repeat what follows).
Only closing brackets, quotes and separators may follow the cursor for an automatic completion.
"""

from __future__ import annotations

from typing import NamedTuple

from dllm_complete.dllm.canvas import CLOSERS, starts_line_text

from . import window

OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then", "\\")
MAX_LINE_CHARS = 2_000  # a longer line (minified code, data) gets no automatic completion


class Decision(NamedTuple):
    mode: str | None  # "single" | "multi" | None (do not complete)
    reason: str


def is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def opens_block(line: str) -> bool:
    """Whether a line ends with something that opens an indented block."""
    code = line.rstrip()
    return bool(code) and code.endswith(OPENERS)


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def decide(line_prefix: str, line_suffix: str, prev_line: str, next_line: str = "", *, invoked: bool,
           mode: str = "auto", max_line: int = MAX_LINE_CHARS) -> Decision:
    """Decide for a cursor between `line_prefix` and `line_suffix` (its line, split at the cursor), with
    the last non-blank line before it and the first non-blank line after it."""
    if len(line_prefix) + len(line_suffix) > max_line:
        return Decision(None, "line-too-long")
    rest = line_suffix.strip()
    if line_prefix and line_suffix and is_word(line_prefix[-1]) and is_word(line_suffix[0]):
        return Decision("single", "mid-word-invoked") if invoked else Decision(None, "mid-word")
    if rest and not set(rest) <= CLOSERS:
        if not invoked:
            return Decision(None, "text-right")
        if not starts_line_text(line_prefix, line_suffix):
            return Decision("single", "text-right-invoked")
    if starts_line_text(line_prefix, line_suffix):
        next_line = line_prefix + line_suffix  # lines go above it
    if mode in ("single", "multi"):
        return Decision(mode, "configured")
    if not line_prefix.strip():
        if not next_line.strip():
            return Decision("multi", "end-of-file")
        if opens_block(prev_line):
            if _indent(next_line) <= _indent(prev_line):
                return Decision("multi", "empty-block")
        elif _indent(next_line) < _indent(prev_line):
            return Decision("multi", "block-end")
        return Decision("single", "in-block")
    if not rest and opens_block(line_prefix):
        return Decision("multi", "after-opener")
    return Decision("single", "mid-statement")


def decide_at(text: str, offset: int, *, invoked: bool, mode: str = "auto") -> Decision:
    """`decide` at `offset` of a whole text (the CLI, the benchmarks)."""
    at = window.build(text, offset, 0, 0)
    return decide(at.line_prefix, at.line_suffix, at.prev_line, at.next_line, invoked=invoked, mode=mode)


def mode_in(at: window.Window, mode: str = "auto", max_line: int = MAX_LINE_CHARS) -> str:
    """The mode an explicit request gets at the cursor of a window (the CLI's and the benchmarks'
    `auto`), and one line where the editor would show nothing (a line over `max_line` characters); a
    mode asked for by name is what it gets."""
    if mode in ("single", "multi"):
        return mode
    decided = decide(at.line_prefix, at.line_suffix, at.prev_line, at.next_line, invoked=True, mode=mode,
                     max_line=max_line)
    return decided.mode or "single"


def mode_at(text: str, offset: int, mode: str = "auto") -> str:
    """`mode_in` at `offset` of a whole text."""
    return mode_in(window.build(text, offset, 0, 0), mode)
