"""The open documents: their text, version, language, and the recent edits made to them.

Owns: full and incremental synchronisation (`apply`), per-document language (LSP `languageId`,
falling back to the file suffix), flags that stop completion on binary or oversized text, and a
short log of edits so a request that started before the user typed more can tell what was typed
since (`typed_since`). Knows nothing about LSP transport types: changes arrive as plain tuples.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from dllm_complete.grammars.languages import language_id_for_path

from .positions import UTF16, LineIndex, eol_of, update_line_starts

EDIT_LOG = 64
Range = tuple[tuple[int, int], tuple[int, int]]  # ((line, character), (line, character))


def uri_path(uri: str) -> str:
    """The file path of a `file:` URI (or the URI's path part for other schemes)."""
    return unquote(urlparse(uri).path)


def document_language(language_id: str | None, uri: str) -> str:
    """The document's language: the client's `languageId` unless empty or plain text (VS Code's
    "plaintext", Vim's "text"), else the suffix's, else "plaintext"."""
    if language_id and language_id not in ("plaintext", "text"):
        return language_id
    return language_id_for_path(uri_path(uri)) or "plaintext"


@dataclass(frozen=True)
class Edit:
    revision: int
    start: int
    removed: int  # -1: the whole document was replaced
    inserted: str


@dataclass
class Document:
    uri: str
    language: str
    version: int
    index: LineIndex
    revision: int = 0  # ours, bumped on every content change (client versions may not move)
    edits: deque[Edit] = field(default_factory=lambda: deque(maxlen=EDIT_LOG))
    _binary: bool = field(default=False, repr=False)
    _binary_at: int = field(default=-1, repr=False)

    @property
    def text(self) -> str:
        return self.index.text

    @property
    def binary(self) -> bool:
        """Whether the text holds NUL characters (checked once per revision)."""
        if self._binary_at != self.revision:
            self._binary, self._binary_at = "\x00" in self.index.text, self.revision
        return self._binary

    @property
    def eol(self) -> str:
        """The document's line terminator (`positions.eol_of`)."""
        return eol_of(self.index.text)

    def replace_all(self, text: str, version: int) -> None:
        self.index = LineIndex(text, self.index.encoding)
        self.version = version
        self.revision += 1
        self.edits.append(Edit(self.revision, 0, -1, ""))

    def replace(self, rng: Range, text: str, version: int) -> None:
        """Replace a range given in positions (clamped to the document)."""
        idx = self.index
        start = idx.offset_at(*rng[0])
        end = max(idx.offset_at(*rng[1]), start)
        old = idx.text
        new = old[:start] + text + old[end:]
        starts = update_line_starts(idx.starts, len(old), new, start, end, len(text))
        self.index = LineIndex(new, idx.encoding, starts)
        self.version = version
        self.revision += 1
        self.edits.append(Edit(self.revision, start, end - start, text))

    def replace_descending(self, changes: list[tuple[Range | None, str]], version: int) -> bool:
        """Changes each ending where or before the previous one starts (a multi-cursor edit, a replace-all):
        every range is then a place in the text as it was, so the text is spliced and its line table
        built once, not once a change (2,000 changes to a 2 MB file: one pass, not 2,000). False, and
        nothing changed, where they are not so ordered or a position is not exactly a place in the text
        (past a line's end, inside a character): one change at a time decides those."""
        idx = self.index
        spans: list[tuple[int, int, str]] = []
        for rng, text in changes:
            if rng is None:
                return False
            start, end = idx.offset_at(*rng[0]), idx.offset_at(*rng[1])
            if idx.position_at(start) != tuple(rng[0]) or idx.position_at(end) != tuple(rng[1]):
                return False
            end = max(end, start)  # as `replace` reads a reversed range
            if spans and end > spans[-1][0]:
                return False
            spans.append((start, end, text))
        pieces, cursor = [], 0
        for start, end, text in reversed(spans):  # left to right through the text
            pieces += [idx.text[cursor:start], text]
            cursor = end
        self.index = LineIndex("".join(pieces) + idx.text[cursor:], idx.encoding)
        self.version = version
        for start, end, text in spans:  # as applied one by one: each is still where it was
            self.revision += 1
            self.edits.append(Edit(self.revision, start, end - start, text))
        return True

    def typed_since(self, revision: int, offset: int) -> str | None:
        """Text typed at `offset` since `revision`, or None if other edits happened (or too many).

        Insertions at the end of what was typed and deletions of its tail are followed; anything
        else (an edit elsewhere, a full replacement) makes the request stale.
        """
        if revision == self.revision:
            return ""
        if not self.edits or self.edits[0].revision > revision + 1:
            return None  # the log no longer reaches back to `revision`
        typed = ""
        for e in self.edits:
            if e.revision <= revision:
                continue
            if e.removed < 0:
                return None
            end = offset + len(typed)
            if e.removed == 0 and e.start == end:
                typed += e.inserted
            elif not e.inserted and e.start >= offset and e.start + e.removed == end:
                typed = typed[: e.start - offset]
            else:
                return None
        return typed


class DocumentStore:
    """Open documents by URI, in one position encoding."""

    def __init__(self, encoding: str = UTF16) -> None:
        self.encoding = encoding
        self._docs: dict[str, Document] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def open(self, uri: str, language_id: str | None, version: int, text: str) -> Document:
        doc = Document(uri, document_language(language_id, uri), version, LineIndex(text, self.encoding))
        self._docs[uri] = doc
        return doc

    def change(self, uri: str, version: int, changes: list[tuple[Range | None, str]]) -> Document | None:
        """Apply content changes in order; `None` as range means the whole document."""
        doc = self._docs.get(uri)
        if doc is None:
            return None
        if len(changes) > 1 and doc.replace_descending(changes, version):
            return doc
        for rng, text in changes:
            if rng is None:
                doc.replace_all(text, version)
            else:
                doc.replace(rng, text, version)
        doc.version = version
        return doc

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)
