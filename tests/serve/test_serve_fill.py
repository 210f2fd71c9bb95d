"""The HTTP APIs' own cuts and settings (`serve.fill`), without a model."""

import asyncio
from concurrent.futures import Future

from dllm_complete.dllm.contract import CancelToken, Completion, SamplerConfig, Stats
from dllm_complete.serve.fill import Fill, complete, cut, samplers


def test_stop_strings_cut_at_the_first_found():
    assert cut("a = 1\nb = 2\n", ("\n",), None) == ("a = 1", "\n")
    assert cut("a = 1; b", ("zz", "; ", "="), None) == ("a ", "=")  # which one cut it: llama.cpp's stopping_word
    assert cut("a = 1", ("", "zz"), None) == ("a = 1", None)


def test_n_indent_cuts_before_the_first_later_line_indented_less():
    text = "x = 1\n        y = 2\n\n        z = 3\n    return x\n        w"
    assert cut(text, (), 8) == ("x = 1\n        y = 2\n\n        z = 3", "")
    assert cut(text, (), 4) == (text, None)
    assert cut("  first line is never cut", (), 8) == ("  first line is never cut", None)


def test_alternatives_are_sampled_with_their_own_seeds():
    first, second, third = samplers(SamplerConfig(), Fill("a", "b", n=3, temperature=0.0, seed=5))
    assert first.temperature == 0.0 and first.seed == 5
    assert second.temperature >= 0.8 and {second.seed, third.seed} == {6, 7}



def test_crlf_text_is_cut_as_the_same_text_with_lf_line_ends():
    class Fixed:  # a batcher that always answers the same middle
        def submit(self, prefix, suffix, **options):
            future = Future()
            future.set_result(Completion(text="y = 2\n    return y\nz = 3\n\nw = 4", stats=Stats()))
            return future

    for stop, n_indent in ((("\n",), None), ((), 6), (("\n    ",), None), (("\r\n",), None)):
        answers = {}
        for eol in ("\n", "\r\n"):
            prefix = eol.join(["import os", "", "def main():", "    x = 1", "    "])
            fill = Fill(prefix, eol, mode="multi", stop=stop, n_indent=n_indent, syntax=False)
            answer = asyncio.run(complete(Fixed(), SamplerConfig(), fill, CancelToken(), 512))
            answers[eol] = (answer.texts[0], answer.stopped[0])
        assert answers["\n"][1] == (stop[0] if stop else ""), (stop, n_indent)  # cut, by the string sent
        assert answers["\r\n"] == (answers["\n"][0].replace("\n", "\r\n"), answers["\n"][1]), (stop, n_indent)


def test_a_fill_without_a_token_count_gets_the_servers_cap_within_the_limit():
    asked = []

    class Recording:  # a batcher that records the cap it is asked for
        def submit(self, prefix, suffix, **options):
            asked.append(options["max_tokens"])
            future = Future()
            future.set_result(Completion(text="1", stats=Stats()))
            return future

    for mode, limit in (("single", 512), ("multi", 512), ("multi", 100), ("single", 8)):
        asyncio.run(complete(Recording(), SamplerConfig(), Fill("x = ", "\n", mode=mode, syntax=False), CancelToken(),
                             limit))
    asyncio.run(complete(Recording(), SamplerConfig(), Fill("x = ", "\n", mode="multi", max_tokens=7, syntax=False),
                         CancelToken(), 100))
    assert asked == [48, 160, 100, 8, 7]


def test_a_fill_in_the_middle_template_is_split_and_code_that_mentions_its_tags_is_not():
    from dllm_complete.serve.api import split_fim

    assert split_fim("<|fim_prefix|>def f():\n    <|fim_suffix|>\n\nx = 1\n<|fim_middle|>") == ("def f():\n    ", "\n\nx = 1\n")
    assert split_fim("<fim_prefix>a<fim_suffix>b<fim_middle>") == ("a", "b")
    assert split_fim('<PRE> FIM = " <SUF>"\nx =  <SUF>\ny = 2 <MID>') == ('FIM = " <SUF>"\nx = ', "\ny = 2")  # the last tag
    assert split_fim('FIM = ("<PRE> ", " <SUF>", " <MID>") <MID>') is None  # code that mentions them, not a template
    assert split_fim('x = "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>') is None
