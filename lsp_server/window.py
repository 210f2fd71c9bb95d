"""The window of text around the cursor: what the server hands the engine, and the cursor's line and
its neighbours that the trigger and post-processing look at.

Owns: cutting a prefix and a suffix out of the document within a budget, at line boundaries, and
never inside the cursor's own line (the cursor's line is the most informative text there is).
Budgets are in model tokens; without the tokenizer at hand they are turned into characters with a
deliberately generous ratio, so the engine (which counts real tokens) gets at least its budget and
makes the exact cut itself. The window always holds at least what the engine's syntax constraint
parses around the cursor (`dllm.contract.JUDGED_CHARS` a side). Pure: strings in, strings out.
"""

from __future__ import annotations

from dataclasses import dataclass

from dllm_complete.dllm.contract import JUDGED_CHARS

CHARS_PER_TOKEN = 4  # code averages 3-4 characters per BPE token; err on the long side
LINE_LIMIT = 10_000  # how far to look for the cursor line's ends (longer lines are not completed)


@dataclass(frozen=True)
class Window:
    prefix: str  # text before the cursor, starting at a line start
    suffix: str  # text after the cursor, ending at a line end
    line_prefix: str  # the cursor's line up to the cursor
    line_suffix: str  # the cursor's line after the cursor, terminator excluded
    prev_line: str  # the last non-blank line before the cursor's line ("" if none in the window)
    next_lines: tuple[str, ...]  # up to 8 non-blank lines after the cursor's line, as they stand
    next_line: str  # the first of them as it stands, indentation included ("" if none in the window)
    prefix_cut: bool  # text before `prefix` was left out
    suffix_cut: bool


def _line_start(text: str, offset: int) -> int:
    lo = max(offset - LINE_LIMIT, 0)
    found = max(text.rfind("\n", lo, offset), text.rfind("\r", lo, offset))
    return found + 1 if found >= 0 else lo


def _line_end(text: str, offset: int) -> int:
    """End of the line's content (before its terminator)."""
    hi = offset + LINE_LIMIT
    ends = [i for i in (text.find("\n", offset, hi), text.find("\r", offset, hi)) if i >= 0]
    return min(ends) if ends else min(hi, len(text))


def _after_terminator(text: str, end: int) -> int:
    if text.startswith("\r\n", end):
        return end + 2
    return end + 1 if end < len(text) else end


def build(text: str, offset: int, prefix_tokens: int, suffix_tokens: int, min_chars: int = JUDGED_CHARS) -> Window:
    """Cut the window around `offset` (an index into `text`), at least `min_chars` a side where there is."""
    offset = min(max(offset, 0), len(text))
    line_start, line_end = _line_start(text, offset), _line_end(text, offset)

    lo = offset - max(prefix_tokens * CHARS_PER_TOKEN, min_chars)
    if lo <= 0:
        start = 0
    else:  # the first whole line inside the budget, but never past the cursor's line start
        nl = text.find("\n", lo - 1, line_start)
        start = line_start if nl < 0 else nl + 1
    hi = offset + max(suffix_tokens * CHARS_PER_TOKEN, min_chars)
    if hi >= len(text):
        end = len(text)
    else:  # the last whole line inside the budget, but never before the cursor's line end
        nl = text.rfind("\n", line_end, hi)
        end = _after_terminator(text, line_end) if nl < 0 else nl + 1

    prefix, suffix = text[start:offset], text[offset:end]
    head = text[start:line_start].splitlines()
    prev_line = next((ln for ln in reversed(head) if ln.strip()), "")
    tail = text[_after_terminator(text, line_end):end].splitlines()
    after = [ln for ln in tail if ln.strip()][:8]
    return Window(prefix, suffix, text[line_start:offset], text[offset:line_end], prev_line,
                   tuple(after), after[0] if after else "", start > 0, end < len(text))


def with_selection(ctx: Window, replaced: int, text: str, replaced_after: int = 0) -> Window:
    """The window as if the last `replaced` characters before the cursor and the first `replaced_after`
    after it were `text`.

    Used for `selectedCompletionInfo`: the model must continue the item selected in the popup, which
    replaces its range (in VS Code's replace mode, also the rest of the word after the cursor).
    """
    cut = min(replaced, len(ctx.line_prefix))
    drop = min(replaced_after, len(ctx.line_suffix))
    return Window(ctx.prefix[: len(ctx.prefix) - cut] + text, ctx.suffix[drop:],
                  ctx.line_prefix[: len(ctx.line_prefix) - cut] + text, ctx.line_suffix[drop:],
                  ctx.prev_line, ctx.next_lines, ctx.next_line, ctx.prefix_cut, ctx.suffix_cut)
