"""Scope: the names a Python completion uses that resolve to nothing, as slots to re-mask.

A second constraint beside the syntax one, with the same `remask` protocol: the engine learns
nothing about names. On the judged window (prefix + committed middle + suffix) parsed by
tree-sitter, every identifier the middle uses (not a definition, attribute name or keyword argument)
is resolved through Python's scopes: the enclosing functions, lambdas and comprehensions, the class
body it stands in directly, the module, builtins. Definitions the completion itself introduces count
(assignment and loop targets, parameters, imports, `def` / `class`, `as`, walrus, `global`). Attributes
are checked on two receivers only: `self` / `cls` inside a class whose bases are all defined in the
window (its methods, class attributes, `self.x = ...` anywhere in it and in those bases, and `P.x = ...`
anywhere in the file), and a module imported by the window, whose members are read from the installed
package's source with `ast` (never imported, never run). Anything unknown is never constrained: a star
import; a class with `__getattr__`, an unknown base, a metaclass, a decorator other than `dataclass`,
`setattr` or `self.__dict__` in its body, a subclass in the file or a `...Mixin` name (subclasses may
add what its methods use); a module without Python source, with a module `__getattr__`, or that makes
names at run time (`globals()[name] = ...`). Function and class bodies away from the middle are not
entered (nothing defined in them can resolve its names); their `global` names and `P.x = ...` are read
once per body text. A name still being written (the masked slots right after it) is not judged yet;
in a statement that does not parse yet only a plain call `name(` is.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.machinery
import keyword
import re
from pathlib import Path
from typing import Sequence

from tree_sitter import Language, Node

from .parse import IncrementalParser, document_tree, text_key
from .validity import overlaps

__all__ = ["ScopeConstraint", "UnresolvedNames", "module_members", "resolved_first", "walk"]

KNOWN = set(dir(builtins)) | set(keyword.kwlist) | set(keyword.softkwlist) | {
    "__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__", "__path__",
    "__class__", "__annotations__", "__dict__", "__qualname__", "__module__", "reveal_type"}
DYNAMIC = {"globals", "vars", "setattr", "exec"}  # a module calling one of these may make names at run time
DATACLASS = {"dataclass", "dataclasses.dataclass", "total_ordering", "functools.total_ordering"}  # add no attributes the body hides
COMPREHENSIONS = {"list_comprehension", "set_comprehension", "dictionary_comprehension", "generator_expression"}
SCOPES = {"module", "function_definition", "lambda", "class_definition"} | COMPREHENSIONS
TARGETS = {"assignment": "left", "augmented_assignment": "left", "for_statement": "left",
           "for_in_clause": "left", "named_expression": "name", "as_pattern_target": None}
PARAMETER_PARENTS = {"parameters", "lambda_parameters", "default_parameter", "typed_parameter",
                     "typed_default_parameter", "list_splat_pattern", "dictionary_splat_pattern"}
_ENC = "utf-8"
# each at a line start, found by its "\n" (a literal first is what lets `re` search fast) in "\n" + text
_TOP_NAME = re.compile(r"\n(?:(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_]\w*)|([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=))")
_GLOBAL = re.compile(r"\n[ \t]+global[ \t]+([A-Za-z_][\w \t,]*)$", re.M)
MAX_DEPTH = 1500  # syntax-tree levels; real code stays far below (a deeper file goes unjudged: `_Window._collect`)
_TOP_DEF = re.compile(r"^(?:async def |def |class |@)", re.M)  # a top-level definition starts this line
# a body's text digest -> what `_skipped` finds in it
_BODY_EFFECTS: dict[bytes, tuple[frozenset[str], frozenset[tuple[str, str]]]] = {}


@functools.cache
def module_members(dotted: str) -> frozenset[str] | None:
    """Top-level names of an installed module, read from its source without importing it (its
    submodules too, for a package); None when unknown (no Python source, a module `__getattr__`,
    a star import)."""
    path: list[str] | None = None
    spec = None
    parts = dotted.split(".")
    for i in range(len(parts)):
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:i + 1]), path)
        if spec is None:
            return None
        path = list(spec.submodule_search_locations or [])
    origin = spec.origin if spec else None
    if not origin or not origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):  # (too deep: unknown)
        return None
    names: set[str] = set()
    if any(isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names) for node in ast.walk(tree)):
        return None
    for node in _outside_functions(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DYNAMIC:
            return None  # names made at run time (`globals()[name] = ...`, as hashlib does)
    for node in _module_level(tree.body):  # and under module-level if / try (conditional definitions)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    if "__getattr__" in names:
        return None  # a module `__getattr__` answers any name
    for location in path or []:  # a package's submodules are its attributes once imported
        for child in Path(location).iterdir():
            if child.suffix == ".py" or (child / "__init__.py").is_file():
                names.add(child.stem if child.suffix == ".py" else child.name)
    return frozenset(names)


def _outside_functions(tree: ast.AST):
    """Every node that runs when the module is imported (function bodies left out)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _module_level(body: list[ast.stmt]):
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _module_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _module_level(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])


