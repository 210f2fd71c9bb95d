"""Language table: LSP languageId and file suffix -> tree-sitter grammar.

Owns the mapping from what an editor says ("typescriptreact", "main.rs") to a
`tree_sitter.Language` built from the official per-language wheels. Grammars are
imported lazily on first use and cached. Knows nothing about parsing or errors.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Language

__all__ = ["Grammar", "language_for", "language_id_for_path", "supported_names", "LANGUAGE_IDS", "SUFFIXES"]


@dataclass(frozen=True)
class Grammar:
    """A supported language: canonical grammar name plus its tree-sitter Language."""

    name: str
    language: Language


# grammar name -> (wheel module, function returning the language capsule)
_WHEELS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),  # the grammar includes JSX
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}

# LSP languageId (plus a few common spellings) -> grammar name
LANGUAGE_IDS: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    # tolerated aliases
    "py": "python",
    "js": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "tsx": "tsx",
    "c++": "cpp",
    "cuda-cpp": "cpp",
}

# file suffix (lower case) -> LSP languageId: the one suffix table (the server's documents use it too;
# languages without a grammar here are named so that settings can refer to them)
SUFFIXES: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascriptreact",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp",
    ".cu": "cuda-cpp", ".cuh": "cuda-cpp",
    ".rb": "ruby", ".sh": "shellscript", ".lua": "lua",
}


def language_id_for_path(path: str) -> str | None:
    """The LSP languageId a file's suffix implies, or None."""
    return SUFFIXES.get(os.path.splitext(path)[1].lower())


def supported_names() -> tuple[str, ...]:
    """Canonical grammar names, in table order."""
    return tuple(_WHEELS)


@lru_cache(maxsize=None)
def _grammar(name: str) -> Grammar | None:
    module_name, attr = _WHEELS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:  # wheel not installed: the language is simply unsupported
        return None
    return Grammar(name, Language(getattr(module, attr)()))


def _name_for(language_id: str | None, path: str | None) -> str | None:
    if language_id:
        name = LANGUAGE_IDS.get(language_id.strip().lower())
        if name is not None:
            return name
    if path:
        return LANGUAGE_IDS.get(language_id_for_path(path) or "")
    return None


def language_for(language_id: str | None, path: str | None = None) -> Grammar | None:
    """The grammar for an LSP languageId, else for the path's suffix; None if unsupported."""
    name = _name_for(language_id, path)
    return None if name is None else _grammar(name)
