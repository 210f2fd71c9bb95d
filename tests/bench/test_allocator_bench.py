"""bench/allocator.py: each arm in fresh processes, the same completions, one JSON summary."""

from bench import allocator


def test_arms_run_in_fresh_processes_and_complete_the_same(capsys):
    # The packaged model: its completions differ hole by hole. A tiny random model decodes to the same
    # replacement characters for every hole, so `same_text_as_default` could not fail on it.
    summary = allocator.main(["--model", "default", "--processes", "1", "--n", "2", "--context", "200"])
    assert set(summary["arms"]) == {"default", "dynamo", "pinned"}
    for arm in summary["arms"].values():
        assert arm["single"] > 0 and arm["multi"] > 0 and arm["peak_rss_mb"] > 0
        assert arm["same_text_as_default"]
    assert [summary["arms"][a]["dynamo_imported"] for a in ("default", "dynamo", "pinned")] == [False, True, False]
    assert summary["speedup_p50"]["pinned"]["single"] == (
        summary["arms"]["default"]["single"] / summary["arms"]["pinned"]["single"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('{"bench": "allocator"')
