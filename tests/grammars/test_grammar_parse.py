"""Parsing: edit spans, incremental parse == fresh parse, offsets with non-ASCII text."""

import random
import zlib

import pytest

from dllm_complete.grammars import language_for
from dllm_complete.grammars.parse import IncrementalParser, byte_offset, char_offset, edit_span

SOURCES = {
    "python": "def f(x):\n    s = 'é😀日本'\n    return [x, s]\n\nclass A:\n    pass\n",
    "javascript": "function f(x) {\n  const s = 'é😀日本';\n  return [x, s];\n}\n",
    "rust": "fn f(x: i32) -> i32 {\n    let s = \"é😀日本\";\n    x + 1\n}\n",
    "cpp": "int f(int x) {\n  auto s = \"é😀日本\";\n  return x + 1;\n}\n",
}
POOL = ["x", " ", "\n", "(", ")", "{", "}", "[", "]", ":", ";", "'", '"', "é", "😀", "日本", "return ", "+ 1", "    ", ","]


def _shape(node, out):
    out.append((node.type, node.start_byte, node.end_byte, node.start_point, node.end_point,
                node.is_error, node.is_missing))
    for child in node.children:
        _shape(child, out)
    return out


def test_edit_span_is_the_minimal_single_edit():
    rng = random.Random(0)
    for _ in range(2000):
        a = bytes(rng.choice(b"ab") for _ in range(rng.randint(0, 10)))
        b = bytes(rng.choice(b"ab") for _ in range(rng.randint(0, 10)))
        s, old_end, new_end = edit_span(a, b)
        assert a[:s] == b[:s] and a[old_end:] == b[new_end:]
        assert s <= old_end and s <= new_end
        assert s == min(len(a), len(b)) or a[s] != b[s]
    long = b"x" * 10000
    assert edit_span(long, long[:5000] + b"yy" + long[5000:]) == (5000, 5000, 5002)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_incremental_parse_equals_fresh_parse(name):
    # tree-sitter's incremental reparse may recover from errors differently from a fresh parse, rarely:
    # 1-3 of 1,000 sequences of 60 random edits per language differ somewhere (seeds 0-999, measured
    # 2026-12-08); the seed is fixed (hash() of a str changes per process, which made this test flaky)
    rng = random.Random(zlib.crc32(name.encode()) % 1000)
    inc = IncrementalParser(language_for(name).language)
    text = SOURCES[name]
    inc.parse(text.encode())
    for _ in range(60):
        i = rng.randint(0, len(text))
        j = min(len(text), i + rng.choice([0, 0, 1, 3]))
        text = text[:i] + "".join(rng.choice(POOL) for _ in range(rng.randint(0, 3))) + text[j:]
        source = text.encode()
        incremental = inc.parse(source)
        fresh = inc.fresh(source)
        assert str(incremental.root_node) == str(fresh.root_node)
        assert _shape(incremental.root_node, []) == _shape(fresh.root_node, [])


def test_earlier_trees_are_not_edited_behind_the_callers_back():
    inc = IncrementalParser(language_for("python").language)
    first = inc.parse(b"x = 1\n")
    shape = _shape(first.root_node, [])
    inc.parse(b"x = 12345\ny = 2\n")
    assert _shape(first.root_node, []) == shape


def test_char_and_byte_offsets_with_non_ascii():
    text = "aé😀日b"
    assert [byte_offset(text, i) for i in range(len(text) + 1)] == [0, 1, 3, 7, 10, 11]
    for i in range(len(text) + 1):
        assert char_offset(text, byte_offset(text, i)) == i
    assert char_offset(text, 5) == 2  # inside the emoji: clamped to its start


def test_a_document_tree_is_the_fresh_parse_of_that_document():
    import argparse
    from pathlib import Path

    from dllm_complete.grammars.languages import language_for
    from dllm_complete.grammars.parse import document_tree, new_parser

    language = language_for("python").language
    text = Path(argparse.__file__).read_bytes()
    versions = [text, text[:5000] + b"x" + text[5000:], text[:5000] + b"def (" + text[5000:], b"x = 1\n", text]
    for source in versions:  # typing, a broken edit, another file, back again
        assert str(document_tree(language, source).root_node) == str(new_parser(language).parse(source).root_node)
