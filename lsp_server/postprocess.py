"""Turn the engine's raw middle into the text the editor shows.

Owns, in order: newline normalisation, trimming to one line or to the block the cursor is in,
dropping text that repeats what already follows the cursor (on its line, or whole lines below),
re-indenting continuation lines in the file's indentation style, the line end a completion needs
before a line's text (at its start or after its indentation: whole lines inserted above it), and the
document's line ending. The engine returns the middle as the model wrote it; every formatting
decision is made here. Pure: strings in, a string out; "" means "show nothing".
"""

from __future__ import annotations

import re
from collections import Counter
from math import gcd

from dllm_complete.dllm.canvas import starts_line_text

from .trigger import opens_block


_LEAD = re.compile(r"[ \t]*")
BRACKETS = ("()", "[]", "{}")


def indent_width(line: str, tab: int = 4) -> int:
    ws = _LEAD.match(line).group()
    return ws.count(" ") + ws.count("\t") * tab


def detect_indent(text: str, default: str = "    ") -> str:
    """The file's indentation unit: a tab, or the most common step between space indents."""
    tabs = spaces = 0
    steps: Counter[int] = Counter()
    prev = 0
    for line in text.splitlines()[:2000]:
        if not line.strip():
            continue
        if line.startswith("\t"):
            tabs += 1
            continue
        width = len(line) - len(line.lstrip(" "))
        if width:
            spaces += 1
        if width > prev:
            steps[width - prev] += 1
        prev = width
    if tabs > spaces:
        return "\t"
    if not steps:
        return default
    return " " * min(steps.most_common(1)[0][0], 8)


def _closes(line: str) -> bool:
    """Whether a line ends a bracketed block: it starts with a closing bracket (`}`, `});`, `) -> int:`)."""
    return line.lstrip().startswith((")", "]", "}"))


def trim_block(lines: list[str], first_indent: int, max_lines: int, after_code: bool, tab: int = 4) -> list[str]:
    """Keep lines until one leaves the block the completion starts in (`first_indent`: the cursor line's
    indentation, or the first line's where it starts one). A completion that starts on the next line
    writes no shallower than the cursor, and after code (an opener: `{`, `dict(`) not a closing line at
    once; a closing line back at the opener's indentation ends the block and is kept (`} else {` and
    other closing lines that open again go on)."""
    block = None if not lines[0].strip() else first_indent
    kept = [lines[0]]
    for line in lines[1:]:
        if len(kept) >= max_lines:
            break
        if line.strip():
            width = indent_width(line, tab)
            if block is None:
                if width < first_indent or (after_code and width == first_indent and _closes(line)):
                    break
                block = width
            elif width < block:
                if not (after_code and width == first_indent and _closes(line)):
                    break
                kept.append(line)
                if not opens_block(line):
                    break
                continue
        kept.append(line)
    while len(kept) > 1 and not kept[-1].strip():
        kept.pop()
    return kept


_STRING = re.compile(r"""\"(?:\\.|[^"\\\n])*\"|'(?:\\.|[^'\\\n])*'""")


def drop_line_overlap(text: str, line_suffix: str, mid_word: bool = False) -> str:
    """Remove an ending of punctuation that the rest of the cursor's line already supplies, e.g. `)` or
    `):`, unless the completion needs its brackets to close what it opened itself; with the cursor
    `mid_word`, also an ending that types the rest of that word again (`pri|nt(x)` + `nt(x)`)."""
    rest, code = line_suffix.strip(), _STRING.sub('""', text)
    word = len(re.match(r"\w*", rest).group()) if mid_word else 0
    for k in range(len(rest), 0, -1):
        if not text.endswith(rest[:k]):
            continue
        if word and k >= word or not re.search(r"\w", rest[:k]) and all(
                rest[:k].count(close) <= max(0, code.count(close) - code.count(open_)) for open_, close in BRACKETS):
            return text[: len(text) - k]
    return text


def _same_line(written: str, there: str, tab: int) -> bool:
    """Whether a completion line repeats a line of the file: the same text, and for a closing line
    the same indentation (an inner `});` is not the outer one)."""
    return written.strip() == there.strip() and (
        not _closes(written) or indent_width(written, tab) == indent_width(there, tab))


