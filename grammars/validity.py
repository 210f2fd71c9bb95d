"""Validity: which syntax errors did the completion introduce?

Owns error sites (ERROR and MISSING nodes) and their attribution. The file being
edited is often broken already, so a candidate `prefix + middle + suffix` is
compared with the "before" file `prefix + suffix`: each before site is mapped
through the insertion (at `len(prefix)`, `len(middle)` long, UTF-8 bytes) and
explains the candidate sites it accounts for:

* a before site away from the cursor, or spanning it, explains any candidate site
  overlapping it (tree-sitter's recovery may stretch an old error over new text);
* a before site touching the cursor is the user's half-typed fragment. A MISSING
  token of a construct opened before the cursor is explained; an ERROR continuing
  the fragment is "pending" (not blamed) unless the middle closes a subtree or a
  bracket it never opened: `print(foo(` + `a)) + )` blames ` + )`, `x = foo(` + `a`
  blames nothing. A site right after the cursor explains a candidate ERROR over it,
  unless that ERROR starts inside the middle with stray tokens of its own: the
  fragment after the cursor is often broken only because the hole is empty
  (`y = ` + `\\n    return y`), and `y = )))` is the middle's fault.

The rest is introduced; its blame spans are its error leaves (or MISSING points)
inside the middle. Knows nothing about tokens, masks or truncation.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from tree_sitter import Language, Node, Tree

from .parse import IncrementalParser

__all__ = ["ErrorSite", "Introduced", "error_sites", "introduced", "overlaps", "Validator", "introduced_errors",
           "broken_at_cursor"]

ERROR = "ERROR"
_EXPLAINED, _PENDING = None, -2  # _explain's verdicts besides an offset
_CLOSERS = {b")": b"(", b"]": b"[", b"}": b"{"}


@dataclass(frozen=True, slots=True)
class ErrorSite:
    """One ERROR node (outermost) or MISSING node, in bytes of the parsed text."""

    start: int
    end: int  # == start for MISSING
    kind: str  # "ERROR" or "MISSING <token>"
    owner: int = -1  # MISSING only: start of the node the missing token would close
    # ERROR only, in order: (start, end, tag) of its children, nested ERRORs flattened;
    # tag "leaf" (a token), "tree" (a complete subtree) or "broken" (a subtree with errors).
    parts: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Introduced:
    """A candidate site the completion is blamed for; `spans` lie inside the middle."""

    site: ErrorSite
    spans: tuple[tuple[int, int], ...]
    # True: the user's unfinished fragment at the cursor simply goes on (never blamed,
    # but a finished completion had better close it; truncation prefers cuts without)
    pending: bool = False


def _flatten(node: Node, parts: list, sites: list) -> None:
    levels = [iter(node.children)]  # the walk's own stack, in the children's order: trees can be deeper
    while levels:                   # than Python's recursion limit (a chain of a thousand `+`)
        child = next(levels[-1], None)
        if child is None:
            levels.pop()
        elif child.is_missing:
            sites.append(_missing(child))
        elif child.is_error:
            levels.append(iter(child.children))
        elif child.is_extra:  # comments inside the error region are never to blame
            continue
        elif child.child_count == 0:
            parts.append((child.start_byte, child.end_byte, "leaf"))
        else:
            parts.append((child.start_byte, child.end_byte, "broken" if child.has_error else "tree"))
            if child.has_error:
                _collect(child, sites)


def _missing(node: Node) -> ErrorSite:
    owner = node.parent.start_byte if node.parent is not None else node.start_byte
    return ErrorSite(node.start_byte, node.start_byte, f"MISSING {node.type}", owner)


def _collect(node: Node, sites: list) -> None:
    stack = [node]  # preorder with a stack of its own (see `_flatten`)
    while stack:
        node = stack.pop()
        if node.is_missing:
            sites.append(_missing(node))
        elif node.is_error:
            parts: list = []
            inner: list = []
            _flatten(node, parts, inner)
            sites.append(ErrorSite(node.start_byte, node.end_byte, ERROR, parts=tuple(parts)))
            sites.extend(inner)
        elif node.has_error:
            stack.extend(reversed([child for child in node.children if child.has_error or child.is_missing]))


def error_sites(tree: Tree) -> list[ErrorSite]:
    """All error sites of a tree, sorted by position."""
    root = tree.root_node
    if not root.has_error:
        return []
    sites: list[ErrorSite] = []
    _collect(root, sites)
    sites.sort(key=lambda s: (s.start, s.end))
    return sites


def overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    if a0 == a1 or b0 == b1:  # a point touches what contains it, ends included
        return a0 <= b1 and b0 <= a1
    return a0 < b1 and b0 < a1


def _blame(site: ErrorSite, lo: int, hi: int, after: int = -1) -> tuple[tuple[int, int], ...]:
    """Blame spans of `site` inside the middle [lo, hi], from offset `after` on."""
    if site.kind != ERROR:
        return ((site.start, site.start),) if lo <= site.start <= hi and site.start >= after else ()
    leaves = tuple(
        (s, e) for s, e, tag in site.parts if tag == "leaf" and s >= after and overlaps(s, e, lo, hi)
    )
    if leaves or after >= 0:
        return leaves
    s, e = max(site.start, lo), min(site.end, hi)
    return ((s, e),) if s < e else ()


def _mapped(before: list[ErrorSite], prefix: bytes, suffix: bytes, n: int) -> list[tuple[int, int, str]]:
    """Before sites as (start, end, role) in the bytes of a candidate whose middle is `n` bytes long,
    in the order of `before`.

    role: "span" (over the cursor), "left" / "right" (touching it across whitespace), "far".
    """
    p = len(prefix)
    left = len(prefix.rstrip())  # a site ending here or later touches the cursor across whitespace
    right = p + len(suffix) - len(suffix.lstrip())  # and one starting here or sooner
    mapped = []
    for b in before:
        if b.start < p < b.end:
            mapped.append((b.start, b.end + n, "span"))
        elif b.end <= p:
            mapped.append((b.start, b.end, "left" if b.end >= left else "far"))
        else:
            mapped.append((b.start + n, b.end + n, "right" if b.start <= right else "far"))
    return mapped


class _Explainers:
    """The mapped before sites, split for `_explain`: the few that touch the cursor, and an index of the
    others (span, far) that finds the first of them overlapping a candidate site in log time, so that a
    file with thousands of error sites is not judged in time quadratic in them."""

    def __init__(self, mapped: list[tuple[int, int, str]]) -> None:
        self.near = [(i, s, e, role) for i, (s, e, role) in enumerate(mapped) if role in ("left", "right")]
        self.points = [(s, i) for i, (s, e, role) in enumerate(mapped) if role in ("span", "far") and s == e]
        ranges = [(s, e, i) for i, (s, e, role) in enumerate(mapped) if role in ("span", "far") and s != e]
        self.starts = [s for s, _, _ in ranges]  # `mapped` is in start order, so these are sorted
        self.indices = [i for _, _, i in ranges]
        self.reach = list(itertools.accumulate((e for _, e, _ in ranges), max))  # furthest end so far

    def first_overlapping(self, a0: int, a1: int) -> int | None:
        """Index in `mapped` of the first span/far site that `overlaps` [a0, a1], if any."""
        found = []
        k = bisect.bisect_left(self.points, (a0, -1))
        if k < len(self.points) and self.points[k][0] <= a1:
            found.append(self.points[k][1])
        if a0 == a1:  # a point: any range around it, ends included
            bound, j = bisect.bisect_right(self.starts, a0), bisect.bisect_left(self.reach, a0)
        else:
            bound, j = bisect.bisect_left(self.starts, a1), bisect.bisect_right(self.reach, a0)
        if j < bound:
            found.append(self.indices[j])
        return min(found, default=None)


def broken_at_cursor(before: list[ErrorSite], prefix: bytes, suffix: bytes) -> bool:
    """Whether the before file `prefix + suffix` has an error site at the cursor: touching it across
    whitespace, or over it from the cursor's line (recovery often stretches an error from far above
    over the rest of the file; that one is not the hole's)."""
    line = prefix.rfind(b"\n") + 1
    return any(role in ("left", "right") or (role == "span" and start >= line)
               for start, _, role in _mapped(before, prefix, suffix, 0))


