"""Whether to complete at the cursor, and how much: nothing, one line, or several lines.

Owns the rules, as pure functions of the cursor's line and its neighbourhood:
  - nothing in the middle of a word, or before other text on the line that a completion would
    duplicate or have to weave around (an explicit request still gets a single line);
  - several lines on an empty line right after a block opener (`:`, `{`, `=>` ...), or at the end of
    the opener line itself, or on any empty line when the user asked explicitly;
  - one line everywhere else (mid-statement).
Only closing brackets, quotes and separators may follow the cursor for an automatic completion.
"""

from __future__ import annotations

from typing import NamedTuple

OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then", "\\")
CLOSERS = set(")]}>\"'`;:,. \t")
MODES = ("auto", "single", "multi")


class Decision(NamedTuple):
    mode: str | None  # "single" | "multi" | None (do not complete)
    reason: str


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def opens_block(line: str) -> bool:
    """Whether a line ends with something that opens an indented block."""
    code = line.rstrip()
    return bool(code) and code.endswith(OPENERS)


def decide(line_prefix: str, line_suffix: str, prev_line: str, *, invoked: bool,
           mode: str = "auto", max_line: int = 1000) -> Decision:
    """Decide for a cursor between `line_prefix` and `line_suffix` (its line, split at the cursor)."""
    if len(line_prefix) + len(line_suffix) > max_line:
        return Decision(None, "line-too-long")
    rest = line_suffix.strip()
    if line_prefix and line_suffix and _is_word(line_prefix[-1]) and _is_word(line_suffix[0]):
        return Decision("single", "mid-word-invoked") if invoked else Decision(None, "mid-word")
    if rest and not set(rest) <= CLOSERS:
        return Decision("single", "text-right-invoked") if invoked else Decision(None, "text-right")
    if mode in ("single", "multi"):
        return Decision(mode, "configured")
    if not line_prefix.strip():
        if opens_block(prev_line):
            return Decision("multi", "block-start")
        return Decision("multi", "empty-line-invoked") if invoked else Decision("single", "empty-line")
    if not rest and opens_block(line_prefix):
        return Decision("multi", "after-opener")
    return Decision("single", "mid-statement")