class _Window:
    """Definitions per scope node, imports and classes of one parse of the judged window."""

    def __init__(self, root: Node, source: bytes, outer: _Window | None = None, module_only: bool = False,
                 focus: tuple[int, int] | None = None) -> None:
        self.source, self.outer = source, outer  # outer: the whole file, where the window is a part of it
        self.module_only = module_only  # collect module-level names only (the whole file: no need to go deeper)
        self.focus = focus  # bytes whose names are judged: bodies away from them are not entered (`_skipped`)
        self.defs: dict[int, dict[str, int]] = {}  # scope node id -> name -> first byte where it is bound
        self.modules: dict[str, str] = {}  # local name -> dotted module (`import numpy as np`)
        self.classes: dict[str, Node] = {}
        self.set_on: dict[str, set[str]] = {}  # name -> attributes assigned on it (`P.late = 3`)
        self.star = outer is not None and outer.star
        self.root = root
        self._collect(root, root)
        if module_only:  # the file's text too: functions are not walked, and a file without the middle
            text = "\n" + source.decode(_ENC, "replace")  # may parse its tail as a string (a cut docstring)
            for defined, assigned in _TOP_NAME.findall(text):  # `def f`, `class C`, `X = ...` at column 0
                self.define(root, defined or assigned)
            for names in _GLOBAL.findall(text):  # `global x` in a function
                for name in names.split(","):
                    self.define(root, name.strip())
        if outer is not None:
            for name in outer.defs.get(outer.root.id, {}):
                self.define(root, name)
            self.modules = {**outer.modules, **self.modules}

    def text(self, node: Node) -> str:
        return self.source[node.start_byte:node.end_byte].decode(_ENC, "replace")

    def define(self, scope: Node, name: str, at: int = 0) -> None:
        names = self.defs.setdefault(scope.id, {})
        names[name] = min(names.get(name, at), at)

    def _collect(self, root: Node, outer: Node) -> None:
        stack = [(root, outer, 0)]  # preorder with a stack of its own: trees can be deeper than Python's
        while stack:                # recursion limit (five hundred chained calls)
            node, scope, depth = stack.pop()
            if depth > MAX_DEPTH:  # finding a node's scope costs its depth (`Node.parent` walks from the root)
                self.star = True   # and every name's: so deep a file is not judged
                return
            stack.extend((child, child_scope, depth + 1) for child, child_scope in reversed(self._visit(node, scope)))

    def _visit(self, node: Node, scope: Node) -> list[tuple[Node, Node]]:
        """Record what `node` defines; its children to visit, each with the scope it is in."""
        kind = node.type
        if kind in ("function_definition", "class_definition"):
            name = node.child_by_field_name("name")
            if name is not None:
                self.define(scope, self.text(name))
                if kind == "class_definition" and scope.type == "module":
                    self.classes[self.text(name)] = node
            if self.module_only:
                return []
        elif kind == "import_statement":
            for child in node.named_children:
                alias = child.child_by_field_name("alias") if child.type == "aliased_import" else None
                dotted = self.text(child.child_by_field_name("name") if alias is not None else child)
                local = self.text(alias) if alias is not None else dotted.split(".")[0]
                self.define(scope, local)
                self.modules[local] = dotted if alias is not None else local
        elif kind == "import_from_statement":
            module = node.child_by_field_name("module_name")
            for child in node.named_children:
                if child.type == "wildcard_import":
                    self.star = True
                elif child is not module and child.type in ("dotted_name", "aliased_import"):
                    alias = child.child_by_field_name("alias") if child.type == "aliased_import" else None
                    self.define(scope, self.text(alias if alias is not None else child).split(".")[0])
        elif kind in ("global_statement", "nonlocal_statement"):
            for child in node.named_children:
                self.define(scope, self.text(child))
                if kind == "global_statement":  # assigned here, it is a module name for every function
                    self.define(self.root, self.text(child))
        elif kind == "call" and scope.type == "module" and self.text(node.child_by_field_name("function") or node) in DYNAMIC:
            self.star = True  # module code that makes names at run time (`globals()[name] = ...`)
        elif kind == "identifier" and _is_target(node):
            self.define(_target_scope(node, scope), self.text(node), _bound_at(node))
        elif kind == "attribute" and (assigned := self._set_from_outside(node)) is not None:
            self.set_on.setdefault(assigned[0], set()).add(assigned[1])
        away = self._away(node)
        if away is not None:
            self._skipped(away)
            return [(child, scope) for child in node.children if child != away]
        if kind in SCOPES and node is not scope:
            if kind in ("function_definition", "lambda"):
                params = node.child_by_field_name("parameters")
                for ident in _identifiers(params):
                    if _is_parameter(ident):
                        self.define(node, self.text(ident))
            inner = node
        else:
            inner = scope
        children = []
        for child in node.children:
            if kind in ("function_definition", "lambda") and child.type in ("parameters", "lambda_parameters"):
                children += [(grandchild, scope) for grandchild in child.children]  # defaults, annotations: outer
                continue
            children.append((child, inner))
        return children

    def _set_from_outside(self, node: Node) -> tuple[str, str] | None:
        """(name, attribute) of `P.late = 3`, an attribute assigned on a plain name."""
        if not _is_target(node):
            return None
        obj, attr = node.child_by_field_name("object"), node.child_by_field_name("attribute")
        if obj is None or attr is None or obj.type != "identifier":
            return None
        return self.text(obj), self.text(attr)

    def _away(self, node: Node) -> Node | None:
        """The body of a function or class that lies away from the focus: the names defined in there can
        resolve nothing of the focus (the definition's own name is defined outside it)."""
        if self.focus is None or node.type not in ("function_definition", "class_definition"):
            return None
        body = node.child_by_field_name("body")
        return body if body is not None and not overlaps(body.start_byte, body.end_byte, *self.focus) else None

    def _skipped(self, body: Node) -> None:
        """What a body left unentered still gives the window: its `global` names and `P.x = ...`."""
        key = text_key(self.source, body)
        effects = _BODY_EFFECTS.get(key)
        if effects is None:
            globals_, set_on = set(), set()
            for n in walk(body):
                if n.type == "global_statement":
                    globals_.update(self.text(child) for child in n.named_children)
                elif n.type == "attribute" and (assigned := self._set_from_outside(n)) is not None:
                    set_on.add(assigned)
            if len(_BODY_EFFECTS) >= 4096:
                _BODY_EFFECTS.clear()
            effects = _BODY_EFFECTS[key] = (frozenset(globals_), frozenset(set_on))
        for name in effects[0]:
            self.define(self.root, name)
        for obj, attr in effects[1]:
            self.set_on.setdefault(obj, set()).add(attr)

    def resolves(self, name: str, node: Node) -> bool:
        """Whether `name`, used at `node`, is defined in a scope that encloses it (or is built in). In the
        function it is used in directly, a local bound only after the use (outside any loop) is not."""
        if name in KNOWN:
            return True
        scope, first, own = node.parent, True, True
        while scope is not None:
            if scope.type in COMPREHENSIONS and _in_first_iterable(node, scope):
                scope = scope.parent  # `[x for x in xs]` reads xs where the comprehension stands
                continue
            if scope.type in SCOPES and (scope.type != "class_definition" or first):
                bound = self.defs.get(scope.id, {}).get(name)
                if bound is not None:
                    local = own and scope.type in ("function_definition", "lambda")
                    return not (local and bound > node.start_byte and not _in_loop(node, scope))
                first = False if scope.type != "class_definition" else first
                own = False
            scope = scope.parent
        return False

    def _class_names(self, body: Node | None) -> set[str]:
        """Names a class body defines (methods, nested classes, class attributes), its methods not entered."""
        names: set[str] = set()
        stack = list(body.named_children) if body is not None else []
        while stack:
            node = stack.pop()
            if node.type in ("function_definition", "class_definition"):
                names.add(self.text(node.child_by_field_name("name")))
                continue
            if node.type == "identifier" and _is_target(node):
                names.add(self.text(node))
            stack.extend(node.named_children)
        return names

    def extended(self, name: str) -> bool:
        """Whether a class of the window or of the file names class `name` among its bases, or it is a
        mixin by name: its subclasses may add attributes its methods use."""
        if name.endswith("Mixin"):
            return True
        for window in (self, self.outer):
            for cls in (window.classes.values() if window is not None else ()):
                bases = cls.child_by_field_name("superclasses")
                if bases is not None and any(window.text(b) == name for b in bases.named_children):
                    return True
        return False

    def class_attributes(self, cls: Node, seen: frozenset = frozenset()) -> set[str] | None:
        """Names a `self` of this class has, or None when they cannot be known."""
        name = self.text(cls.child_by_field_name("name"))
        if name in seen:
            return None
        if cls.parent is not None and cls.parent.type == "decorated_definition" and any(
                self.text(d).lstrip("@").split("(")[0].strip() not in DATACLASS for d in cls.parent.children if d.type == "decorator"):
            return None  # a decorator may add attributes
        attrs: set[str] = set(dir(object)) | {"__dict__", "__weakref__"}
        bases = cls.child_by_field_name("superclasses")
        for base in (bases.named_children if bases is not None else []):
            base_name = self.text(base)
            if base.type == "keyword_argument":
                if self.text(base.child_by_field_name("name") or base) == "metaclass":
                    return None  # a metaclass may add attributes
                continue
            if base_name == "object":
                continue
            where = self if base_name in self.classes else self.outer  # a base above the judged window
            if where is None or base_name not in where.classes:
                return None  # an imported or dynamic base: unknown attributes
            inherited = where.class_attributes(where.classes[base_name], seen | {name})
            if inherited is None:
                return None
            attrs |= inherited
        own = self._own_attributes(cls, name)
        if own is not None and self.outer is not None and name in self.outer.classes:  # as the whole file has it
            whole = self.outer._own_attributes(self.outer.classes[name], name)
            own = None if whole is None else own | whole
        return None if own is None else attrs | own

    def _own_attributes(self, cls: Node, name: str) -> set[str] | None:
        """What the class itself gives its instances (its body's names, `self.x = ...`, `P.x = ...`), or
        None when it makes attributes at run time."""
        own = self._class_names(cls.child_by_field_name("body")) | self.set_on.get(name, set())
        for node in walk(cls.child_by_field_name("body")):
            if node.type == "attribute":
                obj, attr = node.child_by_field_name("object"), node.child_by_field_name("attribute")
                if obj is not None and attr is not None and self.text(obj) in ("self", "cls"):
                    if self.text(attr) == "__dict__":
                        return None  # `self.__dict__.update(...)`
                    if _is_target(node):
                        own.add(self.text(attr))
            elif node.type == "call":
                function = self.text(node.child_by_field_name("function") or node)
                if function == "vars" or "setattr" in function:  # setattr, object.__setattr__
                    return None
        return None if own & {"__getattr__", "__getattribute__", "__slots__", "__dict__"} else own


