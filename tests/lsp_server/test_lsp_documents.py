"""Document sync: full and incremental changes, languages, and what was typed since a request."""

from dllm_complete.lsp_server.documents import DocumentStore, document_language
from dllm_complete.lsp_server.positions import UTF8, UTF16

URI = "file:///w/a%20b.py"


def test_incremental_changes_with_emoji_and_crlf():
    store = DocumentStore(UTF16)
    store.open(URI, "python", 1, "x = '😀'\r\ny = 2\r\n")
    # replace "2" on line 1 (after a CRLF line holding a surrogate pair)
    store.change(URI, 2, [(((1, 4), (1, 5)), "3")])
    # insert after the emoji: UTF-16 column 7 is after the two code units of 😀
    store.change(URI, 3, [(((0, 7), (0, 7)), "!")])
    doc = store.get(URI)
    assert doc.text == "x = '😀!'\r\ny = 3\r\n"
    assert doc.version == 3 and doc.eol == "\r\n"


def test_the_line_terminator_is_the_first_line_breaks():
    store = DocumentStore(UTF16)
    for text, eol in (("a\r\nb\n", "\r\n"), ("a\nb\r\n", "\n"), ("import os\rdef f(x):\r", "\r"), ("a", "\n")):
        store.open(URI, "python", 1, text)
        assert store.get(URI).eol == eol, text


def test_full_replacement_and_multiple_changes_in_order():
    store = DocumentStore(UTF8)
    store.open(URI, "python", 1, "é\n")
    store.change(URI, 2, [(None, "abc\n"), (((0, 3), (0, 3)), "d"), (((0, 0), (0, 1)), "")])
    assert store.get(URI).text == "bcd\n"


def test_out_of_range_edit_is_clamped_not_lost():
    store = DocumentStore()
    store.open(URI, "python", 1, "ab\n")
    store.change(URI, 2, [(((7, 0), (9, 9)), "tail")])
    assert store.get(URI).text == "ab\ntail"


def test_unknown_document_change_is_ignored():
    assert DocumentStore().change("file:///nope", 1, [(None, "x")]) is None


def test_language_from_id_then_suffix():
    assert document_language("python", "file:///a.txt") == "python"
    assert document_language("", "file:///src/main.rs") == "rust"
    assert document_language("plaintext", "file:///a.go") == "go"
    assert document_language(None, "untitled:Untitled-1") == "plaintext"
    assert document_language("text", "file:///notes.txt") == "plaintext"  # Vim's plain text: off by default


def test_binary_flag_follows_the_text():
    store = DocumentStore()
    doc = store.open(URI, "python", 1, "a\x00b")
    assert doc.binary
    store.change(URI, 2, [(None, "ab")])
    assert not doc.binary


def test_typed_since_follows_typing_and_backspace_at_the_cursor():
    store = DocumentStore()
    doc = store.open(URI, "python", 1, "x = \n")
    rev = doc.revision
    for v, ch in enumerate("foo", start=2):
        store.change(URI, v, [(((0, 4 + v - 2), (0, 4 + v - 2)), ch)])
    assert doc.typed_since(rev, 4) == "foo"
    store.change(URI, 9, [(((0, 6), (0, 7)), "")])  # backspace
    assert doc.typed_since(rev, 4) == "fo"
    store.change(URI, 10, [(((1, 0), (1, 0)), "elsewhere")])
    assert doc.typed_since(rev, 4) is None


def test_typed_since_gives_up_after_a_full_replacement():
    store = DocumentStore()
    doc = store.open(URI, "python", 1, "x\n")
    rev = doc.revision
    store.change(URI, 2, [(None, "x\n")])
    assert doc.typed_since(rev, 1) is None
    assert doc.typed_since(doc.revision, 1) == ""


def test_a_batch_of_descending_changes_is_the_same_as_one_change_at_a_time():
    import random

    from dllm_complete.lsp_server.positions import LineIndex, line_starts

    rng = random.Random(7)
    spliced = 0
    for trial in range(60):
        text = "".join(rng.choice(["ab", "é", "😀", "\n", "\r\n", "\r", "x = 1", ""]) for _ in range(60))
        index = LineIndex(text, UTF16)
        if trial % 4:  # places in the text, as an editor sends them
            points = sorted({index.position_at(rng.randint(0, len(text))) for _ in range(12)}, reverse=True)
        else:  # anywhere: past line ends, inside a surrogate pair
            points = sorted({(rng.randint(0, 20), rng.randint(0, 8)) for _ in range(12)}, reverse=True)
        changes = []
        for hi, lo in zip(points[::2], points[1::2] + [(0, 0)]):  # descending ranges, some empty, some reversed
            changes.append(((lo, hi) if rng.random() < 0.8 else (hi, lo), rng.choice(["", "q", "\n", "a\r\nb", "😀"])))
        if trial % 5 == 0:
            changes.append(((points[-1], points[-1]), "same place"))  # two insertions at one place
        one, batch = DocumentStore(UTF16), DocumentStore(UTF16)
        one.open(URI, "python", 1, text)
        batch.open(URI, "python", 1, text)
        for change in changes:
            one.change(URI, 2, [change])
        probe = DocumentStore(UTF16)
        probe.open(URI, "python", 1, text)
        spliced += probe.get(URI).replace_descending(changes, 2)
        batch.change(URI, 2, changes)
        assert batch.get(URI).text == one.get(URI).text, changes
        assert batch.get(URI).index.starts == line_starts(one.get(URI).text)
        assert batch.get(URI).revision == one.get(URI).revision and batch.get(URI).version == 2
    assert spliced >= 40  # the one-pass path was taken, not only the fallback
