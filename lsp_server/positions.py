"""LSP positions <-> Python string offsets, for one text and its line table.

Owns: the line table (where each line starts, updated incrementally after an edit) and the
conversion of a (line, character) pair in the negotiated position encoding (UTF-16 by default,
UTF-8 or UTF-32 when the client offers them) to an offset into a Python `str` (code points) and
back. Line terminators are `\\n`, `\\r\\n` and `\\r`, as LSP defines them. Out-of-range positions are
clamped, as editors do. Knows nothing about documents, requests or the model.
"""

from __future__ import annotations

import re
from bisect import bisect_right

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"
_EOL = re.compile(r"\r\n|\r|\n")


def eol_of(text: str) -> str:
    """The text's line terminator, judged by its first line break (\\r\\n, \\n or a lone \\r; \\n if none)."""
    found = _EOL.search(text)
    return found.group() if found else "\n"


def line_starts(text: str) -> list[int]:
    """Offsets at which each line of `text` starts (always at least [0])."""
    return [0] + [m.end() for m in _EOL.finditer(text)]


def update_line_starts(starts: list[int], old_len: int, new_text: str, start: int, end: int,
                       inserted: int) -> list[int]:
    """The line table after text[start:end] was replaced by `inserted` characters.

    `new_text` is the whole text after the edit. Only the lines around the edit are scanned again;
    the lines after it are shifted, so an edit costs O(lines) list work, not a regex over the file.
    """
    delta = inserted - (end - start)
    first = max(bisect_right(starts, start) - 2, 0)  # one line back: a "\r" there may join a "\n"
    after = bisect_right(starts, end)  # first line that starts strictly after the edit
    region_start = starts[first]
    region_end = (starts[after] if after < len(starts) else old_len) + delta
    at_end = after == len(starts)
    fresh = [m.end() for m in _EOL.finditer(new_text, region_start, region_end)]
    if not at_end:
        fresh = [s for s in fresh if s < region_end]
    return starts[:first] + [region_start] + fresh + [s + delta for s in starts[after:]]


def _units(ch: str, encoding: str) -> int:
    code = ord(ch)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if encoding == UTF8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def units_to_index(line: str, units: int, encoding: str) -> int:
    """Index into `line` of the given column in code units, clamped to the line's length.

    A column inside a multi-unit character (half a surrogate pair) maps to that character's start.
    """
    if units <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    seen = 0
    for i, ch in enumerate(line):
        seen += _units(ch, encoding)
        if seen > units:
            return i
    return len(line)


def index_to_units(line: str, index: int, encoding: str) -> int:
    """Column in code units of `line[:index]`."""
    head = line[:index]
    if encoding == UTF32 or head.isascii():
        return len(head)
    if encoding == UTF16:
        return len(head) + sum(1 for ch in head if ord(ch) > 0xFFFF)
    return len(head.encode("utf-8", "surrogatepass"))


class LineIndex:
    """A text plus its line table; converts positions and offsets in one encoding."""

    __slots__ = ("text", "starts", "encoding")

    def __init__(self, text: str, encoding: str = UTF16, starts: list[int] | None = None) -> None:
        self.text = text
        self.encoding = encoding
        self.starts = starts if starts is not None else line_starts(text)

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line_bounds(self, line: int) -> tuple[int, int]:
        """(start, end) offsets of the line's content, terminator excluded."""
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        if end > start and self.text[end - 1] == "\n":
            end -= 1
        if end > start and self.text[end - 1] == "\r":
            end -= 1
        return start, end

    def offset_at(self, line: int, character: int) -> int:
        """Offset of a position, clamped: past the last line is the end of the text."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        start, end = self.line_bounds(line)
        return start + units_to_index(self.text[start:end], character, self.encoding)

    def position_at(self, offset: int) -> tuple[int, int]:
        """(line, character) of an offset, clamped to the text."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect_right(self.starts, offset) - 1
        start, end = self.line_bounds(line)
        offset = min(offset, end)
        return line, index_to_units(self.text[start:end], offset - start, self.encoding)
