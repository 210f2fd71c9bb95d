"""Training examples cut from source files: plain token windows and infilling holes.

A hole is cut at character level (a whole line, a block of lines, or a random character range) and
prefix / middle / suffix are tokenized separately, exactly as the engine tokenizes them at inference.
Both the diffusion objective and the AR twin's FIM objective draw from the same holes.
"""

from __future__ import annotations

import dataclasses
import random

from ..tokenizer import Tokenizer
from .corpus import SourceFile

CONTEXT_CHARS_PER_TOKEN = 6  # generous: slice this many chars per context token before encoding


@dataclasses.dataclass
class Hole:
    prefix: list[int]
    middle: list[int]
    suffix: list[int]
    at_start: bool  # prefix reaches the start of the file
    at_end: bool  # suffix reaches the end of the file

    def context(self, budget: int, special, rng: random.Random) -> tuple[list[int], list[int]]:
        """Prefix and suffix ids kept within `budget`, with file-start/end tokens where not cut."""
        keep_p, keep_s = split_context(len(self.prefix), len(self.suffix), budget, rng)
        prefix, suffix = self.prefix[len(self.prefix) - keep_p:], self.suffix[:keep_s]
        if self.at_start and keep_p == len(self.prefix):
            prefix = [special.bos] + prefix
        if self.at_end and keep_s == len(self.suffix):
            suffix = suffix + [special.eos]
        return prefix, suffix


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts += [i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 < len(text)]
    return starts


def cut_span(text: str, rng: random.Random) -> tuple[int, int]:
    """Character range [a, b) of a hole: one line (40%), a block of lines (35%), or random chars (25%)."""
    starts = _line_starts(text)
    kind = rng.random()
    if kind < 0.75 and len(starts) > 2:
        n_lines = 1 if kind < 0.4 else rng.randint(2, 12)
        i = rng.randrange(len(starts))
        j = min(len(starts), i + n_lines)
        a = starts[i]
        b = starts[j] if j < len(starts) else len(text)
        if rng.random() < 0.3:  # cursor after the indentation or mid-line
            line_end = text.find("\n", a)
            line_end = len(text) if line_end < 0 else line_end
            a = rng.randint(a, max(a, line_end - 1))
        return a, b
    a = rng.randrange(len(text))
    return a, min(len(text), a + rng.randint(1, 240))


def make_hole(tok: Tokenizer, f: SourceFile, rng: random.Random, max_middle: int, context: int) -> Hole:
    text = f.text
    a, b = cut_span(text, rng)
    middle = tok.encode(text[a:b])
    if len(middle) > max_middle:  # keep the first tokens; the rest of the span joins the suffix
        kept = tok.decode(middle[:max_middle])
        if text[a:b].startswith(kept):
            middle, b = middle[:max_middle], a + len(kept)
        else:
            middle = middle[:max_middle]
    span = context * CONTEXT_CHARS_PER_TOKEN
    p0, s1 = max(0, a - span), min(len(text), b + span)
    prefix, suffix = tok.encode(text[p0:a]), tok.encode(text[b:s1])
    return Hole(prefix, middle, suffix, at_start=p0 == 0, at_end=s1 == len(text))


def split_context(n_prefix: int, n_suffix: int, budget: int, rng: random.Random) -> tuple[int, int]:
    """How many prefix / suffix tokens to keep in `budget`: the prefix gets the larger share."""
    want_p = int(budget * rng.uniform(0.55, 0.9))
    keep_p = min(n_prefix, want_p)
    keep_s = min(n_suffix, budget - keep_p)
    keep_p = min(n_prefix, budget - keep_s)
    return keep_p, keep_s


def token_window(tok: Tokenizer, files: list[SourceFile], rng: random.Random, length: int) -> list[int]:
    """`length` tokens of running text; files are joined with end/beginning-of-file tokens."""
    sp = tok.special
    out: list[int] = []
    while len(out) < length:
        f = files[rng.randrange(len(files))]
        start = 0 if out or rng.random() < 0.2 else rng.randrange(len(f.text))
        if start == 0:
            out.append(sp.bos)
        chunk = f.text[start:start + (length - len(out)) * CONTEXT_CHARS_PER_TOKEN]
        ids = tok.encode(chunk)
        out.extend(ids)
        if start + len(chunk) >= len(f.text):
            out.append(sp.eos)
    return out[:length]
