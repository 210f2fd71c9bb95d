"""Suggestions already computed, reusable while the user types through them.

An entry remembers where a suggestion was made (document offset) and a little text on each side.
A later request in the same document hits when the text before the old cursor and after the new one
is unchanged and everything typed in between is the start of the suggestion: the rest of the
suggestion is served without a model call. Bounded: an LRU over documents, a few entries per
document, and a cap on the characters held. Pure data structure; knows nothing of LSP or models.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

ANCHOR = 256  # characters of context kept on each side of an entry


@dataclass(frozen=True)
class Entry:
    offset: int
    before: str
    after: str
    texts: tuple[str, ...]  # the suggestion and its alternatives, best first

    @property
    def size(self) -> int:
        return len(self.before) + len(self.after) + sum(len(t) for t in self.texts)


class SuggestionCache:
    def __init__(self, max_documents: int = 64, per_document: int = 8, max_chars: int = 2_000_000) -> None:
        self.max_documents, self.per_document, self.max_chars = max_documents, per_document, max_chars
        self._docs: OrderedDict[str, list[Entry]] = OrderedDict()
        self._chars = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return sum(len(v) for v in self._docs.values())

    @property
    def chars(self) -> int:
        return self._chars

    def put(self, uri: str, text: str, offset: int, texts: list[str]) -> None:
        texts = [t for t in texts if t]
        if not texts:
            return
        entry = Entry(offset, text[max(0, offset - ANCHOR):offset], text[offset:offset + ANCHOR], tuple(texts))
        entries = self._docs.pop(uri, [])
        kept = [e for e in entries if e.offset != offset]
        self._chars -= sum(e.size for e in entries) - sum(e.size for e in kept)
        kept.insert(0, entry)
        self._chars += entry.size
        while len(kept) > self.per_document:
            self._chars -= kept.pop().size
        self._docs[uri] = kept
        self._evict()

    def get(self, uri: str, text: str, offset: int) -> list[str] | None:
        """The rest of every cached suggestion the cursor has typed into, or None on a miss."""
        for entry in self._docs.get(uri, ()):
            typed = offset - entry.offset
            if typed < 0 or typed > max(len(t) for t in entry.texts):
                continue
            start = entry.offset - len(entry.before)
            if start < 0 or text[start:entry.offset] != entry.before:
                continue
            if text[offset:offset + len(entry.after)] != entry.after:
                continue
            done = text[entry.offset:offset]
            rest = [t[typed:] for t in entry.texts if t.startswith(done) and t[typed:].strip()]
            if rest:
                self._docs.move_to_end(uri)
                self.hits += 1
                return rest
        self.misses += 1
        return None

    def clear(self, uri: str | None = None) -> None:
        if uri is None:
            self._docs.clear()
            self._chars = 0
        else:
            self._chars -= sum(e.size for e in self._docs.pop(uri, ()))

    def _evict(self) -> None:
        while self._docs and (len(self._docs) > self.max_documents or self._chars > self.max_chars):
            _, entries = self._docs.popitem(last=False)
            self._chars -= sum(e.size for e in entries)
