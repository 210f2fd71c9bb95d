"""Parsing: one tree-sitter Parser per user, fresh and incremental parses, offsets.

Owns the mechanics of turning bytes into a Tree and of re-parsing after an edit
(the edit is found by diffing old and new bytes, so callers never compute rows
and columns). Knows nothing about which errors matter; that is `validity`.
Byte offsets are UTF-8 (tree-sitter's); `char_offset`/`byte_offset` convert.
"""

from __future__ import annotations

import hashlib
import threading

from tree_sitter import Language, Node, Parser, Point, Tree

__all__ = ["new_parser", "IncrementalParser", "document_tree", "edit_span", "point_at", "char_offset", "byte_offset",
           "text_key"]


def new_parser(language: Language) -> Parser:
    """A Parser for `language`. Parsers are not thread-safe: one per thread/user."""
    return Parser(language)


def point_at(source: bytes, offset: int) -> Point:
    """Row/column (column in bytes) of a byte offset, as tree-sitter wants it."""
    row = source.count(b"\n", 0, offset)
    line_start = source.rfind(b"\n", 0, offset) + 1
    return Point(row, offset - line_start)


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix of `a` and `b` (halving chunk compares, then bytes)."""
    n, i, step = min(len(a), len(b)), 0, 1 << 12
    while step:
        while i + step <= n and a[i:i + step] == b[i:i + step]:
            i += step
        step >>= 1
    return i


def edit_span(old: bytes, new: bytes) -> tuple[int, int, int]:
    """(start, old_end, new_end) of the single edit turning `old` into `new`."""
    start = _common_prefix(old, new)
    tail = _common_prefix(old[start:][::-1], new[start:][::-1])
    return start, len(old) - tail, len(new) - tail


class IncrementalParser:
    """Parses successive versions of one text, re-using the previous tree.

    `parse(source)` diffs `source` against the last version, edits the old tree
    and lets tree-sitter re-parse only what changed. The result is the same tree
    a fresh parse would give (tested), only cheaper.
    """

    def __init__(self, language: Language) -> None:
        self._parser = new_parser(language)
        self._source: bytes | None = None
        self._tree: Tree | None = None

    def parse(self, source: bytes) -> Tree:
        old_tree, old = self._tree, self._source
        if old_tree is None or old is None:
            tree = self._parser.parse(source)
        elif old == source:
            return old_tree
        else:
            start, old_end, new_end = edit_span(old, source)
            old_tree = old_tree.copy()  # trees handed out earlier stay unedited
            old_tree.edit(
                start_byte=start,
                old_end_byte=old_end,
                new_end_byte=new_end,
                start_point=point_at(old, start),
                old_end_point=point_at(old, old_end),
                new_end_point=point_at(source, new_end),
            )
            tree = self._parser.parse(source, old_tree)
        self._tree, self._source = tree, source
        return tree

    def fresh(self, source: bytes) -> Tree:
        """Parse from scratch, without touching the incremental state."""
        return self._parser.parse(source)


_documents: dict[int, tuple[Language, IncrementalParser, threading.Lock]] = {}  # per language (grammars are cached)
_documents_lock = threading.Lock()


def document_tree(language: Language, source: bytes) -> Tree:
    """The tree of a whole file, parsed incrementally from the last file of `language` asked for: an
    editor's file differs between two requests only where the user typed (argparse.py, 100 KB: 1 ms
    against 19 ms fresh). The tree a fresh parse gives; safe from any thread."""
    with _documents_lock:
        entry = _documents.get(id(language))
        if entry is None or entry[0] is not language:
            entry = _documents[id(language)] = (language, IncrementalParser(language), threading.Lock())
    with entry[2]:
        return entry[1].parse(source)


def text_key(source: bytes, node: Node) -> bytes:
    """A 16-byte digest of a node's text: the key of caches of what a statement or body defines (the text
    itself as the key kept a copy of every version of a big statement, one per keystroke)."""
    return hashlib.blake2b(source[node.start_byte:node.end_byte], digest_size=16).digest()


def char_offset(text: str, byte_off: int) -> int:
    """Character offset in `text` of a UTF-8 byte offset (clamped to a char start)."""
    return len(text.encode("utf-8")[:byte_off].decode("utf-8", errors="ignore"))


def byte_offset(text: str, char_off: int) -> int:
    """UTF-8 byte offset of a character offset in `text`."""
    return len(text[:char_off].encode("utf-8"))