def introduced(
    before: list[ErrorSite], candidate: list[ErrorSite], prefix: bytes, middle: bytes, suffix: bytes
) -> list[Introduced]:
    """Candidate sites not explained by the before file (see module docstring)."""
    p, q = len(prefix), len(prefix) + len(middle)
    source = prefix + middle + suffix
    explainers = _Explainers(_mapped(before, prefix, suffix, len(middle)))
    out: list[Introduced] = []
    for c in candidate:
        after = _explain(c, explainers, p, q, source)
        if after is _EXPLAINED:
            continue
        spans = () if after == _PENDING else _blame(c, p, q, after)
        if after >= 0 and not spans and c.end == after and after < q:
            spans = _next_token(middle, after - p, p)  # a closed fragment, then junk
        if after == -1 or spans:
            out.append(Introduced(c, spans))
        elif pending := _blame(c, p, q, p):  # the middle only extends the user's fragment
            out.append(Introduced(c, pending, pending=True))
    return out


def _next_token(middle: bytes, i: int, base: int) -> tuple[tuple[int, int], ...]:
    j = len(middle) - len(middle[i:].lstrip())
    return ((base + j, base + j + 1),) if j < len(middle) else ()


def _unmatched_closer(c: ErrorSite, p: int, source: bytes) -> int | None:
    """Start of the first closing bracket in the middle that the fragment never opened."""
    stack: list[bytes] = []
    for s, e, tag in c.parts:
        if tag != "leaf":
            continue
        tok = source[s:e]
        if tok in (b"(", b"[", b"{"):
            stack.append(tok)
        elif tok in _CLOSERS:
            if stack and stack[-1] == _CLOSERS[tok]:
                stack.pop()
            elif s >= p:
                return s
    return None