def drop_repeated_lines(lines: list[str], next_lines: tuple[str, ...], first: str | None, tab: int = 4) -> list[str]:
    """Remove trailing completion lines that repeat the lines after the cursor's line (blank lines
    aside). `first`: the first line as it will stand in the file where it is a whole line, else None."""
    whole = [first or "", *lines[1:]]
    filled = [i for i, ln in enumerate(whole) if ln.strip()]
    for m in range(min(len(filled), len(next_lines)), 0, -1):
        if all(_same_line(whole[i], there, tab) for i, there in zip(filled[-m:], next_lines)):
            lines = lines[:filled[-m]] or [""]
            break
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return lines


def tab_width(unit: str) -> int:
    """Columns of one level of the file's indentation `unit` (a tab counts four)."""
    return len(unit) if unit != "\t" else 4


def reindent(lines: list[str], base: int, unit: str) -> list[str]:
    """Continuation lines in the file's style: tabs vs spaces, and the file's step for nesting."""
    tab = tab_width(unit)
    widths = [indent_width(ln, tab) for ln in lines[1:] if ln.strip()]
    extras = [w - base for w in widths if w > base]
    step = 0
    for e in extras:
        step = gcd(step, e)
    file_step = tab
    out = [lines[0]]
    for line in lines[1:]:
        if not line.strip():
            out.append("")
            continue
        width = indent_width(line, tab)
        if step and step != file_step and width > base and all(e % step == 0 for e in extras):
            width = base + (width - base) // step * file_step
        lead = "\t" * (width // tab) + " " * (width % tab) if unit == "\t" else " " * width
        out.append(lead + line.lstrip(" \t"))
    return out


def finish(raw: str, *, mode: str, line_prefix: str, line_suffix: str,
           next_lines: tuple[str, ...] = (), indent: str = "    ", eol: str = "\n",
           max_lines: int = 12) -> str:
    """The completion to show for `raw`, or "" if nothing useful is left."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    above = starts_line_text(line_prefix, line_suffix)
    after_code = bool(line_prefix.strip())
    tab = tab_width(indent)
    if above:
        next_lines = (line_prefix + line_suffix,) + next_lines
    # the first line is a whole line of the file where nothing but indentation stands beside it
    first = line_prefix + lines[0] if not after_code and (above or not line_suffix.strip()) else None
    if mode == "single" or (line_suffix.strip() and not above):
        lines = drop_repeated_lines(lines[:1], next_lines, first, tab)
    else:
        first_indent = indent_width(line_prefix if after_code else line_prefix + lines[0], tab)
        lines = trim_block(lines, first_indent, max_lines, after_code, tab)
        lines = drop_repeated_lines(lines, next_lines, first, tab)
        lines = reindent(lines, first_indent, indent)
    joined = "\n".join(lines)
    text = joined.rstrip()
    if not above:
        mid_word = bool(re.search(r"\w$", line_prefix) and re.match(r"\w", line_suffix))
        text = drop_line_overlap(text, line_suffix, mid_word)
        if re.match(r"\w", line_suffix) and joined[len(text):].startswith(" "):
            text += " "  # the space the model wrote before the word after the cursor
    if not text.strip():
        return ""
    text += "\n" + line_prefix if above else ""  # the line's text moves down, at its indentation
    return text.replace("\n", eol) if eol != "\n" else text


def suggestions(raws: list[str], ctx, *, mode: str, eol: str = "\n", max_lines: int = 12) -> list[str]:
    """`finish` of each raw middle at the cursor of `ctx` (a `window.Window`): the non-empty, distinct
    texts, best first; the indentation style is the window's (a tab where it has no indented line yet
    but the cursor's line starts with one: a Makefile's first recipe line)."""
    indent = detect_indent(ctx.prefix + ctx.suffix, "\t" if ctx.line_prefix.startswith("\t") else "    ")
    texts: list[str] = []
    for raw in raws:
        done = finish(raw, mode=mode, line_prefix=ctx.line_prefix, line_suffix=ctx.line_suffix,
                      next_lines=ctx.next_lines, indent=indent, eol=eol, max_lines=max_lines)
        if done and done not in texts:
            texts.append(done)
    return texts
