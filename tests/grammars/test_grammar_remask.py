"""SyntaxConstraint.remask: which committed canvas slots to re-mask."""

import random
import re

import pytest

from dllm_complete.grammars import SyntaxConstraint, constraint_for, language_for

PY_PREFIX = "def f(x):\n    return "
PY_SUFFIX = "\n\ndef g():\n    pass\n"


@pytest.fixture(scope="module")
def py():
    return constraint_for("python")


@pytest.mark.parametrize(
    "pieces,expected",
    [
        (["x", " +", " 1", "", ""], []),  # valid and ended
        (["x", " x", "", ""], [0]),  # `x x`: one of the pair
        (["x", " = =", " 3", "", ""], [0, 1]),
        ([")", ")", ")"], []),  # full canvas: judged once it ends (or by finalize)
        ([")", ")", ")", ""], [0, 1, 2, 3]),
        (["x", " +", "", ""], [0, 1, 2]),  # ended too early: the first padding slot too
        (["x", " +", None, None], []),  # the masked slots may still finish it
        (["x", " +"], []),  # full canvas: the engine may extend it
        ([None, " = =", " 3", ""], []),  # next to a masked slot
        (["x", " x", None, ""], []),  # right before the unknown: judged when it is filled
        (["x", " x", " +", None, ""], [0]),  # `x x` is broken whatever follows
        (["x", " +", "", None, " )"], []),  # after the first masked slot all is unknown
        ([None, None, None], []),
        ([], []),
        (["", "", ""], []),
    ],
)
def test_remask_indices(py, pieces, expected):
    assert py.remask(PY_PREFIX, pieces, PY_SUFFIX) == expected


def test_junk_after_a_closed_fragment(py):
    assert py.remask("print(foo(", ["a", ")", ")", " +", " )", ""], "\n") == [3, 4, 5]
    assert py.remask("x = foo(", ["a", ",", " b", "", ""], "\n") == []  # the user's "(" still open


def test_missing_closer_blames_the_token_in_its_place():
    js = constraint_for("javascript")
    pieces = ["if", " (", "x", " {", " y", "();", " }", ""]
    assert js.remask("function f() {\n  ", pieces, "\n}\n") == [3]
    pieces[3] = None  # masked: ")" may still come
    assert js.remask("function f() {\n  ", pieces, "\n}\n") == []


def test_python_layout_around_masked_lines(py):
    prefix, suffix = "def f(x):\n", "\nprint(1)\n"
    assert py.remask(prefix, ["    x = 1\n", None, "    return x\n", ""], suffix) == []
    assert py.remask(prefix, ["    if x:\n", None, "        return x\n", ""], suffix) == []


def test_file_already_broken_is_never_blamed(py):
    prefix = "import os\nx = = 1\ndef broken(:\n    pass\n\ndef f(x):\n    return "
    assert py.remask(prefix, ["x", " +", " 1", ""], PY_SUFFIX) == []
    assert py.remask(prefix, ["x", " +", " 1", None], PY_SUFFIX) == []
    assert 1 in py.remask(prefix, ["x", " )", " 1", ""], PY_SUFFIX)


def test_non_ascii_pieces_map_to_the_same_indices(py):
    wide = (["'é😀'", " +", " 日本", " )", ""], "# 日本語 😀\ns = 'ü'\ndef f(x):\n    return ")
    narrow = (["'ab'", " +", " cd", " )", ""], "# abc de\ns = 'u'\ndef f(x):\n    return ")
    for pieces, prefix in (wide, narrow):  # the stray ")" ends the middle: the padding too
        assert py.remask(prefix, pieces, "\n\nprint('ñ')\n") == [3, 4]


def test_always_invalid_pieces_converge_to_blame_not_crash(py):
    """An adversarial 'model' that always writes junk: every step returns committed junk."""
    rng = random.Random(0)
    junk = [")", "]", "}", " =", ":", ",", "\\", "'''", "@", "\x00", "\ud800", " )", "é)"]
    pieces: list[str | None] = [None] * 24 + [""] * 4
    for step in range(30):
        masked = [i for i, piece in enumerate(pieces) if piece is None]
        for i in rng.sample(masked, min(len(masked), rng.randint(1, 6))):
            pieces[i] = rng.choice(junk)
        out = py.remask(PY_PREFIX, pieces, PY_SUFFIX)
        assert out == sorted(set(out))
        assert all(pieces[i] is not None for i in out)
        for i in out:
            pieces[i] = None
    final = [")"] * 24 + [""] * 4
    assert set(range(24)) <= set(py.remask(PY_PREFIX, final, PY_SUFFIX))


@pytest.mark.parametrize("lang", ["python", "javascript", "typescriptreact", "go", "rust", "java", "c", "cpp"])
def test_random_pieces_keep_the_contract(lang):
    rng = random.Random(lang)
    vocab = ["x", " y", "(", ")", "{", "}", "[", "]", ";", ":", " =", " +", ",", "\n", "    ", "'", '"', "é", "😀",
             "<", ">", "/", "return", " if", "", None, None]
    constraint = constraint_for(lang)
    for _ in range(40):
        pieces = [rng.choice(vocab) for _ in range(rng.randint(0, 20))]
        out = constraint.remask("int main() {\n", pieces, "\n}\n")
        assert out == sorted(set(out))
        assert all(0 <= i < len(pieces) and pieces[i] is not None for i in out)


