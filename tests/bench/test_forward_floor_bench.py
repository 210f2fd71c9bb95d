"""bench/forward_floor.py: one uncached forward over the context, per model and length."""

from bench import forward_floor
from bench_tiny import tiny_models


def test_each_model_is_timed_at_each_context_length(capsys):
    models = tiny_models()
    summary = forward_floor.main(["--models", f"{models['diffusion']},{models['ar']}", "--contexts", "16,48",
                                  "--n", "2"])
    assert set(summary["forward_ms"]) == {str(models["diffusion"]), str(models["ar"])}
    for name, row in summary["forward_ms"].items():
        assert set(row) == {"16", "48"} and all(ms > 0 for ms in row.values())
        assert summary["models"][name]["kind"] == ("diffusion" if name == str(models["diffusion"]) else "ar")
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('{"bench": "forward_floor"')
