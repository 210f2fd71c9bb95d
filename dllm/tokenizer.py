"""Text <-> token ids, plus the special tokens the engine needs (mask, end-of-middle, file ends, FIM).

Wraps a Hugging Face `tokenizers` tokenizer. It owns nothing about models or sampling; the ids of
the special tokens come from the checkpoint's family (`checkpoint.special_ids`, `families.py`) or from
our own tokenizer's names below.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tokenizers import AddedToken
from tokenizers import Tokenizer as HFTokenizer

MASK, EOM, BOS, EOS = "<|mask|>", "<|eom|>", "<|bos|>", "<|eos|>"
FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE = "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"
SPECIAL_TOKENS = (EOM, MASK, BOS, EOS, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)


@dataclasses.dataclass(frozen=True)
class SpecialIds:
    mask: int
    eom: int  # end of middle; also pads the canvas
    bos: int | None = None
    eos: int | None = None
    fim_prefix: int | None = None
    fim_suffix: int | None = None
    fim_middle: int | None = None
    stops: tuple[int, ...] = ()  # more ids that end a middle (an instruct model's end of turn)
    expand: int | None = None  # DreamOn's <|expand|>: a committed one becomes two masks (`families.py`)
    control: tuple[int, ...] = ()  # a family's other control tokens (chat, FIM): never in a completion


class Tokenizer:
    def __init__(self, hf: HFTokenizer, special: SpecialIds) -> None:
        # text is never a control token: a file's "<|mask|>" is plain text. Published tokenizers leave some
        # control tokens unmarked (Qwen2.5's FIM ones), which text would still match: marked here (same ids)
        unmarked = [t for t in hf.get_added_tokens_decoder().values() if not t.special]
        if unmarked:
            hf.add_special_tokens([AddedToken(t.content, special=True, normalized=t.normalized, lstrip=t.lstrip,
                                              rstrip=t.rstrip, single_word=t.single_word) for t in unmarked])
        hf.encode_special_tokens = True
        self.hf = hf
        self.special = special
        self.vocab_size = hf.get_vocab_size(with_added_tokens=True)
        self._pieces: list[str] | None = None
        self._not_starting: dict[str, list[int]] = {}
        self._starting_with_text: list[int] | None = None

    @classmethod
    def from_file(cls, path: str | Path, special: SpecialIds | None = None) -> "Tokenizer":
        hf = HFTokenizer.from_file(str(path))
        return cls(hf, special or own_special_ids(hf))

    def encode(self, text: str) -> list[int]:
        return self.hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=False)

    def never_generated(self, vocab_size: int | None = None) -> list[int]:
        """Ids a completion may never contain: the mask, file-start, FIM sentinel and other control tokens,
        and the rows of a model's `vocab_size` past the tokenizer's last id (published vocabularies are padded)."""
        sp = self.special
        ids = [i for i in (sp.mask, sp.bos, sp.fim_prefix, sp.fim_suffix, sp.fim_middle, *sp.control) if i is not None]
        return ids + list(range(self.vocab_size, vocab_size or 0))

    def stop_ids(self) -> list[int]:
        """Ids that end a completion: end-of-middle and end-of-file."""
        return sorted({i for i in (self.special.eom, self.special.eos, *self.special.stops) if i is not None})

    def newline_ids(self) -> list[int]:
        """Ids whose text holds a newline (they end a single-line completion)."""
        return [i for i, piece in enumerate(self.pieces()) if "\n" in piece]

    def not_starting_with(self, text: str) -> list[int]:
        """Ids whose piece does not begin with `text`: what may not start a completion whose prompt was
        backed up by `text` (see `canvas.typed_before_cursor`)."""
        if text not in self._not_starting:
            if len(self._not_starting) >= 32:  # a list of about the vocabulary's size each
                self._not_starting.clear()
            self._not_starting[text] = [i for i, piece in enumerate(self.pieces()) if not piece.startswith(text)]
        return self._not_starting[text]

    def starting_with_text(self) -> list[int]:
        """Ids whose piece begins with a non-blank character: what may not start a completion whose
        prompt was backed up by blanks (`canvas.typed_before_cursor`). Empty where no piece carries a
        word's leading blank (pieces decoded alone without it): there every word would be banned."""
        if self._starting_with_text is None:
            pieces = self.pieces()
            marked = any(p[:1] == " " and p[1:2].strip() for p in pieces)
            self._starting_with_text = [i for i, p in enumerate(pieces) if p[:1].strip()] if marked else []
        return self._starting_with_text

    def pieces(self) -> list[str]:
        """Decoded text of every single token id (special tokens decode to "")."""
        if self._pieces is None:
            sp = self.special
            specials = {i for i in (sp.mask, sp.eom, sp.bos, sp.eos, sp.fim_prefix, sp.fim_suffix, sp.fim_middle,
                                    sp.expand, *sp.stops, *sp.control) if i is not None}
            self._pieces = ["" if i in specials else self.hf.decode([i]) for i in range(self.vocab_size)]
        return self._pieces


def own_special_ids(hf: HFTokenizer) -> SpecialIds:
    """Special ids of a tokenizer trained by `dllm.train` (looked up by name)."""
    ids = {name: hf.token_to_id(name) for name in SPECIAL_TOKENS}
    if ids[MASK] is None or ids[EOM] is None:
        raise ValueError(f"tokenizer has no {MASK} / {EOM} tokens; give the special ids in config.json")
    return SpecialIds(mask=ids[MASK], eom=ids[EOM], bos=ids[BOS], eos=ids[EOS],
                      fim_prefix=ids[FIM_PREFIX], fim_suffix=ids[FIM_SUFFIX], fim_middle=ids[FIM_MIDDLE])


def end_ids(tokenizer, mode: str) -> list[int]:
    """Ids that end a completion in `mode`: the stops, and for "single" also every newline token."""
    return tokenizer.stop_ids() + (tokenizer.newline_ids() if mode == "single" else [])
