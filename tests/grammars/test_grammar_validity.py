"""Validity: errors the completion introduced, never the ones the file already had."""

import random

import pytest

from dllm_complete.grammars import constraint_for, language_for
from dllm_complete.grammars.validity import _Explainers, error_sites, introduced_errors, overlaps
from tree_sitter import Parser

# language id -> (prefix, good middle, known-broken middle, suffix); prefix + suffix parses cleanly
CASES = {
    "python": ("def add(a, b):\n    return ", "a + b", "a + ) b", "\n\nprint(add(1, 2))\n"),
    "javascript": ("function add(a, b) {\n  return ", "a + b;", "a + ) b;", "\n}\nconsole.log(add(1, 2));\n"),
    "javascriptreact": ("const App = (a) => {\n  return ", "<div>{a}</div>;", "<div>{a + }</div>;", "\n};\n"),
    "typescript": ("function add(a: number, b: number): number {\n  return ", "a + b;", "a + ) b;", "\n}\n"),
    "typescriptreact": ("const App = (a: number) => {\n  return ", "<div>{a}</div>;", "<div>{a = = 1}</div>;", "\n};\n"),
    "go": ("package main\n\nfunc add(a int, b int) int {\n\tx := 0\n\t", "x = a + b", "x = a + ) b", "\n\treturn x\n}\n"),
    "rust": ("fn add(a: i32, b: i32) -> i32 {\n    let mut x = 0;\n    ", "x = a + b;", "x = a + ) b;", "\n    x\n}\n"),
    "java": ("class A {\n  int add(int a, int b) {\n    int x = 0;\n    ", "x = a + b;", "x = a + ) b;", "\n    return x;\n  }\n}\n"),
    "c": ("int add(int a, int b) {\n  int x = 0;\n  ", "x = a + b;", "x = a + ) b;", "\n  return x;\n}\n"),
    "cpp": ("template <typename T>\nT add(T a, T b) {\n  T x{};\n  ", "x = a + b;", "x = a + ) b;", "\n  return x;\n}\n"),
}
# a line that is already broken, placed before the function in the prefix
BROKEN_LINE = {
    "python": "x = = 1\n", "javascript": "let y = = 1;\n", "javascriptreact": "let y = = 1;\n",
    "typescript": "let y = = 1;\n", "typescriptreact": "let y = = 1;\n", "go": "var y = = 1\n",
    "rust": "const Y: i32 = = 1;\n", "java": "", "c": "int y = = 1;\n", "cpp": "int y = = 1;\n",
}


def _sites(lang, text):
    return error_sites(Parser(language_for(lang).language).parse(text.encode()))


def _blamed_text(lang, prefix, middle, suffix):
    source = (prefix + middle + suffix).encode()
    found = constraint_for(lang).introduced(prefix, middle, suffix)
    return found, [source[s:e].decode() for item in found for s, e in item.spans]


@pytest.mark.parametrize("lang", sorted(CASES))
def test_known_good_and_broken_middles(lang):
    prefix, good, bad, suffix = CASES[lang]
    assert _sites(lang, prefix + suffix) == [], "precondition: the before file is clean"
    assert _sites(lang, prefix + good + suffix) == []
    assert constraint_for(lang).introduced(prefix, good, suffix) == []
    found, blamed = _blamed_text(lang, prefix, bad, suffix)
    assert found, f"{lang}: {bad!r} not flagged"
    p = len(prefix.encode())
    q = p + len(bad.encode())
    assert all(p <= s <= e <= q for item in found for s, e in item.spans)
    assert any(item.spans for item in found)  # something inside the middle to re-mask


@pytest.mark.parametrize("lang", sorted(k for k, v in BROKEN_LINE.items() if v))
def test_file_broken_before_the_cursor_gets_no_blame(lang):
    prefix, good, bad, suffix = CASES[lang]
    broken = prefix.replace("\n", "\n" + BROKEN_LINE[lang], 1) if lang == "go" else BROKEN_LINE[lang] + prefix
    assert _sites(lang, broken + suffix), "precondition: the before file is broken"
    assert constraint_for(lang).introduced(broken, good, suffix) == []
    assert constraint_for(lang).introduced(broken, "", suffix) == []


