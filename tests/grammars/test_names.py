"""The scope check for JavaScript/TypeScript, Go and Rust (grammars/names.py) on real tree-sitter parses:
what it flags, what it must never flag, and where it gives up."""

import pytest

from dllm_complete.grammars import constraint_for
from dllm_complete.grammars.combined import scope_check
from dllm_complete.grammars.languages import language_for
from dllm_complete.grammars.scope import resolved_first


def flagged(language: str, text: str, path: str | None = None) -> list[str]:
    """Names the check flags in the middle marked <<...>> of `text`, the rest being the file."""
    prefix, rest = text.split("<<")
    middle, suffix = rest.split(">>")
    check = scope_check(language_for(language), path, prefix + suffix)
    return [name for *_, name in check.unresolved(prefix, middle, suffix)]


JS = """import { a as b } from "x";
import * as ns from "n";
export function f(p, { q, r: [s] }, ...t) {
  var v = 1;
  if (p) { var w = 2; let hidden = 3; }
  const g = (u) => u;
  try { g(1); } catch (e) {}
  return <<MIDDLE>>;
}
class K {}
"""


@pytest.mark.parametrize("middle, names", [
    ("b(p) + q + s + t[0] + v + w + g(ns.x) + new K()", []),  # imports, parameters, hoisted var, later class
    ("Math.max(1) + console.log(window.x) + new HTMLInputElement() + undefined", []),  # built-ins
    ("obj.anything + b.missing + {q, key: p}", ["obj"]),  # members never judged; shorthand is a use
    ("hidden + u + e", ["hidden", "u", "e"]),  # a let in a block, an arrow's and a catch's parameter
    ("maxlen(s)", ["maxlen"]),
])
def test_javascript(middle, names):
    assert flagged("javascript", JS.replace("MIDDLE", middle)) == names


def test_javascript_gives_up_where_names_come_from_elsewhere():
    script = "function f(p) {\n  return <<p + fromAnotherScript>>;\n}\n"  # no import / export / require
    assert flagged("javascript", script) == []
    assert flagged("javascript", "export function f(p) {\n  return <<p + nope>>;\n}\n") == ["nope"]
    assert flagged("javascript", "/* global fromPage */\nexport const x = <<fromPage>>;\n") == []
    assert flagged("javascript", "export function f(o) { with (o) { return <<anything>>; } }\n") == []


def test_typescript_parameters_enums_and_namespaces():
    text = """import type { T } from "./t";
export enum E { A }
namespace N { export const z = 1; }
export class C<G> {
  constructor(private k: number, o?: string) {}
  m(x: G, y?: T): number { return <<MIDDLE>>; }
}
"""
    assert flagged("typescript", text.replace("MIDDLE", "x + (y as any) + E.A + N.z + new C()")) == []
    assert flagged("typescript", text.replace("MIDDLE", "k + o + this.k")) == ["k", "o"]  # the constructor's own
    assert flagged("tsx", "import React from 'react';\nexport const App = () => <<(<Foo bar={baz} />)>>;\n") == ["baz"]


GO = """package main

import (
	f "fmt"
	"strings"
	yaml "gopkg.in/yaml.v3"
	"example.com/mod/v2"
)

type P struct{ X int }

func (p *P) Get(a, b int) (r int) {
	x := P{X: 1}
	for i, v := range []int{} {
		_ = i + v
	}
	<<MIDDLE>>
	return 0
}
"""


def test_go(tmp_path):
    (tmp_path / "other.go").write_text("package main\n\nfunc helper() int { return 1 }\n\nvar Global = 2\n")
    path = str(tmp_path / "main.go")

    def go(middle):
        return flagged("go", GO.replace("MIDDLE", middle), path)

    assert go('f.Println(strings.ToUpper("a"), x.X, a, b, r, p, len(x.Y), yaml.Marshal, mod.F)') == []
    assert go("_ = helper() + Global + P{X: 2}.X + int(iota) + nope") == ["nope"]  # the package's other files
    assert go("_ = i") == ["i"]  # the range variable is the loop's
    assert flagged("go", GO.replace("MIDDLE", "_ = nope")) == []  # no directory: the package is unknown


def test_go_dot_import_gives_up(tmp_path):
    text = 'package main\n\nimport . "strings"\n\nfunc g() string { return <<ToUpper("a")>> }\n'
    assert flagged("go", text, str(tmp_path / "main.go")) == []


RUST = """use std::collections::{HashMap, hash_map::Entry as E};
use std::io::{self, Read};

const K: usize = 3;

struct P { x: i32 }

fn f<T>(a: i32, (b, c): (i32, i32), v: Vec<T>, o: Option<i32>) -> i32 {
    let P { x } = P { x: 1 };
    let y = |z: i32| z + a;
    if let Some(w) = o {
        return <<MIDDLE>>;
    }
    0
}

fn helper(n: i32) -> i32 { n }
"""


