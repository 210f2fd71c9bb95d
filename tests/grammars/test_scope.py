"""The scope constraint (grammars/scope.py): names a Python completion uses that resolve to nothing,
through Python's scopes, `self` attributes and installed modules read without importing them."""

import subprocess
import sys

import pytest

from dllm_complete.grammars import constraint_for
from dllm_complete.grammars.languages import language_for
from dllm_complete.grammars.scope import ScopeConstraint, module_members

CLASS = "class A:\n    def __init__(self):\n        self.items = []\n\n    def f(self):\n        return "


@pytest.fixture(scope="module")
def scope():
    return ScopeConstraint(language_for("python").language)


@pytest.mark.parametrize("prefix, middle, suffix, names", [
    ("def f(s):\n    return ", "maxlen(s)", "\n", ["maxlen"]),  # no such function
    ("def f(xs):\n    for i in xs:\n        print(", "j)", "\n", ["j"]),  # only i is bound
    (CLASS, "self.xor", "\n", ["self.xor"]),  # no such attribute
    ("import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass P:\n    x: int\n    def f(self):\n        return ",
     "self.xx", "\n", ["self.xx"]),  # a dataclass adds only its fields, which its body shows
    ("def f(p):\n    return ", "(lambda z: z + w)(p)", "\n", ["w"]),
    ("def f(p):\n    try:\n        pass\n    except ValueError as e:\n        ", "print(e, err)", "\n", ["err"]),
    ("def f(p):\n    ", "x = [y for y in p]\n    return y", "\n", ["y"]),  # a comprehension's name stays in it
    ("import collections\nx = ", "collections.Counterr()", "\n", ["collections.Counterr"]),
    ("def g():\n    inner = 1\n\ndef f():\n    return ", "inner", "\n", ["inner"]),  # another function's local
    ("def f(x):\n", "    y = y.isalpha()", "\n    return y\n", ["y"]),  # a local read before it is bound
    ("def f(x):\n", "    e = [oprn]", "\n    for oprn in x:\n        pass\n", ["oprn"]),
])
def test_unresolved_names_are_found(scope, prefix, middle, suffix, names):
    assert [name for _, _, name in scope.unresolved(prefix, middle, suffix)] == names


@pytest.mark.parametrize("prefix, middle, suffix", [
    ("def f(s):\n    return ", "len(s) + max(s)", "\n"),  # builtins
    (CLASS, "self.items + self.f()", "\n"),  # attributes and methods of the class
    ("from typing import List\ndef f(p: List[int]):\n    ", "total = sum(p)\n    return total", "\n"),  # its own names
    ("def f(p):\n    return ", "helper(p)", "\n\ndef helper(q):\n    return q\n"),  # defined after the cursor
    ("class B(Base):\n    def f(self):\n        return ", "self.anything", "\n"),  # unknown base: not judged
    ("from os import *\ndef f():\n    return ", "whatever()", "\n"),  # star import: not judged
    ("import os\ndef f():\n    return ", "os.anything", "\n"),  # os star-imports posix: members unknown
    ("import math\ndef f():\n    return ", "math.anything", "\n"),  # no Python source: unknown
    ("def f(n):\n    if (m := n + 1) > 2:\n        ", "return m", "\n"),  # walrus
    ("def f(*args, key=None, **kw):\n    return ", "args, key, kw", "\n"),
    ("def f(x):\n    global G\n    ", "G = x\n    return G", "\n"),
    ("class C:\n    size = 3\n    double = ", "size * 2", "\n"),  # the class body sees its own names
    ("def f(x):\n    return ", "f'{y}'", "\n"),  # inside a string: not judged
    ("def f(x):\n    for i in x:\n        if i:\n            ", "print(last)", "\n        last = i\n"),  # a loop
    ("def f(x):\n    def g(n):\n        return ", "g(n - 1)", "\n    return g\n"),  # recursion
    ("def f(x):\n    y = 1\n    ", "y = y + 1", "\n"),
    # a class the file extends: its methods may use what only subclasses define (fontTools' DirectoryEntry)
    ("class Entry:\n    def read(self, f):\n        return ", "f.read(self.formatSize)",
     "\n\nclass SFNTEntry(Entry):\n    formatSize = 16\n"),
    ("class SizeMixin:\n    def size(self):\n        return ", "len(self.items)", "\n"),  # a mixin by name
    # attributes made where the class body does not show them
    ("class P:\n    def __init__(self, **kw):\n        self.__dict__.update(kw)\n    def f(self):\n        return ",
     "self.anything", "\n"),
    ("class P:\n    def __init__(self):\n        object.__setattr__(self, 'q', 1)\n    def f(self):\n        return ",
     "self.q", "\n"),
    ("def deco(c):\n    c.extra = 1\n    return c\n@deco\nclass P:\n    def f(self):\n        return ", "self.extra", "\n"),
    ("class Meta(type):\n    pass\nclass P(metaclass=Meta):\n    def f(self):\n        return ", "self.made", "\n"),
    ("class P:\n    def f(self):\n        return ", "self.late", "\n\nP.late = 3\n"),
    ("class P:\n    def f(self):\n        return ", "self.late", "\n\ndef setup():\n    P.late = 3\n"),  # in a body
])
def test_resolved_or_unknown_names_are_left_alone(scope, prefix, middle, suffix):
    assert scope.unresolved(prefix, middle, suffix) == []


