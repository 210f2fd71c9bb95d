"""Build the JavaScript / Go / Rust infilling hole sets (bench/data/holes-<lang>.jsonl). One-off.

This is the only step that touches the network, and only package registries through their ordinary
clients: `npm pack` for the npm packages and `apt-get download` for the Debian packages, all pinned
to the versions below. The benchmark itself (bench/syntax.py) reads the committed jsonl files.

    python bench/data/make_holes.py                    # download into a temp dir, write the files
    python bench/data/make_holes.py --cache /tmp/src   # keep / reuse the downloaded archives

How a hole is cut (deterministic for a given --seed, default 0):
* Source files: the package's own sources (no tests, no bundled/minified builds), ASCII only (so
  that byte and character offsets agree), that tree-sitter parses without any ERROR/MISSING node.
* Packages take turns; a file is drawn at random from the package; the hole kind alternates:
  - "line":  one code line (not a comment, 8..120 characters, with a letter or digit in it). The
    cursor is after the line's indentation, the middle is the rest of the line without its newline
    (completion mode "single").
  - "block": a named syntax node (not a comment) of 2..8 whole lines and at most 400 characters, the
    only thing on its lines. The middle is those lines from the line start, with the final newline
    (mode "multi"), as in HumanEval's line-level infilling.
* A hole needs at least 100 non-blank characters of prefix (not the first lines of a file).
* Context is trimmed to about 2,000 characters on each side: the prefix begins at the first top-level
  item starting within 2,000 characters before the hole (else at a line start), the suffix ends at
  the last top-level item ending within 2,000 characters after it (else at a line end). A trim
  inside an item leaves the context broken, as a real half-visible file is; `context_errors` says
  whether the file with the reference middle has syntax errors.
Each record: id, language, kind, mode, prefix, middle, suffix, package, version, licence, registry,
path (inside the package), line (1-based line of the hole), context_errors.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Language, Node, Parser

OUT_DIR = Path(__file__).resolve().parent
CONTEXT_CHARS = 2000
MIN_PREFIX_CHARS = 100
HOLES_PER_LANGUAGE = 60
KINDS = ("line", "block")


@dataclass(frozen=True)
class Package:
    language: str
    registry: str  # "npm" or "debian"
    name: str
    version: str
    licence: str
    root: str  # folder of the sources inside the extracted archive
    include: tuple[str, ...]  # glob patterns relative to root
    exclude: tuple[str, ...] = ()  # substrings of the relative path to skip


PACKAGES = (
    Package("javascript", "npm", "lodash", "4.17.21", "MIT", "package", ("*.js",),
            ("lodash.js", "core.js", "lodash.min.js", "core.min.js", "fp.js")),
    Package("javascript", "npm", "express", "4.21.2", "MIT", "package", ("lib/**/*.js", "index.js")),
    Package("go", "debian", "golang-github-spf13-cobra-dev", "1.6.1-1", "Apache-2.0",
            "usr/share/gocode/src/github.com/spf13/cobra", ("**/*.go",), ("_test.go",)),
    Package("go", "debian", "golang-github-google-go-cmp-dev", "0.5.9-1", "BSD-3-Clause",
            "usr/share/gocode/src/github.com/google/go-cmp", ("**/*.go",), ("_test.go",)),
    Package("go", "debian", "golang-github-pkg-errors-dev", "0.9.1-2", "BSD-2-Clause",
            "usr/share/gocode/src/github.com/pkg/errors", ("**/*.go",), ("_test.go",)),
    Package("rust", "debian", "librust-anyhow-dev", "1.0.69-1", "MIT OR Apache-2.0",
            "usr/share/cargo/registry/anyhow-1.0.69", ("src/**/*.rs",)),
    Package("rust", "debian", "librust-semver-dev", "1.0.14-1", "MIT OR Apache-2.0",
            "usr/share/cargo/registry/semver-1.0.14", ("src/**/*.rs",)),
    Package("rust", "debian", "librust-either-dev", "1.6.1-1", "MIT OR Apache-2.0",
            "usr/share/cargo/registry/either-1.6.1", ("src/**/*.rs",)),
)

SHORT = {"javascript": "js", "go": "go", "rust": "rs"}


def grammar(language: str) -> Language:
    import tree_sitter_go
    import tree_sitter_javascript
    import tree_sitter_rust

    module = {"javascript": tree_sitter_javascript, "go": tree_sitter_go, "rust": tree_sitter_rust}[language]
    return Language(module.language())


# ------------------------------------------------------------------------------------- fetching


def fetch(pkg: Package, cache: Path) -> Path:
    """Download (once) and extract the package; the folder holding its sources."""
    dest = cache / f"{pkg.name}-{pkg.version}"
    if not dest.is_dir():
        tmp = cache / f".{pkg.name}-{pkg.version}.part"
        tmp.mkdir(parents=True, exist_ok=True)
        if pkg.registry == "npm":
            subprocess.run(["npm", "pack", "--silent", f"{pkg.name}@{pkg.version}"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            (archive,) = tmp.glob("*.tgz")
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):  # 3.11.4+: refuse odd members
                    tar.extractall(dest, filter="data")
                else:
                    tar.extractall(dest)
        else:
            subprocess.run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            (archive,) = tmp.glob("*.deb")
            subprocess.run(["dpkg", "-x", str(archive), str(dest)], check=True)
        shutil.rmtree(tmp)
    return dest / pkg.root


def source_files(pkg: Package, root: Path, parser: Parser) -> list[tuple[str, str]]:
    """(path inside the package, text) of every clean source file, sorted by path."""
    paths = sorted({p for pattern in pkg.include for p in root.glob(pattern) if p.is_file()})
    out = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if any(x in rel for x in pkg.exclude) or rel.endswith(".min.js"):
            continue
        text = path.read_text(encoding="utf-8", errors="strict")
        if "\r" in text or not text.strip():
            continue
        if parser.parse(text.encode()).root_node.has_error:
            continue
        out.append((f"{pkg.root}/{rel}", text))
    return out


# -------------------------------------------------------------------------------------- cutting


def _is_comment(node: Node) -> bool:
    return "comment" in node.type


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def line_holes(text: str, tree) -> list[tuple[int, int]]:
    """(start, end) character spans of the candidate single-line middles."""
    data = text.encode()
    if len(data) != len(text):
        return []  # keep byte == char offsets simple: the packages chosen are ASCII
    out = []
    for start in _line_starts(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end]
        content = line.strip()
        if not 8 <= len(content) <= 120 or not any(c.isalnum() for c in content):
            continue
        s = start + len(line) - len(line.lstrip())
        node = tree.root_node.named_descendant_for_byte_range(s, s + 1)
        if node is None or _is_comment(node) or (node.type in ("string_fragment", "raw_string_literal")):
            continue
        if node.start_byte < s and node.end_byte > end and "string" in node.type:
            continue  # inside a multi-line string
        out.append((s, start + len(line.rstrip())))
    return out


def block_holes(text: str, tree) -> list[tuple[int, int]]:
    """(start, end) spans of candidate block middles: whole lines of one syntax node."""
    if len(text.encode()) != len(text):
        return []
    found = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.named_children)
        if node.parent is None or _is_comment(node) or not node.is_named:
            continue
        rows = node.end_point.row - node.start_point.row + 1
        if not 2 <= rows <= 8 or node.end_byte - node.start_byte > 400:
            continue
        line_start = text.rfind("\n", 0, node.start_byte) + 1
        if text[line_start:node.start_byte].strip():
            continue
        line_end = text.find("\n", node.end_byte)
        if line_end < 0 or text[node.end_byte:line_end].strip():
            continue
        found.add((line_start, line_end + 1))
    return sorted(found)


def context(text: str, tree, start: int, end: int) -> tuple[int, int]:
    """Where the trimmed prefix begins and the trimmed suffix ends."""
    lo, hi = max(0, start - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
    tops = tree.root_node.children
    begins = [n.start_byte for n in tops if lo <= n.start_byte <= start]
    ends = [n.end_byte for n in tops if end <= n.end_byte <= hi]
    if begins:
        p0 = min(begins)
    else:
        p0 = text.find("\n", lo) + 1 if lo > 0 else 0
        p0 = min(p0, start - (start - text.rfind("\n", 0, start) - 1))
    if ends:
        s1 = max(ends)
        s1 = s1 + 1 if text[s1:s1 + 1] == "\n" else s1
    else:
        s1 = text.rfind("\n", end, hi) + 1 if hi < len(text) else len(text)
        s1 = max(s1, end)
    return p0, s1


def cut(language: str, pkgs: list[Package], files: dict[str, list], parser: Parser, n: int,
        seed: int) -> list[dict]:
    rng = random.Random(f"{seed}:{language}")
    holes, seen, tries = [], set(), 0
    while len(holes) < n:
        tries += 1
        if tries > 100 * n:
            raise RuntimeError(f"{language}: could not cut {n} holes")
        pkg = pkgs[len(holes) % len(pkgs)]
        kind = KINDS[(len(holes) // len(pkgs)) % len(KINDS)]
        path, text = rng.choice(files[pkg.name])
        tree = parser.parse(text.encode())
        spans = line_holes(text, tree) if kind == "line" else block_holes(text, tree)
        if not spans:
            continue
        start, end = rng.choice(spans)
        if (path, start, end) in seen:
            continue
        seen.add((path, start, end))
        p0, s1 = context(text, tree, start, end)
        prefix, middle, suffix = text[p0:start], text[start:end], text[end:s1]
        if len(prefix.strip()) < MIN_PREFIX_CHARS:
            continue  # nothing to go on (the first lines of a file)
        errors = parser.parse((prefix + middle + suffix).encode()).root_node.has_error
        holes.append({
            "id": f"{SHORT[language]}/{len(holes):03d}", "language": language, "kind": kind,
            "mode": "single" if kind == "line" else "multi",
            "prefix": prefix, "middle": middle, "suffix": suffix,
            "package": pkg.name, "version": pkg.version, "licence": pkg.licence, "registry": pkg.registry,
            "path": path, "line": text.count("\n", 0, start) + 1, "context_errors": errors,
        })
    return holes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=None, help="folder for the downloaded packages")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=HOLES_PER_LANGUAGE, help="holes per language")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    cache_ctx = tempfile.TemporaryDirectory() if args.cache is None else None
    cache = Path(cache_ctx.name) if cache_ctx else args.cache
    cache.mkdir(parents=True, exist_ok=True)
    for language in SHORT:
        pkgs = [p for p in PACKAGES if p.language == language]
        parser = Parser(grammar(language))
        files = {p.name: source_files(p, fetch(p, cache), parser) for p in pkgs}
        holes = cut(language, pkgs, files, parser, args.n, args.seed)
        out = args.out / f"holes-{SHORT[language]}.jsonl"
        with out.open("w", encoding="utf-8") as f:
            for h in holes:
                f.write(json.dumps(h, ensure_ascii=False) + "\n")
        kinds = {k: sum(h["kind"] == k for h in holes) for k in KINDS}
        broken = sum(h["context_errors"] for h in holes)
        print(f"{out.name}: {len(holes)} holes {kinds}, {broken} with a broken context, "
              f"{out.stat().st_size // 1024} KiB", file=sys.stderr)
    if cache_ctx:
        cache_ctx.cleanup()


if __name__ == "__main__":
    main()
