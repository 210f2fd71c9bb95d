"""The syntax and scope constraints as one `dllm.contract.Constraint`.

Re-masks what either rejects. A finished completion, once cut back by the syntax constraint as any
completion is, that still uses a name that resolves to nothing (the model's next choices were no
better, or the step cap came first) is cut before that name and cut back again; the syntax constraint alone judges the file
at the cursor. Counts what the scope check added, the completions it cut and the time it took
(`stats`), which the CLI's `--json`, the language server's stats and the benchmarks report.
"""

from __future__ import annotations

import time
from typing import Sequence

from .constraint import SyntaxConstraint
from .languages import Grammar
from .scope import ScopeConstraint, UnresolvedNames


def scope_check(grammar: Grammar, path: str | None = None, document: str | None = None) -> UnresolvedNames | None:
    """The scope check for a language (Python: `scope.ScopeConstraint`; JavaScript, TypeScript, Go, Rust:
    `names.NameCheck`), or None where there is none."""
    if grammar.name == "python":
        return ScopeConstraint(grammar.language, document)
    from .names import RULES, NameCheck

    return NameCheck(grammar, path, document) if grammar.name in RULES else None


class Combined:
    def __init__(self, syntax: SyntaxConstraint, scope: UnresolvedNames) -> None:
        self.syntax, self.scope = syntax, scope
        self.scope_remasked, self.scope_checks, self.scope_cut, self.scope_ms = 0, 0, 0, 0.0

    def remask(self, prefix: str, pieces: Sequence[str | None], suffix: str) -> list[int]:
        bad = set(self.syntax.remask(prefix, pieces, suffix))
        t0 = time.perf_counter()
        unresolved = set(self.scope.remask(prefix, pieces, suffix)) - bad
        self.scope_ms += (time.perf_counter() - t0) * 1e3
        self.scope_checks += 1
        self.scope_remasked += len(unresolved)
        return sorted(bad | unresolved)

    def finalize(self, prefix: str, middle: str, suffix: str) -> str:
        middle = self.syntax.finalize(prefix, middle, suffix)  # first: its cut may join a name to the suffix
        t0 = time.perf_counter()
        unresolved = self.scope.unresolved(prefix, middle, suffix)
        self.scope_ms += (time.perf_counter() - t0) * 1e3
        if not unresolved:
            return middle
        self.scope_cut += 1
        cut = middle.encode("utf-8", "replace")[:unresolved[0][0]].decode("utf-8", "replace")
        return self.syntax.finalize(prefix, cut, suffix)

    def needs_text(self, prefix: str, suffix: str) -> bool:
        return self.syntax.needs_text(prefix, suffix)

    @property
    def stats(self) -> dict:
        return {"scope_remasked": self.scope_remasked, "scope_checks": self.scope_checks,
                "scope_cut": self.scope_cut, "scope_ms": round(self.scope_ms, 3)}