def _middle_leads(c: ErrorSite, p: int, q: int) -> bool:
    """Whether an ERROR starts inside the middle with stray tokens of its own.

    The user's fragment right after the cursor is often broken only because the hole is empty
    (`y := ` + `\\n\\treturn y`: "return" is the error). Such an error, grown backwards over
    tokens of the middle (`y := )))` + ...), is the middle's fault, not the user's.
    """
    return p <= c.start < q and any(tag == "leaf" and s >= p and e <= q and s < e for s, e, tag in c.parts)


def _explain(c: ErrorSite, explainers: _Explainers, p: int, q: int, source: bytes) -> int | None:
    """_EXPLAINED, _PENDING (the user's open fragment goes on), or the offset blamed from (-1: all).

    The before sites are asked in their order: a span/far site overlapping `c` explains it, unless a
    site touching the cursor before it has decided already."""
    after = -1
    first_far = explainers.first_overlapping(c.start, c.end)
    for i, s, e, role in explainers.near:
        if first_far is not None and i > first_far:
            break
        if role == "right":  # the user's fragment after the cursor
            if c.kind != ERROR:
                if p <= c.start <= e:
                    return _EXPLAINED
            elif c.end >= q and overlaps(c.start, c.end, q, e) and not _middle_leads(c, p, q):
                return _EXPLAINED
        elif c.kind != ERROR:  # a token missing from a construct the user opened
            if c.owner < p and s <= c.start <= q:
                return _EXPLAINED
        elif c.start <= p and overlaps(c.start, c.end, s, p):  # the fragment before the cursor
            # goes on, unless the completion closed a subtree or a bracket it never opened
            closed = [pe for ps, pe, tag in c.parts if tag == "tree" and pe > p]
            cuts = closed[:1] + [x for x in (_unmatched_closer(c, p, source),) if x is not None]
            if not cuts:
                return _PENDING
            after = max(after, min(cuts))
    return _EXPLAINED if first_far is not None else after


class Validator:
    """Parses before/candidate files for one language and reports introduced errors.

    The before file's sites are cached per (prefix, suffix), and candidates are
    re-parsed incrementally: repeated calls during one completion stay cheap.
    Not thread-safe (owns a tree-sitter Parser).
    """

    def __init__(self, language: Language) -> None:
        self._parser = IncrementalParser(language)
        self._before_parser = IncrementalParser(language)
        self._key: tuple[bytes, bytes] | None = None
        self._before: list[ErrorSite] = []

    def before_sites(self, prefix: bytes, suffix: bytes) -> list[ErrorSite]:
        if self._key != (prefix, suffix):
            self._before = error_sites(self._before_parser.parse(prefix + suffix))
            self._key = (prefix, suffix)
        return self._before

    def parse(self, source: bytes) -> Tree:
        """The candidate parser's tree for `source` (incremental)."""
        return self._parser.parse(source)

    def check(self, prefix: bytes, middle: bytes, suffix: bytes) -> list[Introduced]:
        """Introduced (and pending) sites of `prefix + middle + suffix` (all UTF-8 bytes)."""
        tree = self._parser.parse(prefix + middle + suffix)
        if not tree.root_node.has_error:
            return []
        return introduced(self.before_sites(prefix, suffix), error_sites(tree), prefix, middle, suffix)


def introduced_errors(language: Language, prefix: str, middle: str, suffix: str) -> list[Introduced]:
    """One-shot form of `Validator.check` for text (offsets are candidate UTF-8 bytes)."""
    enc = "utf-8"
    return Validator(language).check(*(t.encode(enc, "replace") for t in (prefix, middle, suffix)))
