"""The tokens around the cursor: prefix and suffix trimmed to a token budget.

More of the budget goes to the prefix than to the suffix. The prefix is cut at a line start and the
suffix at a line end, never inside the cursor's line unless that line alone is over budget (then at
the tokens nearest the cursor). File-start / file-end tokens mark a side that was not cut, as in
training. The syntax constraint judges a much wider window of the same text (`judged_text`), since a
fragment cut to the token budget does not parse, and judges it as the editor will show the completion:
on lines of its own above the line's text where the cursor stands before it (`starts_line_text`, which
the language server's trigger and post-processing ask too).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from .contract import JUDGED_CHARS

if TYPE_CHECKING:  # the language server's rules import this module before (or without) a tokenizer
    from .tokenizer import Tokenizer

CLOSERS = frozenset(")]}>\"'`;:,. \t")  # what may follow a completion on its line (`starts_line_text`)
PREFIX_SHARE = 0.75
SPARE_TOKENS = 16  # tokens past the budget tokenized where a line is cut (`_over_budget`)
WORD_CHARS = 256  # the tail of the cursor's line tokenized to find the word it cuts (a minified line is megabytes)
CHARS_PER_TOKEN_BOUND = 12  # slice at most this many characters per budget token before encoding
_TOP_LEVEL = re.compile(r"(?<=\n)\S")  # a line starting at column 0
_WORD_TOKEN = re.compile(r" ?\w+")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone one: JSON may carry it ("\\ud800"), UTF-8 cannot


@dataclasses.dataclass(frozen=True)
class Context:
    prefix_ids: list[int]
    suffix_ids: list[int]
    prefix_text: str  # the text the ids cover
    suffix_text: str
    # What the syntax constraint parses: the text around the cursor (not only what the model sees: a
    # fragment cut to the token budget parses as broken and would excuse any error), the suffix led by
    # the line end a completion needs where the cursor starts a line that has text (there it is whole
    # lines inserted above that line; post-processing adds that line end); the prefix without the typed
    # blanks, like the model's.
    judged_prefix: str = ""
    judged_suffix: str = ""
    # What the model writes again itself (`typed_before_cursor`), which the completion then leaves out,
    # and the token ids its first token may not be: for a cut word those that do not extend it, for
    # blanks those that begin with text (glued to what stands before the blanks: `return` + `e(`).
    typed: str = ""
    first_banned: list[int] = dataclasses.field(default_factory=list)

    def after_typed(self, text: str) -> str:
        """The model's `text` after what was typed. Typed blanks: the model's own indentation is kept
        where it is deeper, and where it is shallower the typed one stands."""
        if text.startswith(self.typed):
            return text[len(self.typed):]
        return text if self.typed.strip() else text.lstrip(" \t")


def typed_before_cursor(tok: Tokenizer, prefix: str) -> str:
    """The end of `prefix` that the model writes again itself, since training text never ended a token
    there: blanks typed before the cursor (an editor's indentation after Enter, the space after `x =`),
    which byte-level BPE gives to the word after them; else a word cut by the cursor (`ret`), whose
    last token the completion's first token must extend (token healing)."""
    kept = prefix.rstrip(" \t")
    if kept != prefix:
        return prefix[len(kept):]
    line = prefix[max(prefix.rfind("\n") + 1, len(prefix) - WORD_CHARS):]  # the last word is in its tail
    if not line or not (line[-1].isalnum() or line[-1] == "_"):
        return ""
    last = line[tok.hf.encode(line, add_special_tokens=False).offsets[-1][0]:]
    healable = _WORD_TOKEN.fullmatch(last) and len(tok.not_starting_with(last)) < tok.vocab_size
    return last if healable else ""  # (a tokenizer whose pieces drop their leading space: none extends it)


def starts_line_text(line_prefix: str, line_suffix: str) -> bool:
    """Whether the cursor stands before a line's text (at the line's start or after its indentation):
    a completion there is whole lines inserted above that text, which keeps its indentation. Closing
    brackets, quotes and separators alone are text of their own too, except after the indentation
    (`    |)`: a completion there finishes that line)."""
    rest = line_suffix.strip()
    return not line_prefix.strip() and bool(rest) and (
        not set(rest) <= CLOSERS or not line_prefix or line_suffix[0] in " \t")


def judged_text(prefix: str, suffix: str) -> tuple[str, str]:
    """At most JUDGED_CHARS of `prefix` and of `suffix` around the cursor, cut at top-level lines."""
    if len(prefix) > JUDGED_CHARS:
        head = prefix[-JUDGED_CHARS:]
        first = _TOP_LEVEL.search(head)
        prefix = head[first.start():] if first else head
    if len(suffix) > JUDGED_CHARS:
        tail = suffix[:JUDGED_CHARS]
        starts = [m.start() for m in _TOP_LEVEL.finditer(tail)]
        suffix = tail[:starts[-1]] if starts and starts[-1] > 0 else tail
    return prefix, suffix


def _over_budget(tok: Tokenizer, line: str, budget: int, from_end: bool) -> str | None:
    """The last (`from_end`) or first `budget` tokens' text of a line that has more, tokenizing only as
    much of it as that takes (a minified line is megabytes); None where the line may fit."""
    size = (budget + SPARE_TOKENS) * CHARS_PER_TOKEN_BOUND
    while budget > 0 and len(line) > size:
        part = line[-size:] if from_end else line[:size]
        enc = tok.hf.encode(part, add_special_tokens=False)
        if len(enc.ids) > budget + SPARE_TOKENS:  # the word the part cuts is among the tokens left out
            return part[enc.offsets[-budget][0]:] if from_end else part[:enc.offsets[budget - 1][1]]
        size *= 4  # tokens longer than the bound: a longer part
    return None


def _cut_prefix(tok: Tokenizer, text: str, budget: int) -> tuple[str, bool]:
    """The kept tail of the prefix, and whether it is the whole prefix."""
    line_start = text.rfind("\n") + 1
    head, line = text[:line_start], text[line_start:]
    if (kept := _over_budget(tok, line, budget, from_end=True)) is not None:
        return kept, False
    enc = tok.hf.encode(line, add_special_tokens=False)
    room = budget - len(enc.ids)
    if room < 0:  # the cursor's line alone is over budget: its last tokens
        return line[enc.offsets[-budget][0]:] if budget > 0 else "", False
    if room == 0 or not head:
        return line, not head
    window = head[-room * CHARS_PER_TOKEN_BOUND:]
    enc = tok.hf.encode(window, add_special_tokens=False)
    ids, offsets = enc.ids, enc.offsets
    if len(ids) <= room and len(window) == len(head):
        return text, True
    first = max(0, len(ids) - room)
    # move forward to the first token that starts a line
    while first < len(ids) and not (offsets[first][0] == 0 and len(window) == len(head)
                                    or window[offsets[first][0] - 1:offsets[first][0]] == "\n"):
        first += 1
    if first >= len(ids):
        return line, False
    return window[offsets[first][0]:] + line, False


def _cut_suffix(tok: Tokenizer, text: str, budget: int) -> tuple[str, bool]:
    """The kept head of the suffix, and whether it is the whole suffix."""
    line_end = text.find("\n")
    line_end = len(text) if line_end < 0 else line_end
    line, tail = text[:line_end], text[line_end:]
    if (kept := _over_budget(tok, line, budget, from_end=False)) is not None:
        return kept, False
    enc = tok.hf.encode(line, add_special_tokens=False)
    room = budget - len(enc.ids)
    if room < 0:  # the cursor's line alone is over budget: its first tokens
        return line[:enc.offsets[budget - 1][1]] if budget > 0 else "", False
    if room == 0 or not tail:
        return line, not tail
    window = tail[:room * CHARS_PER_TOKEN_BOUND]
    enc = tok.hf.encode(window, add_special_tokens=False)
    ids, offsets = enc.ids, enc.offsets
    if len(ids) <= room and len(window) == len(tail):
        return text, True
    end = min(room, len(ids))
    cut = window.rfind("\n", 0, offsets[end - 1][1] + 1 if end else 0)
    return line + window[:cut + 1], False  # through the last whole line (nothing if cut < 0)


def encodable(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD, one character for one: the tokenizer takes only text
    that UTF-8 can hold."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


def build_context(tok: Tokenizer, prefix: str, suffix: str, budget: int) -> Context:
    """Token ids of the prefix and suffix within `budget` tokens in all (the cursor's line kept whole where it fits);
    the prefix without what the model writes again (`Context.typed`)."""
    prefix, suffix = encodable(prefix), encodable(suffix)
    line_prefix, end = prefix[prefix.rfind("\n") + 1:], suffix.find("\n")
    # the file as post-processing leaves it: the completion on lines of its own above the line's text
    line_end = "\n" + line_prefix if starts_line_text(line_prefix, suffix[:end] if end >= 0 else suffix) else ""
    typed = typed_before_cursor(tok, prefix)
    prefix = prefix[:len(prefix) - len(typed)]
    p_budget = int(budget * PREFIX_SHARE)
    s_text, s_whole = _cut_suffix(tok, suffix, budget - p_budget)
    s_ids = tok.encode(s_text)
    p_text, p_whole = _cut_prefix(tok, prefix, budget - len(s_ids))
    p_ids = tok.encode(p_text)
    if not s_whole and len(p_ids) + len(s_ids) < budget:  # the prefix left room: give it to the suffix
        s_text, s_whole = _cut_suffix(tok, suffix, budget - len(p_ids))
        s_ids = tok.encode(s_text)
    sp = tok.special
    if p_whole and sp.bos is not None:
        p_ids = [sp.bos] + p_ids
    if s_whole and sp.eos is not None:
        s_ids = s_ids + [sp.eos]
    judged_prefix, judged_suffix = judged_text(prefix, suffix)
    first_banned = tok.not_starting_with(typed) if typed.strip() else tok.starting_with_text() if typed else []
    return Context(p_ids, s_ids, p_text, s_text, judged_prefix, line_end + judged_suffix, typed, first_banned)