def test_a_name_still_being_written_is_not_judged(scope):
    prefix = "def f(s):\n    return "
    assert scope.remask(prefix, ["max", None, None], "\n") == []  # `max...` may become anything
    assert scope.remask(prefix, ["max", "len", "(", None], "\n") == [0, 1]  # a call, still open: judged
    assert scope.remask(prefix, ["len", "(", "s", ")", ""], "\n") == []


def test_installed_modules_are_read_not_imported():
    members = module_members("json")
    assert {"dumps", "loads", "decoder"} <= members  # functions, and submodules of the package
    code = ("import sys\nfrom dllm_complete.grammars.scope import module_members\n"
            "assert 'dumps' not in module_members('colorsys')\nprint('colorsys' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_scope_joins_the_syntax_constraint_and_counts():
    combined = constraint_for("python", scope=True)
    prefix = "def f(s):\n    return "
    assert combined.remask(prefix, ["maxlen", "(", "s", ")", ""], "\n") == [0]
    assert combined.remask(prefix, ["len", "(", "s", ")", ""], "\n") == []
    assert combined.stats["scope_remasked"] == 1 and combined.stats["scope_checks"] == 2
    assert combined.finalize(prefix, "len(s)", "\n") == "len(s)"
    assert combined.finalize(prefix, "len(s) + maxlen(s)", "\n") == "len(s)"  # cut before the name, then
    assert combined.stats["scope_cut"] == 1  # back to valid text by the syntax constraint
    assert type(constraint_for("python")).__name__ == "SyntaxConstraint"  # off unless asked
    assert type(constraint_for("java", scope=True)).__name__ == "SyntaxConstraint"  # no scope check for Java


def test_names_beyond_the_judged_window_count(scope):
    # a long file: its imports are outside the text the constraint judges, not outside the file
    head = "import os\nfrom typing import Any\n\n\nclass Big:\n    def f(self):\n        self.kept = 1\n"
    filler = "".join(f"\ndef pad{i}(x):\n    return x + {i}\n" for i in range(400))
    prefix, suffix = head + filler + "\n\ndef g(y: Any):\n    return ", "\n"
    window = prefix[-2000:]
    window = window[window.index("\ndef ") + 1:]  # cut at a top-level line, as the judged text is
    assert [n for *_, n in scope.unresolved(window, "os.sep", suffix)] == ["os"]  # the window alone
    whole = ScopeConstraint(language_for("python").language, document=prefix + suffix)
    assert whole.unresolved(window, "os.sep", suffix) == []
    assert [n for *_, n in whole.unresolved(window, "osx.sep", suffix)] == ["osx"]


def test_suggestions_with_unresolved_names_rank_last():
    from dllm_complete.grammars.scope import resolved_first

    texts = ["maxlen(s)", "len(s)", "foo(s)", "max(s)"]
    check = ScopeConstraint(language_for("python").language)
    ranked = resolved_first(texts, "def f(s):\n    return ", "\n", check)
    assert ranked == ["len(s)", "max(s)", "maxlen(s)", "foo(s)"]  # stable within each group


def test_a_name_the_suffix_finishes_is_judged_whole(scope):
    # a span cut mid-word: the middle writes the start of a name the suffix ends
    assert [n for *_, n in scope.unresolved("def f(s):\n    return ", "maxl", "en(s)\n")] == ["maxlen"]
    assert scope.unresolved("def f(s):\n    return ", "le", "n(s)\n") == []


def test_names_a_module_makes_at_run_time_and_instance_dicts_resolve():
    # a generated protobuf module: its names come from globals() at import time
    document = "from x import _builder\n_builder.Build(DESCRIPTOR, globals())\nif True:\n  \n"
    check = ScopeConstraint(language_for("python").language, document)
    assert check.unresolved(document[:-1], "_MADE._end = 2", "\n") == []
    cls = "class A:\n    def __setstate__(self, state):\n        "
    assert ScopeConstraint(language_for("python").language).unresolved(cls, "self.__dict__.update(state)", "\n") == []


@pytest.mark.parametrize("document", [False, True])
def test_attributes_are_judged_with_the_whole_file_too(document):
    # with the file given, the judged window is the enclosing class; a base above it still counts
    prefix = ("class Base:\n    def g(self):\n        self.k = 1\n\n\nclass A(Base):\n    def __init__(self):\n"
              "        self.n = 0\n\n    def f(self):\n        return ")
    check = ScopeConstraint(language_for("python").language, prefix + "\n" if document else None)
    assert check.unresolved(prefix, "self.n + self.k + self.g()", "\n") == []
    assert [n for *_, n in check.unresolved(prefix, "self.m", "\n")] == ["self.m"]


@pytest.mark.parametrize("document", [False, True])
@pytest.mark.parametrize("prefix, middle, suffix", [
    ("def f(p):\n    match p:\n        case {'k': v, 'r': [a, *rest]}:\n            return ", "v, a, rest", "\n"),
    ("def f(p):\n    match p:\n        case Point(x=px) | Q(px as c):\n            return ", "px, c", "\n"),
    ("class A:\n    xs = [1, 2]\n    ys = ", "[x * 2 for x in xs]", "\n"),  # the first iterable: class scope
    ("def setup():\n    global CONFIG\n    CONFIG = 1\n\n\ndef f():\n    return ", "CONFIG", "\n"),
])
def test_names_bound_by_patterns_globals_and_class_iterables_resolve(document, prefix, middle, suffix):
    check = ScopeConstraint(language_for("python").language, prefix + suffix if document else None)
    assert check.unresolved(prefix, middle, suffix) == []


def test_a_class_body_name_inside_a_comprehension_element_is_still_unresolved(scope):
    # only the first iterable is evaluated in the class body; the element runs in the comprehension's scope
    prefix = "class A:\n    xs = [1, 2]\n    k = 3\n    ys = "
    assert [n for *_, n in scope.unresolved(prefix, "[x * k for x in xs]", "\n")] == ["k"]


def test_a_file_that_parses_badly_without_the_middle_still_gives_its_top_level_names():
    # the middle opens a docstring: without it, the rest of the file parses as a string (pytest's subtests.py)
    prefix = "def subtests(request) -> Subtes"
    middle, suffix = 'ts:\n    """Prov', 'ide subtests."""\n    return Subtests()\n\n\nclass Subtests:\n    """A "kind"."""\n'
    check = ScopeConstraint(language_for("python").language, prefix + suffix)
    assert check.unresolved(prefix, middle, suffix) == []


def test_a_file_too_long_to_read_per_request_goes_without_the_scope_check():
    from dllm_complete.grammars.constraint import SCOPE_DOCUMENT_CHARS, SyntaxConstraint

    short = "import os\n" + "x = 1\n" * 100
    assert not isinstance(constraint_for("python", scope=True, document=short), SyntaxConstraint)
    long = short * (SCOPE_DOCUMENT_CHARS // len(short) + 1)
    assert isinstance(constraint_for("python", scope=True, document=long), SyntaxConstraint)


def test_a_file_deeper_than_real_code_goes_unjudged():
    from dllm_complete.grammars.scope import MAX_DEPTH

    check = ScopeConstraint(language_for("python").language)
    shallow = "x = " + "f(" * 20 + "a" + ")" * 20 + "\n"
    deep = "x = " + "f(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH + "\n"  # each call is more than one level
    assert check.unresolved(shallow + "def g():\n    return ", "maxlen(1)", "\n") == [(0, 6, "maxlen")]
    assert check.unresolved(deep + "def g():\n    return ", "maxlen(1)", "\n") == []


def test_a_module_too_deep_for_pythons_parser_is_unknown(tmp_path, monkeypatch):
    (tmp_path / "deepmod.py").write_text("x = " + "a+" * 200_000 + "a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_members("deepmod") is None
