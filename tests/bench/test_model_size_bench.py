"""bench/model_size.py: each training size timed in the engine's loop and projected from the shipped p50."""

from bench import model_size


def test_sizes_are_projected_from_the_shipped_model_and_ordered_by_cost():
    summary = model_size.main(["--sizes", "tiny,small", "--context", "200", "--repeats", "1", "--steps", "4"])
    rows = {r["size"]: r for r in summary["sizes"]}
    assert list(rows) == ["small", "tiny"]  # the shipped size first: the projection's reference
    small, tiny = rows["small"], rows["tiny"]
    assert small["projected_p50_ms"] == summary["settings"]["shipped_p50_ms"]
    assert tiny["params"] < small["params"] and tiny["steps"] == small["steps"] == 4
    biggest = "small" if small["meets_target"] else "tiny" if tiny["meets_target"] else None  # small has more params
    assert summary["biggest_meeting_target"] == biggest
    assert all(r["meets_target"] == (r["projected_p50_ms"] < 60) for r in rows.values())