def test_remask_on_a_1000_token_file(py):
    body = "".join(
        f"def func_{i}(a, b, c=None):\n    x = a + b * {i}\n    if c is not None:\n        x -= c\n"
        f"    return [x, 'é😀', {{'k': x}}]\n\n" for i in range(40)
    )
    cut = body.index("def func_20")
    prefix, suffix = body[:cut] + "def target(a, b):\n    return ", "\n\n" + body[cut:]
    rng = random.Random(1)
    tokens = [" a", " +", " b", " *", " (", " )", " x", ".", "y", ",", " if", " else", " 1"]
    pieces = [rng.choice(tokens) for _ in range(48)] + [""] * 16
    py.remask(prefix, pieces, suffix)  # warm: the before file is parsed once per (prefix, suffix)
    for k in range(50):  # committed left to right, in random order, and all at once
        order = pieces[: k + 1] + [None] * (63 - k) if k % 2 else [t if rng.random() < 0.7 else None for t in pieces]
        order = order if k % 5 else pieces
        out = py.remask(prefix, order, suffix)
        assert all(0 <= i < len(order) and order[i] is not None for i in out)


def test_constructors():
    assert constraint_for("plaintext") is None
    assert constraint_for(None, "x.rs").name == "rust"
    raw = SyntaxConstraint(language_for("python").language)
    assert raw.remask(PY_PREFIX, [")", ""], PY_SUFFIX) == [0, 1]


# correct completions: no partial state on the way to them may be blamed
TRAJECTORIES = [
    ("python", "def f(xs):\n    total = 0\n    for x in xs:\n        ",
     "if x > 0:\n            total += x * 2\n        else:\n            total -= 1", "\n    return total\n"),
    ("python", "import os\n\ndef load(path):\n    ",
     "with open(path) as f:\n        data = f.read()\n    return [l.split(',') for l in data.splitlines()]",
     "\n\n\nclass Config:\n    pass\n"),
    ("python", "def f(a, b):\n    return max(a", ", b) + 1", "\n"),
    ("javascript", "function sum(xs) {\n  ", "let t = 0;\n  for (const x of xs) {\n    t += x;\n  }\n  return t;", "\n}\n"),
    ("typescriptreact", "export function L({ items }: { items: string[] }) {\n  const ul = 1;\n  ",
     "return <ul>\n    {items.map((i) => (\n      <li key={i}>{i}</li>\n    ))}\n  </ul>;", "\n}\n"),
    ("go", "package main\n\nimport \"fmt\"\n\nfunc main() {\n\t", "for i := 0; i < 10; i++ {\n\t\tfmt.Println(i * 2)\n\t}", "\n}\n"),
    ("rust", "fn main() {\n    let v = vec![1, 2, 3];\n    ",
     "let s: i32 = v.iter().map(|x| x * 2).sum();\n    println!(\"{}\", s);", "\n}\n"),
    ("java", "public class A {\n  static int f(int[] xs) {\n    ", "int t = 0;\n    for (int x : xs) {\n      t += x;\n    }\n    return t;", "\n  }\n}\n"),
    ("c", "#include <stdio.h>\nint main(void) {\n  ", "for (int i = 0; i < 10; i++) {\n    printf(\"%d\\n\", i);\n  }", "\n}\n"),
    ("cpp", "int f(const std::vector<int>& v) {\n  ", "int s = 0;\n  for (auto x : v) s += x;\n  return s;", "\n}\n"),
]


def _tokens(text):
    return re.findall(r"\s*(?:\w+|[^\w\s])|\s+", text)


@pytest.mark.parametrize("lang,prefix,middle,suffix", TRAJECTORIES)
def test_no_blame_on_the_way_to_a_correct_completion(lang, prefix, middle, suffix):
    constraint = constraint_for(lang)
    final = _tokens(middle) + [""] * 3
    assert "".join(final) == middle
    assert constraint.remask(prefix, final, suffix) == []
    rng = random.Random(lang + middle)
    for _ in range(4):
        order = rng.sample(range(len(final)), len(final))
        pieces: list[str | None] = [None] * len(final)
        for i in order:
            pieces[i] = final[i]
            assert constraint.remask(prefix, pieces, suffix) == [], pieces


@pytest.mark.parametrize("lang,prefix,middle,suffix", TRAJECTORIES)
def test_a_stray_closer_in_a_finished_completion_is_blamed(lang, prefix, middle, suffix):
    final = _tokens(middle) + [""] * 3
    final.insert(1, ")")
    blamed = constraint_for(lang).remask(prefix, final, suffix)
    assert blamed and all(final[i] is not None for i in blamed)


@pytest.mark.parametrize(
    "prefix,suffix,expected",
    [
        ("def f(x):\n    y = 1\n    ", "\n    return y\n", False),  # an empty line is fine
        ("def f(x):\n    return ", "\n", False),  # a bare return is fine
        ("print(foo(", "))\n", False),  # the closers are already there
        ("def f(x):\n    ", "\n\ndef g():\n    pass\n", True),  # an empty body
        ("x = (1, ", "\n", True),  # an open bracket
        ("x = = 1\n\ndef f():\n    ", "return 1\n", False),  # broken, but far from the cursor
    ],
)
def test_needs_text_python(py, prefix, suffix, expected):
    assert py.needs_text(prefix, suffix) is expected


def test_cpython_blames_a_finished_middle_tree_sitter_accepts(py):
    assert py.remask("x = 1\n", ["f", "()", " =", " 3", "\n", ""], "\n")  # cannot assign to a call
    assert py.remask("x = 1\n", ["f", "()", " =", " 3", None, None], "\n") == []  # judged once finished
    assert py.remask("f() = 0\n", ["y", " =", " 1", "\n", ""], "\n") == []  # the user's own error


def test_a_construct_the_middle_opens_is_the_middles():
    rust = constraint_for("rust")
    prefix, suffix = "fn f(x: i32) -> i32 {\n    let y = ", ";\n    y\n}\n"
    assert rust.introduced(prefix, "x +", suffix)  # `x +` misses its right operand
    assert rust.finalize(prefix, "x +", suffix) == "x"
