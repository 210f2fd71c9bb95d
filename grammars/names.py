"""Scope check for JavaScript/TypeScript, Go and Rust: names a completion uses that nothing defines.

The same protocol as the Python check (`scope.UnresolvedNames`): on the judged window parsed by
tree-sitter, every plain identifier the middle uses in a value position is looked up in the scopes
around it (blocks, functions, loops, match arms: any definition in an enclosing scope counts, before
or after the use), the file's top-level names (the whole document, through the grammar wheel's
`tags.scm`), the language's built-in names and, for Go, the package's other files beside `path`.
Definitions come from the wheels' `locals.scm` where they ship one (JavaScript, TypeScript) and from
this module's queries. Deliberately lenient, since a correct name re-masked is worse than a wrong one
kept: member names, types, labels, JSX tags, macro bodies and path roots (`a::b`, a crate or module)
are never judged, and a check that cannot know all names gives up (a classic JavaScript script, whose
globals come from other scripts; `with`; a Go dot import, or a Go file without its directory; below a
Rust glob import or an item-level macro).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Language, Node, Query, QueryCursor

from .languages import Grammar
from .parse import new_parser
from .scope import UnresolvedNames, walk

__all__ = ["NameCheck", "RULES"]

_ENC = "utf-8"

_JS_BUILTINS = """
Array ArrayBuffer AggregateError Atomics BigInt BigInt64Array BigUint64Array Boolean DataView Date Error EvalError
FinalizationRegistry Float32Array Float64Array Function Infinity Int8Array Int16Array Int32Array Intl Iterator JSON
Map Math NaN Number Object Promise Proxy RangeError ReferenceError Reflect RegExp Set SharedArrayBuffer String
Symbol SyntaxError TypeError URIError Uint8Array Uint8ClampedArray Uint16Array Uint32Array WeakMap WeakRef WeakSet
WebAssembly decodeURI decodeURIComponent encodeURI encodeURIComponent escape eval globalThis isFinite isNaN
parseFloat parseInt undefined unescape arguments await yield async let of get set static
AbortController AbortSignal Blob BroadcastChannel ByteLengthQueuingStrategy CompressionStream CountQueuingStrategy
Crypto CryptoKey CustomEvent DOMException DecompressionStream Event EventTarget File FileReader FormData Headers
MessageChannel MessageEvent MessagePort Performance PerformanceObserver ReadableStream Request Response
SubtleCrypto TextDecoder TextDecoderStream TextEncoder TextEncoderStream TransformStream URL URLSearchParams
WritableStream WebSocket Worker XMLHttpRequest atob btoa clearImmediate clearInterval clearTimeout console crypto
fetch performance queueMicrotask setImmediate setInterval setTimeout structuredClone reportError
Buffer __dirname __filename exports global module process require
window self document navigator location history localStorage sessionStorage screen alert confirm prompt
requestAnimationFrame cancelAnimationFrame requestIdleCallback cancelIdleCallback getComputedStyle matchMedia
customElements indexedDB caches frames parent top opener name devicePixelRatio innerWidth innerHeight
scrollX scrollY open close print postMessage addEventListener removeEventListener dispatchEvent Image Audio
Option Node NodeList Element Document DocumentFragment Range Selection ShadowRoot MutationObserver
IntersectionObserver ResizeObserver DOMParser XMLSerializer Notification Storage Path2D ImageData OffscreenCanvas
describe it test expect jest beforeEach afterEach beforeAll afterAll vi suite context before after
chai sinon assert __DEV__ React JSX
"""
# DOM and event classes are too many to list: HTMLInputElement, SVGElement, KeyboardEvent, CSSStyleSheet...
_JS_FAMILIES = re.compile(r"^(HTML|SVG|CSS|DOM|WebGL|Web|RTC|Media|Audio|Speech|IDB|XPath)\w*$|^\w+(Event|Element|Error)$")

_GO_BUILTINS = """
true false nil iota append cap clear close complex copy delete imag len make max min new panic print println
real recover bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64 rune string
uint uint8 uint16 uint32 uint64 uintptr any comparable _
"""

_RUST_BUILTINS = """
Some None Ok Err Box Vec String Option Result Self self super crate std core alloc drop
Clone Copy Send Sync Sized Unpin Drop Fn FnMut FnOnce From Into TryFrom TryInto AsRef AsMut Default Eq PartialEq
Ord PartialOrd Hash Debug Display Iterator IntoIterator DoubleEndedIterator ExactSizeIterator Extend
FromIterator ToOwned ToString
bool char str i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64
"""
# macros whose invocation inside a block defines no item the block's code could use
_RUST_PLAIN_MACROS = frozenset("""
println print eprintln eprint format format_args write writeln panic assert assert_eq assert_ne debug_assert
debug_assert_eq debug_assert_ne vec unreachable unimplemented todo dbg matches concat stringify include_str
include_bytes env option_env cfg line column file module_path compile_error trace debug info warn error
""".split())


@dataclass(frozen=True)
class Rules:
    """What one language's check needs: its scopes, definitions, uses and built-in names."""

    wheel: str  # the grammar wheel whose queries/ folder ships tags.scm (and maybe locals.scm)
    scopes: frozenset[str]  # node types that open a scope (the file's root always does)
    functions: frozenset[str]  # the scopes a hoisted definition (JavaScript `var`) binds in
    definitions: str  # query: @definition (a name), @pattern (every name in it), @use, @unknown
    references: frozenset[str]  # node types judged as a use of a name
    opaque: frozenset[str]  # nothing under these is judged (macro bodies, attributes, JSX tags)
    builtins: frozenset[str]


