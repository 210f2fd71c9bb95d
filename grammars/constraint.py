"""The syntax constraint the denoising loop calls between steps.

Owns the mapping between canvas slots ("pieces" of decoded text, None while
masked, "" for end-of-middle padding) and byte ranges, and decides which committed
slots to re-mask. It deliberately knows nothing of token ids, tensors or torch:
`dllm` defines the same Protocol and passes decoded text.

Unknown text is handled conservatively. Everything from the first masked slot on
is unknown (its committed slots are judged once the gap before them is filled),
rendered as one identifier-like placeholder; so is whatever follows a full canvas,
which the engine may extend. An introduced error the unknown text may still fix
(it meets the placeholder, or an open string on that line) is not blamed. When the
middle has ended (padding follows), an error at its end is blamed on the first
padding slot too, so that the model may write what is missing there. A finished
Python middle is also compiled: CPython rejects some text tree-sitter-python accepts.
`needs_text` tells the engine where the file without a completion is broken at the
cursor (its `fill_broken` option then refuses an empty answer).
"""

from __future__ import annotations

from typing import Sequence

from tree_sitter import Language

from .languages import Grammar, language_for
from .truncate import python_broken_at_cursor, python_error_offset, truncate
from .validity import Introduced, Validator, broken_at_cursor, overlaps

__all__ = ["SyntaxConstraint", "constraint_for", "PLACEHOLDER"]

PLACEHOLDER = b" __masked__ "  # stands for the unknown text
SCOPE_DOCUMENT_CHARS = 200_000  # a longer file goes without the scope check: reading its names costs
                                # more per request than the completion (1 MB: ~50 ms, 5 MB: ~250 ms)
_ENC = "utf-8"


def _enc(text: str) -> bytes:
    return text.encode(_ENC, "replace")  # a lone surrogate becomes "?", one byte per char


class SyntaxConstraint:
    """Syntax checks for one language; one instance per completion thread."""

    def __init__(self, language: Grammar | Language) -> None:
        grammar = language if isinstance(language, Grammar) else None
        self.language: Language = grammar.language if grammar else language
        self.name: str = grammar.name if grammar else str(getattr(language, "name", "") or "")
        self._validator = Validator(self.language)

    def remask(self, prefix: str, pieces: Sequence[str | None], suffix: str) -> list[int]:
        """Sorted indices of committed pieces that overlap an error the completion introduced."""
        pre, suf = _enc(prefix), _enc(suffix)
        known = next((i for i, piece in enumerate(pieces) if piece is None), len(pieces))
        pad = _padding_start(pieces) if known == len(pieces) else None
        spans, middle = _render(pieces[:known], len(pre))
        hole = None
        if pad is None:  # unknown text follows: the rest of the canvas, or its extension
            filler = PLACEHOLDER if middle[-1:].strip() else PLACEHOLDER.lstrip()  # keep indentation
            hole = (len(pre) + len(middle), len(pre) + len(middle) + len(filler))
            middle += filler
        intro = self._validator.check(pre, middle, suf)
        if not intro:
            return self._python_blame(prefix, pieces[:known], suffix, spans) if pad is not None else []
        source = pre + middle + suf
        content_end = len(pre) + len(middle.rstrip())
        blamed: set[int] = set()
        for item in intro:
            site = item.site
            if item.pending or site.end < len(pre):
                continue  # the user's open fragment goes on / nothing of the middle in it
            if hole is not None and (site.start > content_end or _adjacent(site.start, site.end, *hole, source)):
                continue  # the unknown text may still fix it
            blamed.update(_pieces_at(item, spans, pad, content_end))
            if pad is not None and site.end >= content_end:
                blamed.add(pad)  # ended too early: let the model write the rest
        return sorted(blamed)

    def _python_blame(self, prefix: str, pieces: Sequence[str], suffix: str, spans) -> list[int]:
        """The piece where CPython rejects a finished middle that tree-sitter accepts (an indentation
        error, `f() = 1`), when the file without it compiled or failed only for want of it."""
        if self.name != "python":
            return []
        if python_error_offset(prefix + suffix) is not None and not python_broken_at_cursor(prefix, suffix):
            return []  # the user's own error elsewhere: truncation judges relative to it
        source = prefix + "".join(pieces) + suffix
        at = python_error_offset(source)
        if at is None or at < len(prefix):
            return []
        b = len(_enc(source[:at]))
        return [i for i, (s, e) in enumerate(spans) if s <= b < e and pieces[i].strip()][:1]

    def finalize(self, prefix: str, middle: str, suffix: str) -> str:
        """Longest sensible prefix of `middle` keeping the file as valid as before."""
        return truncate(self._validator, self.name, prefix, middle, suffix)

    def needs_text(self, prefix: str, suffix: str) -> bool:
        """Whether the file without a completion is broken at the cursor (an empty answer cannot be right).

        Python also asks CPython, which reports e.g. an empty block that tree-sitter-python accepts.
        """
        pre, suf = _enc(prefix), _enc(suffix)
        if broken_at_cursor(self._validator.before_sites(pre, suf), pre, suf):
            return True
        return self.name == "python" and python_broken_at_cursor(prefix, suffix)

    def introduced(self, prefix: str, middle: str, suffix: str) -> list[Introduced]:
        """Errors `middle` introduces (byte offsets in the candidate file)."""
        found = self._validator.check(_enc(prefix), _enc(middle), _enc(suffix))
        return [item for item in found if not item.pending]


