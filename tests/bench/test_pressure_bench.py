"""bench/pressure.py: the typing plan and position helpers (pure), and its smallest run end to end on the
tiny model (a real server for the storm, policy workers and a busy process for the contention)."""

import json

from bench import pressure
from bench_tiny import tiny_models

SOURCE = "import os\n\n\ndef f(x):\n    return x + 1\n\n\ndef g(y):\n    return y * 2\n"


def test_typing_plan_types_the_file_back_with_nothing_right_of_the_cursor():
    prefix, typed, suffix = pressure.typing_plan(SOURCE, 12, at=0.5)
    assert prefix.endswith("\n") and SOURCE.startswith(prefix + typed)
    assert len(typed) == 12 and suffix.startswith("\n") and SOURCE.endswith(suffix[1:])
    _, long, rest = pressure.typing_plan(SOURCE, 3 * len(SOURCE), at=0.5)  # longer than the file: it repeats
    assert len(long) == 3 * len(SOURCE) and SOURCE in long and rest == "\n"


def test_offset_of_counts_utf16_columns():
    text = "a = 1\nb = '😀x'\n"
    assert pressure.offset_of(text, {"line": 0, "character": 3}) == 3
    assert pressure.offset_of(text, {"line": 1, "character": 7}) == text.index("😀") + 1  # the emoji is 2 units
    assert pressure.offset_of(text, {"line": 1, "character": 99}) == text.index("\n", 6)  # clamped to the line


def test_slope_per_1000():
    assert pressure.slope_per_1000([(0, 100.0), (500, 105.0), (1000, 110.0)]) == 10.0
    assert pressure.slope_per_1000([(200, 300.0)]) is None


def test_pressure_end_to_end_on_a_tiny_model(tmp_path, capsys):
    out = tmp_path / "pressure.jsonl"
    summary = pressure.main(["--model", str(tiny_models()["diffusion"]), "--keystrokes", "24", "--warmup", "8",
                             "--every", "8", "--interval-ms", "0", "--caches", "default,1024",
                             "--holes", "2", "--context", "64", "--rounds", "1", "--busy", "0,1",
                             "--policies", "torch,engine", "--out", str(out)])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["bench"] == "pressure" and last["storm"]["arms"].keys() == summary["storm"]["arms"].keys()
    arms = last["storm"]["arms"]
    for arm, caches in (("default", None), ("1024", "1024")):
        run = arms[arm]["rounds"][0]
        assert run["stale"] == 0 and run["requests"] == 24 and run["returncode"] == 0
        assert sum(run["counts"].values()) == 24 - 8  # the requests after warm-up
        assert [s["k"] for s in run["samples"]] == [8, 16, 24] and run["rss_after_warmup_mb"] > 50
        assert run["rss_mb_per_1000"] is not None and not any(run["stderr_problems"].values())
        if caches:
            assert run["onednn_primitive_cache"] == run["ideep_cache"] == caches
        else:
            assert run["onednn_primitive_cache"] and run["ideep_cache"]  # the engine's own caps
    policies = last["contention"]["policies"]
    assert policies.keys() == {"torch", "engine"}
    for cell in policies.values():
        assert set(cell["p50_ms"]) == {"0", "1"} and all(v > 0 for v in cell["p50_ms"].values())
        assert cell["ratio_to_idle"]["1"] > 0 and cell["same_text_as_torch"] is not None
    assert policies["torch"]["idle_vs_torch"] == 1.0 and policies["torch"]["same_text_as_torch"] == 1.0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(r["part"] == "storm" for r in rows) == 2 * 24
    assert sum(r["part"] == "contention" for r in rows) == 2 * 2 * 2  # policies x busy levels x holes
    assert (tmp_path / "pressure.summary.json").is_file()