def walk(node: Node | None, lo: int = 0, hi: int | None = None, skip: frozenset[str] | set[str] = frozenset()):
    """Every node under `node`; with `hi`, only those overlapping bytes [lo, hi); none under a `skip` type."""
    if node is None:
        return
    stack = [node]
    while stack:
        n = stack.pop()
        if hi is not None and (n.end_byte <= lo or n.start_byte >= hi):
            continue
        yield n
        if n.type not in skip:
            stack.extend(n.children)


def _identifiers(node: Node | None):
    return [n for n in walk(node) if n.type == "identifier"]


def _is_parameter(ident: Node) -> bool:
    parent = ident.parent
    if parent is None or parent.type not in PARAMETER_PARENTS:
        return False
    if parent.type in ("default_parameter", "typed_default_parameter"):
        return parent.child_by_field_name("name") == ident
    if parent.type == "typed_parameter":
        return ident.prev_sibling is None or ident.prev_sibling.type in ("*", "**")
    return True


def _is_target(node: Node) -> bool:
    """Whether `node` (an identifier or attribute) is written to: an assignment / loop / `as` / walrus target,
    or a `case` capture."""
    child, parent = node, node.parent
    if (parent is not None and parent.type == "dotted_name" and parent.named_child_count == 1
            and parent.parent is not None and parent.parent.type in ("case_pattern", "keyword_pattern")):
        return True  # `case {"k": v}`, `case [x, *rest]`, `case w` (a dotted name is a value pattern)
    if parent is not None and parent.type == "as_pattern" and node.prev_sibling is not None and node.prev_sibling.type == "as":
        return True  # `case Q(x) as q`
    while parent is not None and parent.type in ("pattern_list", "tuple_pattern", "list_pattern", "list_splat_pattern",
                                                 "parenthesized_expression", "tuple", "list", "expression_list"):
        child, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type == "as_pattern_target" or parent.type.startswith("case") or parent.type in (
            "keyword_pattern", "splat_pattern", "dict_pattern", "class_pattern"):
        return parent.type != "class_pattern" or child != parent.children[0]
    field = TARGETS.get(parent.type)
    return field is not None and parent.child_by_field_name(field) == child