_JS_DEFINITIONS = """
(function_declaration name: (_) @definition)
(generator_function_declaration name: (_) @definition)
(function_expression name: (_) @definition)
(class_declaration name: (_) @definition)
(class name: (_) @definition)
(arrow_function parameter: (identifier) @definition)
(import_specifier name: (identifier) @definition)
(import_specifier alias: (identifier) @definition)
(namespace_import (identifier) @definition)
(import_clause (identifier) @definition)
(catch_clause parameter: (_) @pattern)
(for_in_statement left: (_) @pattern)
(variable_declarator name: (_) @pattern)
(with_statement) @unknown
"""
_TS_DEFINITIONS = _JS_DEFINITIONS + """
(required_parameter pattern: (_) @pattern)
(optional_parameter pattern: (_) @pattern)
(abstract_class_declaration name: (_) @definition)
(enum_declaration name: (_) @definition)
(internal_module name: (_) @definition)
(function_signature name: (_) @definition)
(import_alias (identifier) @definition)
"""
_JS_SCOPES = frozenset({"statement_block", "function_expression", "arrow_function", "function_declaration",
                        "generator_function_declaration", "generator_function", "method_definition", "class",
                        "class_declaration", "for_statement", "for_in_statement", "catch_clause",
                        "abstract_class_declaration", "internal_module"})
_JS_FUNCTIONS = frozenset({"function_expression", "arrow_function", "function_declaration",
                           "generator_function_declaration", "generator_function", "method_definition"})

