"""bench.serve_load end to end at a tiny size: real servers, real HTTP, the summary's shape."""

from bench import serve_load


def test_holes_are_llama_vscode_requests_at_assignments():
    bodies = serve_load.holes(5)
    assert len(bodies) == 5
    for body in bodies:
        assert body["prompt"].rstrip().endswith("=") and body["input_suffix"].startswith("\n")
        assert body["input_prefix"].endswith("\n") or not body["input_prefix"]


def test_a_tiny_run_reports_every_cell(tmp_path):
    summary = serve_load.main(["--rounds", "1", "--clients", "1,2", "--per-client", "1", "--holes", "2", "--empty", "3",
                               "--out", str(tmp_path / "load.jsonl")])
    assert set(summary["cells"]) == {"batched/1", "batched/2", "serial/1", "serial/2"}
    assert all(cell["errors"] == 0 and cell["per_s"] > 0 for cell in summary["cells"].values())
    assert set(summary["throughput_batched_over_serial"]) == {1, 2}
    assert summary["same_answers"]["batched"]["holes"] == 2
    assert all(ms > 0 for ms in summary["empty_request_p50_ms"].values())
    assert (tmp_path / "load.summary.json").exists()