@pytest.mark.parametrize("middle, names", [
    ("w + b + c + x + K as i32 + y(1) + helper(2) + v.len() as i32", []),
    ("HashMap::<i32, i32>::new().len() as i32 + E::x + io::stdin() + serde::anything() + String::new()", []),
    ('{ println!("{}", not_judged_in_macros); nope }', ["nope"]),
    ("z", ["z"]),  # the closure's parameter
])
def test_rust(middle, names):
    assert flagged("rust", RUST.replace("MIDDLE", middle)) == names


def test_rust_glob_imports_and_item_macros_give_up():
    text = "mod tests {\n    use super::*;\n    fn t() -> i32 { <<from_glob()>> }\n}\n"
    assert flagged("rust", text) == []
    outside = "mod tests {\n    use super::*;\n}\nfn t() -> i32 { <<nope()>> }\n"
    assert flagged("rust", outside) == ["nope"]  # the glob opens its own module only
    assert flagged("rust", "lazy_static! { static ref X: i32 = 1; }\nfn t() -> i32 { <<*X>> }\n") == []


def test_other_languages_join_the_syntax_constraint_and_rank(tmp_path):
    combined = constraint_for("javascript", scope=True, document="export const a = 1;\n")
    prefix = "export const a = 1;\nexport const b = "
    assert combined.remask(prefix, ["maxlen", "(", "a", ")", ";"], "\n") == [0]
    assert combined.finalize(prefix, "a + maxlen(a);", "\n") == "a"  # cut before the name, then valid again
    check = scope_check(language_for("rust"), None, "fn f(s: &str) -> usize {\n    \n}\n")
    ranked = resolved_first(["maxlen(s)", "s.len()"], "fn f(s: &str) -> usize {\n    ", "\n}\n", check)
    assert ranked == ["s.len()", "maxlen(s)"]


def test_what_a_review_found(tmp_path):
    ts = 'import fs = require("fs");\nexport enum E { A = 1, B = A * 2 }\nexport const x = <<fs.readFileSync("a")>>;\n'
    assert flagged("typescript", ts) == []  # an import-require binds; enum bodies are not judged
    gen = "export const g = function* walk(n) { yield* <<walk(n - 1)>>; };\n"
    assert flagged("javascript", gen) == []  # a named generator expression sees its own name
    path = str(tmp_path / "main.go")
    k8s = 'package main\n\nimport "k8s.io/api/core/v1"\n\nfunc f() { <<_ = v1.ResourceCPU>> }\n'
    assert flagged("go", k8s, path) == []  # the package is v1, not core
    jsoniter = 'package main\n\nimport "github.com/json-iterator/go"\n\nfunc f() { <<_ = jsoniter.Marshal>> }\n'
    assert flagged("go", jsoniter, path) == []  # a package need not be named after its path
    stdlib = 'package main\n\nimport "fmt"\n\nfunc f() { <<fmtt.Println(1)>> }\n'
    assert flagged("go", stdlib, path) == ["fmtt"]  # standard library names are certain
    rust_extern = 'extern "C" { fn abs(x: i32) -> i32; }\nfn f() -> i32 { unsafe { <<abs(-1)>> } }\n'
    assert flagged("rust", rust_extern) == []
    rust_macro = "fn f() -> i32 {\n    thread_local! { static X: i32 = 1; }\n    <<X.with(|x| *x)>>\n}\n"
    assert flagged("rust", rust_macro) == []


def test_a_window_without_the_file_flags_only_what_the_file_lacks():
    # the judged window starts below the file's imports: a name the file has anywhere counts
    document = "import { used } from 'lib';\n" + "// filler\n" * 50 + "export const a = \n"
    prefix = "export const a = "
    check = scope_check(language_for("javascript"), None, document)
    assert [n for *_, n in check.unresolved(prefix, "used + nowhere", "\n")] == ["nowhere"]


def test_the_per_statement_caches_keep_digests_and_a_bounded_number_of_names():
    # a keystroke adds the statement under the cursor again: 100 KB statements were kept as keys
    from dllm_complete.grammars import names

    body = "".join(f"  function f{i}() {{ return {i}; }}\n" for i in range(2000))
    for k in range(3):
        document = f"(function () {{\n{body}  const x{k} = 1;\n}})();\n"
        constraint_for("javascript", scope=True, document=document)
    keys = list(names._TAGGED.items)
    assert keys and all(len(key[2]) == 16 for key in keys)  # digests, not the statements' text
    cache = names._PerStatement(len, limit=3000)
    for k in range(3):
        cache.get(*_statement(f"const a{k} = 1, b{k} = 2;\n"), lambda: frozenset(range(2000)))
    assert cache.names <= 3000 and len(cache.items) == 1


def _statement(text):
    from dllm_complete.grammars.names import _Names
    from dllm_complete.grammars.parse import new_parser

    grammar = language_for("javascript")
    source = text.encode()
    root = new_parser(grammar.language).parse(source).root_node
    return _Names("javascript", grammar.language, root, source, span=(0, 0)), root.children[0]
