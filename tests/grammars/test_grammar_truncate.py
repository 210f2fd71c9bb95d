"""SyntaxConstraint.finalize: syntax-aware truncation, CPython's verdict for Python."""

import pytest

from dllm_complete.grammars import constraint_for
from dllm_complete.grammars.truncate import python_error_offset


@pytest.fixture(scope="module")
def py():
    return constraint_for("python")


def test_valid_middle_is_kept_whole(py):
    middle = "a, b)\nprint(x)\n"
    assert py.finalize("x = foo(", middle, "\n") == middle
    assert py.finalize("x = ", "   \n", "\n") == "   \n"  # whitespace only: nothing to judge
    assert py.finalize("x = ", "", "\n") == ""


def test_multi_line_cut_at_the_last_valid_line(py):
    assert py.finalize("x = foo(", "a, b)\nprint(x)\ny = (", "\n") == "a, b)\nprint(x)"
    assert py.finalize("def f():\n    ", "return 1\n    return (\n    z", "\n") == "return 1"


def test_first_line_cut_at_a_token(py):
    assert py.finalize("def f(x):\n    return ", "x + 1)", "\n") == "x + 1"
    js = constraint_for("javascript")
    assert js.finalize("const y = ", "f(1, 2));", "\n") == "f(1, 2)"


def test_nothing_valid_gives_empty(py):
    assert py.finalize("def f(x):\n    return ", ")))", "\n") == ""


def test_python_verdict_uses_cpython(py):
    # tree-sitter-python accepts both; CPython rejects them
    assert py.finalize("", "return 1", "\n") == ""
    assert py.finalize("x = 1\n", "y = 2\nf() = 3", "\n") == "y = 2"
    # the file did not compile before (far away): the middle is judged relative to it
    prefix = "f() = 0\n\ndef g():\n    "
    assert py.finalize(prefix, "return 1", "\n") == "return 1"
    assert py.finalize("def g():\n    ", "y = 1\n    del f()", "\n\nf() = 0\n") == "y = 1"


def test_python_error_offset_is_in_characters():
    assert python_error_offset("x = 1\n") is None
    text = "é😀 = 1\ny = = 2\n"
    assert text[python_error_offset(text)] == "😀"  # "é" is a valid identifier character
    text = "s = 'é😀日'\ny = = 2\n"
    assert text[python_error_offset(text):].startswith("= 2")


def test_the_users_open_fragment_may_stay_open(py):
    # the user typed "foo(": continuing without closing is no new error
    assert py.finalize("x = foo(", "a, b", "\n") == "a, b"


def test_clean_cuts_win_over_cuts_that_extend_a_broken_fragment():
    java = constraint_for("java")
    prefix, suffix = "class A {\n  int f(int a, int b) {\n    return ", "\n  }\n}\n"
    assert java.finalize(prefix, "a + b;", suffix) == "a + b;"
    assert java.finalize(prefix, "a = = b", suffix) == "a"
    assert java.finalize(prefix, "a + ) b", suffix) == "a"


def test_non_ascii_truncation_returns_a_str_prefix(py):
    middle = "'é😀' + '日本'\nprint('ü')\nz = (("
    assert py.finalize("def f():\n    return ", middle, "\n") == "'é😀' + '日本'\nprint('ü')"
    assert py.finalize("s = ", "'日本' + 😀", "\n") == "'日本'"


@pytest.mark.parametrize(
    "lang,prefix,middle,suffix,expected",
    [
        ("go", "package main\n\nfunc f() int {\n\t", "x := 1\n\treturn x +", "\n}\n", "x := 1"),
        ("rust", "fn f() -> i32 {\n    ", "let x = 1;\n    x ++ )", "\n}\n", "let x = 1;"),
        ("c", "int f(void) {\n  ", "int x = 1;\n  return x + );", "\n}\n", "int x = 1;"),
        ("cpp", "int f() {\n  ", "auto x = 1;\n  return x + );", "\n}\n", "auto x = 1;"),
        ("typescript", "function f(): number {\n  ", "const x = 1;\n  return x + );", "\n}\n", "const x = 1;"),
        ("typescriptreact", "const A = () => (\n  ", "<div>\n    <b>hi</b>\n  </div>", "\n);\n", "<div>\n    <b>hi</b>\n  </div>"),
    ],
)
def test_truncation_in_other_languages(lang, prefix, middle, suffix, expected):
    assert constraint_for(lang).finalize(prefix, middle, suffix) == expected