@pytest.mark.parametrize("lang", ["python", "javascript", "rust", "c"])
def test_new_errors_are_still_found_in_a_broken_file(lang):
    prefix, good, bad, suffix = CASES[lang]
    broken = BROKEN_LINE[lang] + prefix
    found, blamed = _blamed_text(lang, broken, bad, suffix)
    assert ")" in blamed


BROKEN_FILES = {
    "python": "import os\ndef f(a, b:\n    return a +\n\nclass A:\n    def g(self):\n        x = [1, 2\n",
    "javascript": "function f(a {\n  return a + ;\n}\nconst x = {a: 1,, b};\nif (x { y(); }\n",
    "go": "package main\nfunc f( {\n\treturn 1 +\n}\n",
    "cpp": "int f(int a {\n  return a + ;\n}\nstruct S { int x }\n",
}


@pytest.mark.parametrize("lang", sorted(BROKEN_FILES))
def test_empty_middle_never_introduces_anything(lang):
    """prefix + "" + suffix is the before file itself, at every cursor position."""
    text = BROKEN_FILES[lang]
    for cut in range(len(text) + 1):
        assert introduced_errors(language_for(lang).language, text[:cut], "", text[cut:]) == [], cut


def test_the_users_fragment_at_the_cursor_is_not_blamed_but_junk_after_it_is():
    _, blamed = _blamed_text("python", "print(foo(", "a)) + )", "\n")
    assert blamed == ["+", ")"]
    assert _blamed_text("python", "x = foo(", "a", "\n")[0] == []
    assert _blamed_text("python", "x = foo(", "a) b", "\n")[1] == ["b"]
    assert _blamed_text("python", "if x", " > 0", "\n    return 1\n")[0] == []
    assert _blamed_text("python", "def f(x):\n    return ", "x x", "\n")[1] == ["x"]


def test_missing_tokens_are_blamed_on_who_opened_the_construct():
    # the user opened "(", the completion has not closed it yet: not the completion's fault
    assert _blamed_text("javascript", "const x = foo(", "a, b", ";\n")[0] == []
    # the completion opened "(" and never closed it
    found, _ = _blamed_text("javascript", "function f() {\n  ", "if (x { y(); }", "\n}\n")
    assert [item.site.kind for item in found] == ["MISSING )"]
    # a junk closer inside the user's open fragment is blamed (java: `return` needs the `;`)
    _, blamed = _blamed_text("java", "class A {\n  int f(int a) {\n    return ", "a + ) b", "\n  }\n}\n")
    assert ")" in blamed


def test_offsets_are_utf8_bytes_with_non_ascii_text():
    ascii_prefix = "# cafe smile kanji\ns = 'e-s-k'\ndef f(x):\n    return "
    wide_prefix = "# café 😀 日本語\ns = 'é😀日'\ndef f(x):\n    return "
    middle, suffix = "x + ) ñ", "\n\nprint('ü')\n"
    for prefix in (ascii_prefix, wide_prefix):
        found, blamed = _blamed_text("python", prefix, middle, suffix)
        assert blamed == [")"]
        (s, e), = found[0].spans
        source = (prefix + middle + suffix).encode()
        assert source[s:e] == b")"
        assert s - len(prefix.encode()) == len("x + ".encode())


def test_the_explainer_index_finds_the_first_overlapping_site_as_a_scan_would():
    # `_explain` asks an index instead of scanning every before site (thousands in a broken file)
    rng = random.Random(0)
    for _ in range(300):
        mapped = sorted((s, s + rng.choice([0, 0, 1, 3, 20]), rng.choice(["far", "far", "span", "left"]))
                        for s in (rng.randrange(60) for _ in range(rng.randrange(12))))
        index = _Explainers(mapped)
        for _ in range(20):
            a0 = rng.randrange(70)
            a1 = a0 + rng.choice([0, 0, 1, 5])
            scan = next((i for i, (s, e, role) in enumerate(mapped)
                         if role in ("span", "far") and overlaps(a0, a1, s, e)), None)
            assert index.first_overlapping(a0, a1) == scan, (mapped, a0, a1)