def _bound_at(ident: Node) -> int:
    """Where an assignment target is bound: after its statement's right side (`y = y + 1` uses the
    old `y`); a loop or `as` target at itself."""
    statement = ident.parent
    while statement is not None and statement.type not in ("assignment", "augmented_assignment", "named_expression",
                                                            "for_statement", "for_in_clause", "as_pattern_target"):
        statement = statement.parent
    if statement is None or statement.type in ("for_statement", "for_in_clause", "as_pattern_target"):
        return ident.end_byte
    return statement.end_byte


def _in_loop(node: Node, scope: Node) -> bool:
    """Whether `node` sits in a loop inside `scope` (a later binding may come from an earlier turn)."""
    return any(a.type in ("for_statement", "while_statement") for a in _ancestors(node) if a.start_byte >= scope.start_byte
               and a.end_byte <= scope.end_byte and a != scope)


def _in_first_iterable(node: Node, comprehension: Node) -> bool:
    """Whether `node` is in the iterable of the comprehension's first `for` clause."""
    clause = next((c for c in comprehension.named_children if c.type == "for_in_clause"), None)
    iterable = clause.child_by_field_name("right") if clause is not None else None
    return iterable is not None and iterable.start_byte <= node.start_byte and node.end_byte <= iterable.end_byte


