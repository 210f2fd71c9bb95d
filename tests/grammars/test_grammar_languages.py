"""Language table: languageIds, suffixes, laziness, unsupported inputs."""

import dataclasses

import pytest
from tree_sitter import Parser

from dllm_complete.grammars import Grammar, language_for
from dllm_complete.grammars.languages import LANGUAGE_IDS, SUFFIXES, supported_names

LSP_IDS = {
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
}

HELLO = {
    "python": "def f(x):\n    return x\n",
    "javascript": "const f = (x) => <div>{x}</div>;\n",
    "typescript": "function f(x: number): number { return x; }\n",
    "tsx": "const f = (x: number) => <div>{x}</div>;\n",
    "go": "package main\n\nfunc f(x int) int { return x }\n",
    "rust": "fn f(x: i32) -> i32 { x }\n",
    "java": "class A { int f(int x) { return x; } }\n",
    "c": "int f(int x) { return x; }\n",
    "cpp": "template <typename T> T f(T x) { return x; }\n",
}


@pytest.mark.parametrize("language_id,name", sorted(LSP_IDS.items()))
def test_lsp_language_ids(language_id, name):
    grammar = language_for(language_id)
    assert isinstance(grammar, Grammar) and grammar.name == name


@pytest.mark.parametrize(
    "path,name",
    [("a.py", "python"), ("a.js", "javascript"), ("a.mjs", "javascript"), ("a.cjs", "javascript"),
     ("a.jsx", "javascript"), ("a.ts", "typescript"), ("a.tsx", "tsx"), ("a.go", "go"), ("a.rs", "rust"),
     ("A.java", "java"), ("a.c", "c"), ("a.h", "c"), ("a.cpp", "cpp"), ("a.cc", "cpp"), ("a.hpp", "cpp"),
     ("/x/y/Z.PY", "python")],
)
def test_suffixes(path, name):
    assert language_for(None, path).name == name


def test_id_wins_then_path_then_none():
    assert language_for("rust", "main.py").name == "rust"
    assert language_for("plaintext", "main.go").name == "go"
    assert language_for("plaintext") is None
    assert language_for(None, "README.md") is None
    assert language_for(None, None) is None
    assert language_for("", "") is None
    assert language_for(" Python ").name == "python"


def test_cached_and_frozen():
    assert language_for("python") is language_for(None, "x.py")
    with pytest.raises(dataclasses.FrozenInstanceError):
        language_for("python").name = "other"


def test_tables_only_name_known_grammars():
    assert set(LANGUAGE_IDS.values()) <= set(supported_names())
    with_grammar = {LANGUAGE_IDS[i] for i in SUFFIXES.values() if i in LANGUAGE_IDS}
    assert with_grammar == set(supported_names())  # every grammar is reached by some suffix


def test_one_suffix_table_for_documents_and_grammars():
    from dllm_complete.lsp_server.documents import document_language

    for suffix, language_id in SUFFIXES.items():
        assert document_language(None, f"file:///src/a{suffix}") == language_id
        grammar = language_for(None, f"a{suffix.upper()}")
        assert (grammar.name if grammar else None) == LANGUAGE_IDS.get(language_id)
    assert document_language("plaintext", "file:///notes/a.txt") == "plaintext"


@pytest.mark.parametrize("name", supported_names())
def test_every_grammar_parses_its_hello_world(name):
    grammar = language_for(name if name != "tsx" else "typescriptreact")
    tree = Parser(grammar.language).parse(HELLO[name].encode())
    assert not tree.root_node.has_error