RULES: dict[str, Rules] = {
    "javascript": Rules("tree_sitter_javascript", _JS_SCOPES, _JS_FUNCTIONS, _JS_DEFINITIONS + """
(formal_parameters (identifier) @definition)
(formal_parameters (_) @pattern)
""",
                        frozenset({"identifier", "shorthand_property_identifier"}),
                        frozenset({"export_clause", "nested_identifier"}),
                        frozenset(_JS_BUILTINS.split())),
    "go": Rules("tree_sitter_go", frozenset({
        "function_declaration", "method_declaration", "func_literal", "block", "for_statement", "if_statement",
        "expression_switch_statement", "type_switch_statement", "select_statement", "expression_case",
        "type_case", "communication_case", "default_case"}), frozenset(), """
(function_declaration name: (identifier) @definition)
(type_spec name: (_) @definition)
(type_alias name: (_) @definition)
(const_spec (identifier) @definition)
(var_spec (identifier) @definition)
(short_var_declaration left: (expression_list (identifier) @definition))
(range_clause left: (expression_list (identifier) @definition))
(receive_statement left: (expression_list (identifier) @definition))
(type_switch_statement alias: (expression_list (identifier) @definition))
(parameter_declaration name: (identifier) @definition)
(variadic_parameter_declaration name: (identifier) @definition)
(type_parameter_declaration name: (identifier) @definition)
(import_spec) @use
""", frozenset({"identifier"}), frozenset(), frozenset(_GO_BUILTINS.split())),
    "rust": Rules("tree_sitter_rust", frozenset({
        "block", "function_item", "closure_expression", "match_arm", "for_expression", "if_expression",
        "while_expression", "declaration_list", "impl_item", "trait_item", "mod_item"}), frozenset(), """
(function_item name: (identifier) @definition)
(function_signature_item name: (identifier) @definition)
(const_item name: (identifier) @definition)
(static_item name: (identifier) @definition)
(mod_item name: (identifier) @definition)
(struct_item name: (_) @definition)
(enum_item name: (_) @definition)
(union_item name: (_) @definition)
(type_item name: (_) @definition)
(trait_item name: (_) @definition)
(macro_definition name: (identifier) @definition)
(extern_crate_declaration name: (identifier) @definition)
(extern_crate_declaration alias: (identifier) @definition)
(const_parameter name: (identifier) @definition)
(let_declaration pattern: (_) @pattern)
(parameter pattern: (_) @pattern)
(closure_parameters) @pattern
(for_expression pattern: (_) @pattern)
(let_condition pattern: (_) @pattern)
(match_pattern) @pattern
(use_declaration argument: (_) @use)
(use_wildcard) @unknown
(source_file (macro_invocation) @unknown)
(declaration_list (macro_invocation) @unknown)
(block (expression_statement (macro_invocation) @unknown))
""", frozenset({"identifier"}), frozenset({"token_tree", "attribute_item", "inner_attribute_item",
                                          "macro_definition", "lifetime", "label", "use_declaration"}),
        frozenset(_RUST_BUILTINS.split())),
}
RULES["typescript"] = RULES["tsx"] = Rules("tree_sitter_typescript", RULES["javascript"].scopes,
                                           RULES["javascript"].functions, _TS_DEFINITIONS,
                                           RULES["javascript"].references, RULES["javascript"].opaque,
                                           RULES["javascript"].builtins)

_PATTERN_NAMES = ("identifier", "shorthand_property_identifier_pattern", "shorthand_field_identifier")
_JS_MODULE = re.compile(r"^\s*(import|export)\b|\brequire\s*\(|\bmodule\.exports\b|^\s*exports\.", re.M)
_JS_GLOBAL_COMMENT = re.compile(r"/\*\s*globals?\s+([^*]*)\*/")
_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_GO_PACKAGE = re.compile(rb"^\s*package\s+(\w+)", re.M)


@functools.cache
def _queries(name: str, language: Language) -> tuple[Query, Query | None, Query | None]:
    """This module's definition query, the wheel's locals.scm (its definitions) and tags.scm."""
    rules = RULES[name]
    module = importlib.import_module(rules.wheel)
    folder = Path(module.__file__).parent / "queries"

    def load(file: str) -> Query | None:
        try:
            return Query(language, (folder / file).read_text(encoding="utf-8"))
        except (OSError, ValueError, SyntaxError):  # no such query in this wheel, or not for this grammar
            return None

    return Query(language, rules.definitions), load("locals.scm"), load("tags.scm")


def _captures(query: Query | None, node: Node) -> dict[str, list[Node]]:
    return QueryCursor(query).captures(node) if query is not None else {}


