"""The scope check on real JavaScript, TypeScript, Go and Rust files: false re-masks and caught names.

    python -m bench.scope_files --files go=DIR rust=DIR javascript=DIR typescript=DIR

Real code compiles, so every name its lines use resolves: for sampled lines of each file, the line is
the middle (the rest of the file around it, judged as the engine judges it), and any name the check
flags there is a **false re-mask** (each one listed). Then one plain name of the line (not after `.`
or `::`, not a keyword) is misspelt into a name the file does not have: **caught** is the share the
check flags (member names and path roots are never judged, so the denominator is approximate). Also
the time per check. Where the files came from (no download at run time; fetch them once):

    apt-get download golang-github-spf13-cobra-dev golang-golang-x-text-dev librust-clap-dev ...
    dpkg-deb -x PKG.deb DIR;  npm pack rxjs@7.8.1 && tar xzf rxjs-7.8.1.tgz

Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import keyword
import random
import re
import statistics
import time
from pathlib import Path

from bench import common

SUFFIXES = {"javascript": (".js", ".mjs", ".cjs"), "typescript": (".ts",), "go": (".go",), "rust": (".rs",)}
KEYWORDS = {
    "javascript": "await break case catch class const continue debugger default delete do else export extends "
                  "false finally for function if import in instanceof let new null of return super switch this "
                  "throw true try typeof var void while with yield async static get set from as",
    "go": "break case chan const continue default defer else fallthrough for func go goto if import interface map "
          "package range return select struct switch type var",
    "rust": "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match "
            "mod move mut pub ref return self Self static struct super trait true type unsafe use where while",
}
KEYWORDS["typescript"] = KEYWORDS["javascript"] + " type interface enum namespace declare readonly private " \
                                                  "public protected implements keyof is infer satisfies abstract"
WORD = re.compile(r"[A-Za-z_]\w*")
DECLARES = ("let", "mut", "fn", "struct", "enum", "const", "var", "function", "class", "type", "func", "static",
            "mod", "trait", "impl", "interface", "namespace")


def files_of(language: str, folder: str, limit: int, rng: random.Random) -> list[Path]:
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix in SUFFIXES[language]
                   and not p.name.endswith(".d.ts") and p.is_file())
    rng.shuffle(found)
    return found[:limit]


def plain_words(line: str, language: str) -> list[re.Match]:
    """Words of a code line a misspelling of which the check should catch (outside strings and comments)."""
    code = re.split(r"//|/\*", line)[0]
    if any(q in code for q in "\"'`") or code.lstrip().startswith(("#", "@")):
        return []
    words = set(KEYWORDS[language].split())
    return [m for m in WORD.finditer(code) if m.group() not in words and not keyword.iskeyword(m.group())
            and not code[:m.start()].rstrip().endswith((".", "::", "->", "'", "$", ":") + DECLARES)
            and not re.match(r"\s*(::|!|:|,?\s*\w*\s*:?=[^=>])", code[m.end():])]  # a path, a macro, a key, a target


def run(language: str, folder: str, n_files: int, per_file: int, rng: random.Random) -> dict:
    from dllm_complete.dllm.canvas import judged_text
    from dllm_complete.grammars.combined import scope_check
    from dllm_complete.grammars.languages import language_for

    grammar = language_for(language)
    false, caught, tried, lines, times, examples = 0, 0, 0, 0, [], []
    for path in files_of(language, folder, n_files, rng):
        text = path.read_text(encoding="utf-8", errors="replace")
        starts = [m.start() for m in re.finditer(r"(?m)^[ \t]*\S.*$", text)]
        for at in rng.sample(starts, min(per_file, len(starts))):
            end = text.find("\n", at) + 1 or len(text)
            indent = len(text[at:end]) - len(text[at:end].lstrip(" \t"))
            prefix, middle, suffix = text[:at + indent], text[at + indent:end], text[end:]
            if middle.lstrip().startswith(("//", "/*", "*")):
                continue
            check = scope_check(grammar, str(path), prefix + suffix)
            pre, suf = judged_text(prefix, suffix)
            t0 = time.perf_counter()
            flagged = check.unresolved(pre, middle, suf)
            times.append((time.perf_counter() - t0) * 1e3)
            lines += 1
            if flagged:
                false += 1
                if len(examples) < 20:
                    examples.append({"file": str(path), "line": text.count("\n", 0, at) + 1,
                                     "text": middle.strip()[:120], "flagged": [n for _, _, n in flagged]})
                continue
            words = plain_words(middle, language)
            if not words:
                continue
            word = rng.choice(words)
            wrong = word.group() + "Qz"
            if wrong in text:
                continue
            tried += 1
            caught += any(name == wrong for _, _, name in
                          check.unresolved(pre, middle[:word.start()] + wrong + middle[word.end():], suf))
    return {"lines": lines, "false_remasks": false, "false_share": round(100 * false / max(lines, 1), 2),
            "misspelt": tried, "caught": caught, "caught_share": round(100 * caught / max(tried, 1), 1),
            "ms_per_check_p50": round(statistics.median(times), 3) if times else None, "false_examples": examples}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scope_files", description=__doc__.split("\n")[0])
    p.add_argument("--files", nargs="+", required=True, metavar="LANGUAGE=DIR",
                   help=f"a folder of real files per language ({', '.join(SUFFIXES)})")
    p.add_argument("--n-files", type=int, default=100, help="files sampled per language")
    p.add_argument("--per-file", type=int, default=10, help="lines sampled per file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the summary to OUT's .summary.json")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    results = {}
    for item in args.files:
        language, _, folder = item.partition("=")
        if language not in SUFFIXES or not Path(folder).is_dir():
            p.error(f"--files wants LANGUAGE=DIR with LANGUAGE one of {', '.join(SUFFIXES)}: {item!r}")
        results[language] = run(language, folder, args.n_files, args.per_file, rng)
        print(language, {k: v for k, v in results[language].items() if k != "false_examples"}, flush=True)
    summary = {"bench": "scope-files", "files": args.files, "n_files": args.n_files, "per_file": args.per_file, "seed": args.seed,
               "languages": results, "stamp": common.stamp()}
    if args.out:
        common.write_summary(args.out, summary)
    common.print_summary(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
