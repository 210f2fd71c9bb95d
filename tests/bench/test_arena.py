"""bench/arena.py: pairwise counting, paired wait, frontier and reference comparison on synthetic
results, and one tiny end-to-end run."""

import json

from bench import arena, common
from bench_tiny import tiny_models


def row(backend, task, passed, latency, nfe=1):
    return {"split": "single-line", "mode": "single", "backend": backend, "task_id": task, "passed": passed,
            "exact_match": False, "syntax_valid": True, "result": "passed" if passed else "failed",
            "latency_ms": latency, "nfe": nfe, "tokens": 3, "error": None}


ROWS = [  # A passes t1 t2 t3, B passes t1 t4, C passes nothing
    row("A", "t1", True, 10), row("A", "t2", True, 20), row("A", "t3", True, 30), row("A", "t4", False, 40),
    row("B", "t1", True, 100), row("B", "t2", False, 5), row("B", "t3", False, 50), row("B", "t4", True, 60),
    row("C", "t1", False, 1), row("C", "t2", False, 2), row("C", "t3", False, 3), row("C", "t4", False, 4),
]


def test_pairwise_counts_and_pair_wait():
    pairs = {(p["a"], p["b"]): p for p in arena.pairwise(ROWS)}
    ab = pairs["A", "B"]
    # t1 both pass (tie), t2 A only (win), t3 A only (win), t4 B only (loss)
    assert (ab["win"], ab["tie"], ab["loss"], ab["both_pass"], ab["both_fail"]) == (2, 1, 1, 1, 0)
    assert ab["n"] == 4 and ab["a_faster"] == 0.75
    # the user waits for the slower of the two: max per hole = 100, 20, 50, 60 -> p50 = 55
    assert ab["pair_wait_ms"]["p50"] == 55
    ac = pairs["A", "C"]
    assert (ac["win"], ac["tie"], ac["loss"], ac["both_fail"]) == (3, 1, 0, 1)
    assert len(pairs) == 3


def test_backend_stats_frontier_and_versus():
    stats = arena.backend_stats(ROWS)
    assert stats["A"]["pass@1"] == 0.75 and stats["B"]["pass@1"] == 0.5 and stats["C"]["pass@1"] == 0.0
    assert stats["A"]["latency_ms"]["p50"] == 25 and stats["C"]["latency_ms"]["p50"] == 2.5
    # C is fastest, A is best; B (slower than A and worse) is dominated
    assert arena.frontier(stats) == ["C", "A"]
    vs = arena.versus(stats, "B")
    assert vs["A"]["speedup_p50"] == stats["B"]["latency_ms"]["p50"] / 25 and vs["A"]["pass_delta"] == 0.25
    assert vs["B"]["speedup_p50"] == 1.0 and arena.versus(stats, "missing") == {}


def test_errors_do_not_count_as_latency():
    rows = ROWS + [dict(row("D", "t1", False, None), error="RuntimeError: boom")]
    stats = arena.backend_stats(rows)
    assert stats["D"]["errors"] == 1 and stats["D"]["latency_ms"]["p50"] is None
    assert "D" not in arena.frontier(stats)


def test_arena_end_to_end_on_tiny_models(tmp_path, capsys):
    models = tiny_models()
    out = tmp_path / "arena.jsonl"
    summary = arena.main(["--splits", "single-line", "--limit", "2", "--warmup", "1", "--out", str(out),
                          "--backend", f"fast@dllm:{models['diffusion']}?threshold=0.5&syntax=0",
                          "--backend", f"ar:{models['ar']}", "--backend", f"hf:{models['ar']}"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["bench"] == "arena" and last["splits"]["single-line"]["reference"] == "ar"
    rows = common.read_jsonl(out)
    assert len(rows) == 6 and {r["backend"] for r in rows} == {"fast", "ar", "hf"}
    assert {"passed", "latency_ms", "nfe", "model", "commit", "machine", "completion"} <= set(rows[0])
    by = {(r["backend"], r["task_id"]): r["completion"] for r in rows}
    assert all(by["ar", t] == by["hf", t] for _, t in by)  # the fair-comparison property, again
    assert json.loads(common.summary_path(out).read_text())["splits"] == summary["splits"]
    assert {"cpu", "cores", "git"} <= set(last["stamp"]) and last["backends"]["ar"]["model"] == "tiny-ar"
