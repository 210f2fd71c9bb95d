"""bench/pass_vs_tokens.py: the log-linear fit of pass@1 against tokens and its lineages."""

import pytest

from bench import pass_vs_tokens


def pt(kind, tokens, passed, adapted=False, split="single-line"):
    return {"kind": kind, "tokens_seen": tokens, "pass@1": passed, "adapted": adapted, "split": split}


def test_fit_gains_per_tenfold_tokens_and_projects_the_target():
    fit = pass_vs_tokens.log_fit([pt("ar", 10**7, 0.05), pt("ar", 10**8, 0.10)], target=0.15)
    assert fit["per_10x_tokens"] == pytest.approx(0.05)
    assert fit["tokens_for_target"] == pytest.approx(10**9, rel=1e-6)


def test_fit_needs_two_token_counts_and_a_gain():
    assert pass_vs_tokens.log_fit([pt("ar", 10**7, 0.05)], 0.15) is None
    flat = pass_vs_tokens.log_fit([pt("ar", 10**7, 0.05), pt("ar", 10**8, 0.04)], 0.15)
    assert flat["per_10x_tokens"] < 0 and flat["tokens_for_target"] is None


def test_fit_does_not_project_far_beyond_the_tokens_measured():
    slow = pass_vs_tokens.log_fit([pt("ar", 10**7, 0.05), pt("ar", 10**8, 0.051)], target=0.15)
    assert slow["per_10x_tokens"] > 0 and slow["tokens_for_target"] is None


def test_lineages_keep_adapted_diffusion_models_apart():
    points = [pt("ar", 1, 0.1), pt("diffusion", 2, 0.1, adapted=True), pt("diffusion", 3, 0.1)]
    groups = pass_vs_tokens.lineages(points)
    assert [len(groups[k]) for k in ("ar", "diffusion-adapted", "diffusion-from-scratch")] == [1, 1, 1]


def test_numbers_come_from_the_one_backend_of_an_arena_summary():
    numbers = {"n": 4, "pass@1": 0.25, "exact_match": 0.0, "syntax_valid": 1.0}
    arena_summary = {"bench": "arena", "splits": {"single-line": {"backends": {"dllm?syntax=1": numbers}}}}
    assert pass_vs_tokens.backend_numbers(arena_summary, "single-line") == numbers
    assert pass_vs_tokens.backend_numbers(numbers, "single-line") == numbers  # an older cached summary


def test_unknown_split_is_a_usage_error():
    with pytest.raises(SystemExit) as err:
        pass_vs_tokens.main(["--splits", "random-span"])
    assert err.value.code == 2


def two_splits():
    """Three models over two splits with their fits, as main() summarises them."""
    points = [dict(pt("ar", 10**7, 0.05), commit="c1"), dict(pt("ar", 10**8, 0.10), commit="c2"),
              dict(pt("ar", 10**8, 0.02, split="multi-line"), commit="c2")]
    return {"points": points, "fits": pass_vs_tokens.fit_lineages(points, ["single-line", "multi-line"])}


def test_markdown_has_a_row_per_model_and_a_line_per_fit():
    text = pass_vs_tokens.markdown(two_splits())
    assert "| AR twin | 100M | c2 | 10.0% | 2.0% |" in text and "| AR twin | 10M | c1 | 5.0% | – |" in text
    assert "- single-line, ar: +5.0 points per 10x tokens (2 models); 15% at about 1.0B tokens." in text
    assert "- multi-line, ar:" not in text  # one model: no fit


def test_plot_draws_a_panel_per_split(tmp_path):
    pytest.importorskip("matplotlib", reason="the figures are drawn with matplotlib (a dev dependency)")
    path = pass_vs_tokens.plot(two_splits(), tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