def _target_scope(ident: Node, scope: Node) -> Node:
    """A comprehension's walrus target binds in the enclosing function, not the comprehension."""
    if ident.parent is not None and ident.parent.type == "named_expression":
        while scope.type in COMPREHENSIONS and scope.parent is not None:
            scope = scope.parent
            while scope.type not in SCOPES and scope.parent is not None:
                scope = scope.parent
    return scope


def _is_use(ident: Node) -> bool:
    parent = ident.parent
    if parent is None:
        return False
    if parent.type == "attribute" and parent.child_by_field_name("attribute") == ident:
        return False
    if parent.type == "keyword_argument" and parent.child_by_field_name("name") == ident:
        return False
    if parent.type in ("function_definition", "class_definition") and parent.child_by_field_name("name") == ident:
        return False
    if parent.type in ("dotted_name", "aliased_import", "global_statement", "nonlocal_statement",
                       "import_prefix", "relative_import"):
        return False
    if _is_parameter(ident) or _is_target(ident):
        return False
    if any(a.type == "string" for a in _ancestors(ident)):
        return False
    if parent.type == "ERROR":  # a half-written statement: only a plain call `name(` is surely a use
        before, after = ident.prev_sibling, ident.next_sibling
        return (after is not None and after.type == "(" and
                (before is None or before.type not in ("def", "class", ".", "import", "as", "for", "lambda", ",")))
    return not any(a.type == "ERROR" for a in _ancestors(ident))