def _render(pieces: Sequence[str], base: int) -> tuple[list[tuple[int, int]], bytes]:
    """Committed pieces as bytes, with each piece's byte span (offset by `base`)."""
    out = bytearray()
    spans = []
    for piece in pieces:
        b = _enc(piece)
        spans.append((base + len(out), base + len(out) + len(b)))
        out += b
    return spans, bytes(out)


def _adjacent(s: int, e: int, h0: int, h1: int, source: bytes) -> bool:
    """Whether the unknown text [h0, h1] may still fix the site [s, e].

    It may if they meet across whitespace at most, or if the site sits on the line
    the unknown text starts on and that line has an open string (a quote the
    unknown text may close re-tokenizes everything after it).
    """
    if overlaps(s, e, h0, h1):
        return True
    gap = source[e:h0] if e <= h0 else source[h1:s]
    if not gap.strip():
        return True
    if e > h0 or b"\n" in gap:
        return False
    line = source[source.rfind(b"\n", 0, s) + 1 : h0]
    return any(line.count(quote) % 2 for quote in (b"'", b'"', b"`"))


def _padding_start(pieces: Sequence[str | None]) -> int | None:
    """Index of the first slot of the trailing run of "" padding, if the middle has ended."""
    i = len(pieces)
    while i > 0 and pieces[i - 1] == "":
        i -= 1
    return i if i < len(pieces) else None


def _pieces_at(item: Introduced, spans, pad: int | None, content_end: int) -> list[int]:
    out = []
    for s, e in item.spans:
        if s == e and pad is not None and s >= content_end:
            out.append(pad)
            continue
        for i, span in enumerate(spans):
            if span[0] == span[1]:
                continue
            if (span[0] <= s < span[1]) if s == e else (span[0] < e and s < span[1]):
                out.append(i)
    return out


def constraint_for(language_id: str | None, path: str | None = None, scope: bool = False,
                   document: str | None = None):
    """A fresh constraint for a languageId / path, or None when unsupported: the syntax one, and with
    `scope` also the names that resolve to nothing (`combined.Combined`; Python, JavaScript, TypeScript,
    Go, Rust); `document`, the whole file around the cursor, lets the scope check see the names defined
    beyond the judged window, and `path` a Go package's other files; a document over
    SCOPE_DOCUMENT_CHARS gets the syntax constraint alone."""
    grammar = language_for(language_id, path)
    if grammar is None:
        return None
    if scope and (document is None or len(document) <= SCOPE_DOCUMENT_CHARS):
        from .combined import Combined, scope_check

        check = scope_check(grammar, path, document)
        if check is not None:
            return Combined(SyntaxConstraint(grammar), check)
    return SyntaxConstraint(grammar)