class _Names:
    """Definitions per scope node of one parse, and the scopes whose names cannot all be known."""

    def __init__(self, name: str, language: Language, root: Node, source: bytes) -> None:
        self.rules, self.source = RULES[name], source
        self.defs: dict[int, set[str]] = {}
        self.open: set[int] = set()  # scopes where unknown names may be defined (glob import, macro)
        ours, local, _ = _queries(name, language)
        found = _captures(ours, root)
        for node in found.get("definition", []) + _captures(local, root).get("local.definition", []):
            self._bind(node, self.text(node))
        for node in found.get("pattern", []):
            for n in walk(node):
                if n.type in _PATTERN_NAMES:
                    self._bind(n, self.text(n))
        for node in found.get("use", []):
            self._imports(node)
        for node in found.get("unknown", []):
            if node.type != "macro_invocation" or self._defines_items(node):
                self.open.add(self.scope_of(node).id)

    def text(self, node: Node) -> str:
        return self.source[node.start_byte:node.end_byte].decode(_ENC, "replace")

    def scope_of(self, node: Node, functions: bool = False) -> Node:
        """The innermost scope strictly around `node` (with `functions`, only a function or the root)."""
        wanted = self.rules.functions if functions else self.rules.scopes
        scope = node.parent
        while scope is not None and scope.parent is not None and scope.type not in wanted:
            scope = scope.parent
        return scope if scope is not None else node

    def _bind(self, ident: Node, name: str) -> None:
        holder = ident.parent
        if holder is not None and holder.type in self.rules.scopes and holder.child_by_field_name("name") == ident:
            scope = self.scope_of(holder)  # a function's own name belongs to the scope around it
        else:
            hoisted = any(a.type == "variable_declaration" for a in _up_to_scope(ident, self.rules.scopes))
            scope = self.scope_of(ident, functions=hoisted)  # JavaScript `var` binds in the function
        self.defs.setdefault(scope.id, set()).add(name)

    def _imports(self, node: Node) -> None:
        scope = self.scope_of(node)
        if node.type == "import_spec":  # Go: the alias, or the path's last element
            alias = node.child_by_field_name("name")
            if alias is not None:
                if alias.type == "dot":
                    self.open.add(scope.id)
                elif alias.type != "blank_identifier":
                    self.defs.setdefault(scope.id, set()).add(self.text(alias))
                return
            path = self.text(node.child_by_field_name("path")).strip("\"`")
            last = re.sub(r"[.-]v\d+$", "", path.rsplit("/", 1)[-1])  # gopkg.in/yaml.v3, example.com/mod/v2
            if re.fullmatch(r"v\d+", last) and "/" in path:
                last = path.rsplit("/", 2)[-2]
            if not re.fullmatch(r"[A-Za-z_]\w*", last):  # go-foo, foo.bar: its package name is not known here
                self.open.add(scope.id)
            else:
                self.defs.setdefault(scope.id, set()).add(last)
            return
        for n in walk(node):  # Rust: what a `use` tree brings in
            if n.type == "use_as_clause":
                self.defs.setdefault(scope.id, set()).add(self.text(n.child_by_field_name("alias")))
            elif n.type == "identifier" and (n.parent is None or n.parent.type != "use_as_clause"):
                parent = n.parent
                if parent is not None and parent.type == "scoped_identifier" and parent.child_by_field_name("name") != n:
                    continue  # a path segment, not the imported name
                self.defs.setdefault(scope.id, set()).add(self.text(n))
            elif n.type == "self" and n.parent is not None and n.parent.type == "use_list":
                path = n.parent.parent.child_by_field_name("path") if n.parent.parent is not None else None
                if path is not None:  # `use std::io::{self, Read}` brings in `io`
                    self.defs.setdefault(scope.id, set()).add(self.text(path).rsplit("::", 1)[-1])

    def _defines_items(self, macro: Node) -> bool:
        """Whether a Rust macro invocation may define items the code around it uses."""
        name = self.text(macro.child_by_field_name("macro") or macro).rsplit("::", 1)[-1]
        return name not in _RUST_PLAIN_MACROS

    def resolves(self, name: str, node: Node) -> bool | None:
        """True if a scope around `node` defines `name`, None if one of them may without our knowing."""
        scope = node.parent
        while scope is not None:
            if scope.parent is None or scope.type in self.rules.scopes:
                if name in self.defs.get(scope.id, ()):
                    return True
                if scope.id in self.open:
                    return None
            scope = scope.parent
        return False


def _up_to_scope(node: Node, scopes: frozenset[str]):
    node = node.parent
    while node is not None and node.type not in scopes:
        yield node
        node = node.parent


