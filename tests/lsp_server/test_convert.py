"""Suggestions as LSP menu entries: what a client shows of them."""

from dllm_complete.lsp_server.completion import Suggestion
from dllm_complete.lsp_server.convert import completion_result


def entry(text: str, word: str = "", markdown: bool = True):
    s = Suggestion(id="1", text=text, start=(0, len(word)), end=(0, len(word)), word_start=(0, 0), word=word)
    return completion_result([s], markdown=markdown).items[0]


def test_a_suggestion_holding_a_code_fence_stays_one_code_block():
    text = 'doc = """\n```python\nx = 1\n```\n"""'
    value = entry(text).documentation.value
    fence = value.splitlines()[0]
    assert set(fence) == {"`"} and len(fence) > 3 and value.endswith("\n" + fence)
    assert value[len(fence) + 1:-len(fence) - 1] == text


def test_the_label_is_the_first_line_and_the_edit_keeps_the_word_typed():
    item = entry("_items(self):\n    return []", word="get")
    assert item.label == "get_items(self): …"
    assert item.text_edit.new_text == "get_items(self):\n    return []"
    assert entry("x", markdown=False).documentation == "x"
