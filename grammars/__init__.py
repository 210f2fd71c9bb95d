"""Syntax side of dllm-complete: tree-sitter grammars, validity and truncation.

`languages` maps LSP languageIds / file suffixes to grammars, `parse` parses
(incrementally), `validity` finds the syntax errors a completion introduced (not
the ones the file already had), `constraint` turns them into canvas slots to
re-mask, `scope` does the same for Python names that resolve to nothing and `names` for
JavaScript/TypeScript, Go and Rust ones (`combined` joins them to the syntax check), and `truncate` cuts a finished completion to its longest valid prefix.
Never imports torch; `dllm` sees this package only through `SyntaxConstraint`.
"""

from .constraint import SyntaxConstraint, constraint_for
from .languages import Grammar, language_for, supported_names

__all__ = ["Grammar", "SyntaxConstraint", "constraint_for", "language_for", "supported_names"]
