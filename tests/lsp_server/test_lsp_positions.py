"""Positions <-> offsets in UTF-16 / UTF-8 / UTF-32, and the incrementally updated line table."""

import random

import pytest

from dllm_complete.lsp_server.positions import UTF8, UTF16, UTF32, LineIndex, line_starts, update_line_starts

TEXT = "a😀b\r\nçé = 1\n\n末尾\rlast"


def test_line_starts_all_terminators():
    assert line_starts(TEXT) == [0, 5, 12, 13, 16]
    assert line_starts("") == [0]
    assert line_starts("x\n") == [0, 2]


@pytest.mark.parametrize("encoding,col_after_emoji", [(UTF16, 3), (UTF8, 5), (UTF32, 2)])
def test_columns_after_an_emoji(encoding, col_after_emoji):
    idx = LineIndex(TEXT, encoding)
    assert idx.offset_at(0, col_after_emoji) == 2  # just before "b"
    assert idx.position_at(2) == (0, col_after_emoji)


def test_half_a_surrogate_pair_maps_to_the_character_start():
    idx = LineIndex(TEXT, UTF16)
    assert idx.offset_at(0, 2) == 1


def test_crlf_terminator_is_not_part_of_the_line():
    idx = LineIndex(TEXT, UTF16)
    assert idx.line_bounds(0) == (0, 3)
    assert idx.offset_at(0, 99) == 3  # clamped to the content, before "\r\n"
    assert idx.position_at(4) == (0, 4)  # an offset inside "\r\n" clamps to the line end


def test_out_of_range_is_clamped():
    idx = LineIndex(TEXT, UTF16)
    assert idx.offset_at(99, 0) == len(TEXT)
    assert idx.offset_at(-1, 5) == 0
    assert idx.position_at(10_000) == (4, 4)


def test_non_bmp_utf8_roundtrip():
    line = "x = '𝔘𝔫𝔦'"
    idx = LineIndex(line, UTF8)
    for i in range(len(line) + 1):
        assert idx.offset_at(*idx.position_at(i)) == i


def test_incremental_line_table_matches_a_full_rescan():
    rng = random.Random(7)
    alphabet = ["a", "é", "😀", "\n", "\r", "\r\n", " "]
    text = "".join(rng.choice(alphabet) for _ in range(60))
    starts = line_starts(text)
    for _ in range(500):
        start = rng.randint(0, len(text))
        end = rng.randint(start, min(len(text), start + 6))
        ins = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        new = text[:start] + ins + text[end:]
        starts = update_line_starts(starts, len(text), new, start, end, len(ins))
        text = new
        assert starts == line_starts(text), (start, end, ins)
