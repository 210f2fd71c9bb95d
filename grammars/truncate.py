"""Syntax-aware truncation of a finished completion.

Owns the final verdict: the longest prefix of the middle, cut at the end of a
line (multi-line middles) or of a token (within the first line), that introduces
no syntax error into the file. For Python the verdict also asks CPython
(`compile`), because tree-sitter-python accepts some invalid Python: a candidate
must compile when the file without the completion compiled, and otherwise must
not move the first SyntaxError earlier. Knows nothing of pieces or masks.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

from tree_sitter import Node

from .validity import Validator

__all__ = ["truncate", "python_error_offset", "python_broken_at_cursor", "MAX_CHECKS"]

MAX_CHECKS = 96  # parses per truncation, a bound for pathological middles
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ENC = "utf-8"


@lru_cache(maxsize=8)
def python_error_offset(source: str) -> int | None:
    """Character offset of the first error CPython reports compiling `source`, None if none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<completion>", "exec", dont_inherit=True)
            return None
        except SyntaxError as err:
            line, col = err.lineno or 1, max((err.offset or 1) - 1, 0)
        except (ValueError, OverflowError, RecursionError, MemoryError):
            return 0
    starts = [0] + [m.end() for m in _LINE_BREAK.finditer(source)]
    return min(starts[min(line, len(starts)) - 1] + col, len(source))


def python_broken_at_cursor(prefix: str, suffix: str) -> bool:
    """Whether CPython's first error in `prefix + suffix` lies at the cursor (across whitespace)."""
    at = python_error_offset(prefix + suffix)
    return at is not None and not (prefix + suffix)[min(at, len(prefix)):max(at, len(prefix))].strip()


def _python_ok(prefix: str, middle: str, suffix: str) -> bool:
    cand = python_error_offset(prefix + middle + suffix)
    if cand is None:
        return True
    before = python_error_offset(prefix + suffix)
    if before is None:
        return False
    mapped = before if before < len(prefix) else before + len(middle)
    return cand >= mapped


def _line_cuts(mid: bytes) -> list[int]:
    """Byte offsets ending each line's content (trailing blanks dropped), descending."""
    cuts, start = set(), 0
    for line in mid.splitlines(keepends=True):
        end = start + len(line.rstrip())
        if end > 0:
            cuts.add(end)
        start += len(line)
    return sorted(cuts, reverse=True)


def _token_cuts(node: Node, lo: int, hi: int, out: set[int]) -> None:
    """Ends of leaves ending inside (lo, hi] (a walk with a stack of its own: trees can be deeper than
    Python's recursion limit, e.g. a chain of a thousand `+`)."""
    stack = [node]
    while stack:
        node = stack.pop()
        if node.end_byte <= lo or node.start_byte >= hi:
            continue
        if node.child_count == 0:
            if lo < node.end_byte <= hi and not node.is_missing:
                out.add(node.end_byte)
            continue
        stack.extend(node.children)


def _head(middle: str, mid: bytes, cut: int) -> str:
    """`middle` up to byte `cut` of its encoding `mid` (cuts are char boundaries)."""
    return middle[: len(mid[:cut].decode(_ENC, "ignore"))]


def truncate(validator: Validator, language_name: str, prefix: str, middle: str, suffix: str) -> str:
    """Longest sensible prefix of `middle` that keeps the file as valid as before.

    A cut is valid when it introduces no error; it is clean when it also leaves no
    error of the user's unfinished fragment at the cursor. The longest clean cut
    wins, else the longest valid one, else "".
    """
    if not middle.strip():
        return middle
    pre, mid, suf = (t.encode(_ENC, "replace") for t in (prefix, middle, suffix))
    first_line = len(mid.split(b"\n", 1)[0].rstrip())
    cuts = [len(mid)] + [c for c in _line_cuts(mid) if c < len(mid)]
    tree = validator.parse(pre + mid + suf)
    ends: set[int] = set()
    _token_cuts(tree.root_node, len(pre), len(pre) + first_line, ends)
    cuts += sorted((e - len(pre) for e in ends if 0 < e - len(pre) < first_line), reverse=True)
    valid: int | None = None
    for cut in cuts[:MAX_CHECKS]:
        found = validator.check(pre, mid[:cut], suf)
        if any(not item.pending for item in found):
            continue
        if language_name == "python" and not _python_ok(prefix, _head(middle, mid, cut), suffix):
            continue
        if not found:
            return _head(middle, mid, cut)
        if valid is None:
            valid = cut
    return "" if valid is None else _head(middle, mid, valid)
