"""Byte-level BPE training for code: whitespace and indentation survive a round trip exactly.

The pre-tokenizer keeps every newline as its own piece and runs of spaces apart from words, so a
cursor at a line start or after indentation falls on a token boundary, as it does at inference.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from ..tokenizer import SPECIAL_TOKENS

CODE_SPLIT = (r"\r?\n|[^\S\r\n]+(?![^\s])|[^\S\r\n]*[^\s\p{L}\p{N}_]+|"
              r" ?[\p{L}_][\p{L}\p{N}_]*| ?\p{N}{1,3}|[^\S\r\n]+")


def new_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CODE_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok
