"""The HTTP APIs' own cuts and settings (`serve.fill`), without a model."""

from dllm_complete.dllm.contract import SamplerConfig
from dllm_complete.serve.fill import Fill, cut, samplers


def test_stop_strings_cut_at_the_first_found():
    assert cut("a = 1\nb = 2\n", ("\n",), None) == ("a = 1", True)
    assert cut("a = 1; b", ("zz", "; ", "="), None) == ("a ", True)
    assert cut("a = 1", ("", "zz"), None) == ("a = 1", False)


def test_n_indent_cuts_before_the_first_later_line_indented_less():
    text = "x = 1\n        y = 2\n\n        z = 3\n    return x\n        w"
    assert cut(text, (), 8) == ("x = 1\n        y = 2\n\n        z = 3", True)
    assert cut(text, (), 4) == (text, False)
    assert cut("  first line is never cut", (), 8) == ("  first line is never cut", False)


def test_alternatives_are_sampled_with_their_own_seeds():
    first, second, third = samplers(SamplerConfig(), Fill("a", "b", n=3, temperature=0.0, seed=5))
    assert first.temperature == 0.0 and first.seed == 5
    assert second.temperature >= 0.8 and {second.seed, third.seed} == {6, 7}