def _ancestors(node: Node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


class UnresolvedNames:
    """The constraint protocol over `unresolved`, which each language's check defines: the committed
    pieces that hold a name resolving to nothing are re-masked; it never cuts nor needs text itself.
    `document`: the whole file without the middle, where the check was given one."""

    document: str | None = None
    _last: tuple = (None, [])  # the last judged text and its unresolved names

    def unresolved(self, prefix: str, middle: str, suffix: str,
                   judge_until: int | None = None) -> list[tuple[int, int, str]]:
        raise NotImplementedError

    def remask(self, prefix: str, pieces: Sequence[str | None], suffix: str) -> list[int]:
        """Indices of committed pieces that hold an unresolved name (the syntax constraint's protocol)."""
        known = next((i for i, p in enumerate(pieces) if p is None), len(pieces))
        middle = "".join(pieces[:known])
        open_end = known < len(pieces)  # masked slots follow: the last name may go on
        key = (prefix, middle, suffix, open_end)  # a step that committed only after a mask leaves it as it was
        if key != self._last[0]:
            self._last = key, self.unresolved(prefix, middle, suffix,
                                              len(middle.rstrip("".join(_IDENT))) if open_end else None)
        spans = self._last[1]
        if not spans:
            return []
        bytes_at, blamed, offset = [], set(), 0
        for p in pieces[:known]:
            n = len(p.encode(_ENC, "replace"))
            bytes_at.append((offset, offset + n))
            offset += n
        for start, end, _ in spans:
            blamed.update(i for i, (s, e) in enumerate(bytes_at) if s < end and start < e)
        return sorted(blamed)

    def finalize(self, prefix: str, middle: str, suffix: str) -> str:
        return middle

    def needs_text(self, prefix: str, suffix: str) -> bool:
        return False


class ScopeConstraint(UnresolvedNames):
    """Unresolved names in a Python middle (`remask`, through `UnresolvedNames`)."""

    def __init__(self, language: Language, document: str | None = None) -> None:
        """`document`: the whole file without the middle, where the judged text is only a window of it
        (its module names, imports and classes then count too)."""
        self._parser = IncrementalParser(language)  # successive texts differ in the middle only
        self._outer, self.document = None, document
        if document is not None:
            source = document.encode(_ENC, "replace")
            self._outer = _Window(document_tree(language, source).root_node, source, module_only=True)

    def unresolved(self, prefix: str, middle: str, suffix: str, judge_until: int | None = None) -> list[tuple[int, int, str]]:
        """(start, end, name) UTF-8 byte spans in `middle` of the names it uses that resolve to nothing;
        names ending at or after `judge_until` (a character offset in `middle`) are not judged yet."""
        if self._outer is not None:  # the file supplies module names: judge the cursor's top-level definition
            prefix, suffix = _enclosing(prefix, suffix)
        pre, mid = prefix.encode(_ENC, "replace"), middle.encode(_ENC, "replace")
        source = pre + mid + suffix.encode(_ENC, "replace")
        root = self._parser.parse(source).root_node
        lo, hi = len(pre), len(pre) + len(mid)
        window = _Window(root, source, self._outer, focus=(lo, hi))
        if window.star:
            return []
        until = hi if judge_until is None else lo + len(middle[:judge_until].encode(_ENC, "replace"))
        out = []
        for node in walk(root, lo, hi):
            if node.type == "identifier" and (judge_until is None or node.end_byte < until) and _is_use(node):
                name = window.text(node)
                if not window.resolves(name, node):
                    out.append((node.start_byte, node.end_byte, name))
            elif node.type == "attribute" and (judge_until is None or node.end_byte < until):
                bad = self._bad_attribute(window, node)
                if bad is not None:
                    out.append(bad)
        return sorted({(max(s, lo) - lo, min(e, hi) - lo, n) for s, e, n in out})

    def _bad_attribute(self, window: _Window, node: Node) -> tuple[int, int, str] | None:
        obj, attr = node.child_by_field_name("object"), node.child_by_field_name("attribute")
        if obj is None or attr is None or obj.type != "identifier" or _is_target(node):
            return None
        receiver, name = window.text(obj), window.text(attr)
        if receiver in ("self", "cls"):
            cls = next((a for a in _ancestors(node) if a.type == "class_definition"), None)
            name_node = cls.child_by_field_name("name") if cls is not None else None
            extended = name_node is None or window.extended(window.text(name_node))
            known = None if extended else window.class_attributes(cls)
        elif receiver in window.modules and window.resolves(receiver, obj):
            known = module_members(window.modules[receiver])
        else:
            return None
        if known is None or name in known:
            return None
        return attr.start_byte, attr.end_byte, f"{receiver}.{name}"


_IDENT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def _enclosing(prefix: str, suffix: str) -> tuple[str, str]:
    """The text of the top-level definition (function, class) the cursor is in, either side of it."""
    starts = [m.start() for m in _TOP_DEF.finditer(prefix)]
    after = suffix.find("\n") + 1
    end = _TOP_DEF.search(suffix, after) if after else None
    return prefix[starts[-1]:] if starts else prefix, suffix[:end.start()] if end else suffix


def resolved_first(texts: list[str], prefix: str, suffix: str, check: UnresolvedNames) -> list[str]:
    """`texts` (suggestions for the same cursor) with those that use an unresolved name moved last,
    the order otherwise kept."""
    if len(texts) < 2:
        return texts
    return sorted(texts, key=lambda text: bool(check.unresolved(prefix, text, suffix)))