class NameCheck(UnresolvedNames):
    """Unresolved names in a JavaScript, TypeScript, Go or Rust middle."""

    def __init__(self, grammar: Grammar, path: str | None = None, document: str | None = None) -> None:
        self.name, self.language = grammar.name, grammar.language
        self.rules = RULES[grammar.name]
        self._parser = new_parser(grammar.language)
        self._known = set(self.rules.builtins)
        self._document = document
        self._words = set(_WORD.findall(document)) if document is not None else set()
        self.off = False
        if document is not None:
            self._known |= self._file_names(document.encode(_ENC, "replace"))
        if grammar.name == "go":
            siblings = _package_names(path, grammar.language) if path else None
            if siblings is None:
                self.off = True  # a Go package's names are spread over the files of its directory
            else:
                self._known |= siblings
        if grammar.name in ("javascript", "typescript", "tsx") and document is not None:
            for names in _JS_GLOBAL_COMMENT.findall(document):  # eslint's /* global a, b */
                self._known |= {n.split(":")[0].strip() for n in names.split(",")}

    def _file_names(self, source: bytes) -> set[str]:
        """Names the whole file defines at its top level (and, through tags.scm, the definitions it tags)."""
        root = self._parser.parse(source).root_node
        names = _Names(self.name, self.language, root, source)
        if root.id in names.open:
            self.off = True
        _, _, tags = _queries(self.name, self.language)
        tagged = {names.text(n) for n in _captures(tags, root).get("name", [])}
        return names.defs.get(root.id, set()) | tagged

    def unresolved(self, prefix: str, middle: str, suffix: str, judge_until: int | None = None) -> list[tuple[int, int, str]]:
        if self.off:
            return []
        if self.name in ("javascript", "typescript", "tsx") and not _JS_MODULE.search(
                f"{self._document or prefix + suffix}\n{middle}"):
            return []  # a classic script: its globals come from the page's other scripts
        known = self._known
        if self._document is not None and not (self._document.startswith(prefix) and self._document.endswith(suffix)):
            known = known | self._words  # a window cut inside constructs it cannot see: any word of the file counts
        pre, mid = prefix.encode(_ENC, "replace"), middle.encode(_ENC, "replace")
        source = pre + mid + suffix.encode(_ENC, "replace")
        root = self._parser.parse(source).root_node
        names = _Names(self.name, self.language, root, source)
        lo, hi = len(pre), len(pre) + len(mid)
        until = hi if judge_until is None else lo + len(middle[:judge_until].encode(_ENC, "replace"))
        out = []
        for node in walk(root, lo, hi, skip=self.rules.opaque | {"ERROR"}):
            if node.type not in self.rules.references or node.end_byte >= until and judge_until is not None:
                continue
            name = names.text(node)
            if name in known or not self._is_use(node) or names.resolves(name, node) is not False:
                continue
            if self.name in ("javascript", "typescript", "tsx") and _JS_FAMILIES.match(name):
                continue
            out.append((max(node.start_byte, lo) - lo, min(node.end_byte, hi) - lo, name))
        return sorted(set(out))

    def _is_use(self, node: Node) -> bool:
        parent = node.parent
        if parent is None or parent.is_missing or any(a.type == "ERROR" for a in _ancestors(node)):
            return False
        if self.name == "rust":
            if parent.type in ("scoped_identifier", "scoped_type_identifier"):
                return False  # `a::b`, `T::Item`: a crate, module or type root, or a member of one
            if parent.type == "macro_invocation":
                return False
        if self.name == "go" and parent.type == "literal_element" and parent.parent is not None \
                and parent.parent.type == "keyed_element" and parent.parent.child_by_field_name("key") == parent:
            return False  # `T{Field: v}`: a struct field or a map key
        return parent.child_by_field_name("name") != node  # not a definition's own name


def _ancestors(node: Node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


@functools.lru_cache(maxsize=64)
def _package_files(folder: str, stamp: tuple) -> dict[str, frozenset[str]]:
    """Top-level names of each Go package in `folder` (by package clause), read from its files."""
    from .languages import language_for

    grammar = language_for("go")
    parser = new_parser(grammar.language)
    out: dict[str, set[str]] = {}
    for file, _ in stamp:
        try:
            source = (Path(folder) / file).read_bytes()
        except OSError:
            continue
        package = _GO_PACKAGE.search(source)
        root = parser.parse(source).root_node
        names = _Names("go", grammar.language, root, source)
        out.setdefault(package.group(1).decode() if package else "", set()).update(names.defs.get(root.id, set()))
    return {k: frozenset(v) for k, v in out.items()}


def _package_names(path: str, language: Language) -> set[str] | None:
    """Every top-level name the Go files in `path`'s directory define (any package there), or None when
    the directory cannot be read."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        stamp = tuple(sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(folder)
                             if e.name.endswith(".go") and e.is_file()))
    except OSError:
        return None
    return set().union(*_package_files(folder, stamp).values()) if stamp else set()
