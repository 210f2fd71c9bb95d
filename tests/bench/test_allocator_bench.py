"""bench/allocator.py: each arm in fresh processes, the same completions, one JSON summary."""

import allocator
from bench_tiny import tiny_models


def test_arms_run_in_fresh_processes_and_complete_the_same(capsys):
    summary = allocator.main(["--model", str(tiny_models()["diffusion"]), "--processes", "1", "--n", "2"])
    assert set(summary["arms"]) == {"default", "dynamo", "pinned"}
    for arm in summary["arms"].values():
        assert arm["single"] > 0 and arm["multi"] > 0 and arm["peak_rss_mb"] > 0
        assert arm["same_text_as_default"]
    assert [summary["arms"][a]["dynamo_imported"] for a in ("default", "dynamo", "pinned")] == [False, True, False]
    assert summary["speedup_p50"]["pinned"]["single"] == (
        summary["arms"]["default"]["single"] / summary["arms"]["pinned"]["single"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('{"bench": "allocator"')
