"""dllm-arena report: Bradley-Terry scores recovered from votes drawn with known strengths, bench rows as
simulated votes, the command end to end, and bad input as one line on stderr."""

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dllm_complete.lsp_server import leaderboard

STRENGTH = {"w1": 1.0, "w2": 2.0, "w4": 4.0, "w8": 8.0}


def synthetic_votes(n: int, seed: int) -> list[dict]:
    """Votes between random pairs: 10% "none"; else the Bradley-Terry winner, or (30%) two independent
    draws with a tie where they disagree, so a's expected share is its win probability either way."""
    rng = random.Random(seed)
    votes = []
    for k in range(n):
        a, b = rng.sample(list(STRENGTH), 2)
        p = STRENGTH[a] / (STRENGTH[a] + STRENGTH[b])
        if rng.random() < 0.1:
            winner = "none"
        elif rng.random() < 0.3:
            x, y = rng.random() < p, rng.random() < p
            winner = "a" if x and y else "b" if not (x or y) else "tie"
        else:
            winner = "a" if rng.random() < p else "b"
        votes.append({"time": 1765000000.0 + k, "source": "editor", "round": f"r{k}", "a": a, "b": b,
                      "first": rng.choice("ab"), "winner": winner,
                      "latency_ms": {"a": 10 * STRENGTH[a], "b": None if k % 50 == 0 else 10 * STRENGTH[b]},
                      "status": {"a": "ok", "b": "timeout" if k % 50 == 0 else "ok"}})
    return votes


def bench_row(backend, task, passed, latency, split="single-line", error=None):
    return {"split": split, "mode": "single", "backend": backend, "spec": backend, "task_id": task,
            "completion": "" if error else "x", "latency_ms": latency, "passed": passed, "error": error}


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "dllm_complete.lsp_server.leaderboard", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_scores_recover_known_strengths():
    report = leaderboard.build(synthetic_votes(3000, seed=1), n_boot=200, seed=0)
    board = report["leaderboard"]
    assert [r["backend"] for r in board] == ["w8", "w4", "w2", "w1"]
    true = leaderboard.elo(np.log(list(STRENGTH.values())))
    for r in board:
        lo, hi = r["ci95"]
        half = (hi - lo) / 2
        assert lo < r["score"] < hi and half < 40
        assert abs(r["score"] - true[list(STRENGTH).index(r["backend"])]) <= 2 * half, r
    assert abs(sum(r["score"] for r in board) / 4 - 1000) < 0.5
    assert board[0]["win_rate"] > 0.7 and board[-1]["win_rate"] < 0.3
    assert 0.07 < report["dismiss_rate"] < 0.13
    assert board[0]["latency_ms"]["p50"] == 80 and board[-1]["latency_ms"]["mean"] == 10
    assert sum(r["timeouts"] for r in board) == 60


def test_dismissals_stay_out_of_the_fit():
    votes = synthetic_votes(600, seed=6)
    with_none, without = (leaderboard.build(vs, n_boot=50, seed=1)["leaderboard"]
                          for vs in (votes, [v for v in votes if v["winner"] != "none"]))
    assert [(r["backend"], r["score"], r["ci95"], r["win_rate"]) for r in with_none] == \
           [(r["backend"], r["score"], r["ci95"], r["win_rate"]) for r in without]
    assert all(r["dismissed"] > 0 for r in with_none) and all(r["dismissed"] == 0 for r in without)


def test_fit_is_the_maximum_of_the_likelihood():
    wins = np.array([[0, 7, 3], [2, 0, 5], [0, 4, 0]], dtype=float)  # the third never beat the first
    p = np.exp(leaderboard.fit(wins))
    games = wins + wins.T
    # the score equations, the virtual tie against the reference (strength 1) included
    grad = wins.sum(1) + 0.5 - (games * p[:, None] / (p[:, None] + p[None, :])).sum(1) - p / (p + 1)
    assert np.all(np.isfinite(p)) and np.abs(grad).max() < 1e-6


def test_bench_rows_become_pairwise_votes():
    rows = [bench_row("A", "t1", True, 10), bench_row("B", "t1", True, 100), bench_row("C", "t1", False, 1),
            bench_row("A", "t2", False, 20), bench_row("B", "t2", True, 5), bench_row("C", "t2", False, 2),
            bench_row("A", "t3", False, 30), bench_row("B", "t3", False, None, error="Boom"),
            bench_row("A", "t1", False, 40, split="multi-line")]  # alone on its task: no pair
    votes = leaderboard.bench_votes(rows, "arena.jsonl")
    outcome = Counter((v["task_id"], v["a"], v["b"], v["winner"]) for v in votes)
    assert outcome == Counter({("t1", "A", "B", "tie"): 1, ("t1", "A", "C", "a"): 1, ("t1", "B", "C", "a"): 1,
                               ("t2", "A", "B", "b"): 1, ("t2", "A", "C", "tie"): 1, ("t2", "B", "C", "a"): 1,
                               ("t3", "A", "B", "tie"): 1})
    assert all(v["source"] == "bench" for v in votes)
    report = leaderboard.build(votes, n_boot=0, seed=0)
    by = {r["backend"]: r for r in report["leaderboard"]}
    assert (by["A"]["wins"], by["A"]["losses"], by["A"]["ties"]) == (1, 1, 3)
    assert (by["B"]["wins"], by["B"]["losses"], by["B"]["ties"]) == (3, 0, 2)
    assert (by["C"]["wins"], by["C"]["losses"], by["C"]["ties"]) == (0, 3, 1)
    assert [r["backend"] for r in report["leaderboard"]] == ["B", "A", "C"] and by["B"]["ci95"] is None
    assert report["pairwise"]["B"]["C"] == {"games": 2, "win_rate": 1.0}
    # latency once per (task, backend), not once per pair; B's error is counted, not timed
    assert by["A"]["latency_ms"]["n"] == 3 and by["A"]["latency_ms"]["p50"] == 20
    assert by["B"]["latency_ms"]["n"] == 2 and by["B"]["errors"] == 1


def test_cli_writes_json_and_html_and_prints_the_summary_last(tmp_path):
    log = write_jsonl(tmp_path / "votes.jsonl", synthetic_votes(400, seed=2))
    log.write_text(log.read_text() + "{not json\n")
    bench = write_jsonl(tmp_path / "bench.jsonl", [bench_row("w1", "t1", True, 10), bench_row("w8", "t1", False, 50)])
    out = run("report", log, bench, "--bootstrap", 50, "--seed", 3, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    folder = tmp_path / "votes-report"
    assert summary["out"] == str(folder) and summary["votes"] == 401 and summary["skipped_lines"] == 1
    assert summary["sources"] == {"editor": 400, "bench": 1}
    assert summary["leaderboard"][0]["backend"] == "w8"
    saved = json.loads((folder / "leaderboard.json").read_text())
    assert saved["bootstrap"] == 50 and len(saved["leaderboard"]) == 4 and saved["leaderboard"][0]["rank"] == 1
    page = (folder / "leaderboard.html").read_text()
    assert page.count("<svg") == 2 and "w8" in page and "Pairwise win rate" in page
    assert "skipped 1 malformed line(s)" in out.stderr and "Traceback" not in out.stderr


def test_without_matplotlib_no_png_and_one_line_says_so(tmp_path, monkeypatch, capsys):
    log = write_jsonl(tmp_path / "v.jsonl", synthetic_votes(100, seed=3))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert leaderboard.main(["report", str(log), "--out", str(tmp_path / "board"), "--bootstrap", "10"]) == 0
    err = capsys.readouterr().err
    assert "matplotlib is not installed" in err
    assert sorted(p.name for p in (tmp_path / "board").iterdir()) == ["leaderboard.html", "leaderboard.json"]


def test_png_plots_where_matplotlib_is_installed(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    log = write_jsonl(tmp_path / "v.jsonl", synthetic_votes(100, seed=4))
    assert leaderboard.main(["report", str(log), "--bootstrap", "10"]) == 0
    files = json.loads(capsys.readouterr().out.splitlines()[-1])["files"]
    assert {p.rsplit("/", 1)[-1] for p in files} >= {"scores.png", "latency.png"}
    assert all((tmp_path / "v-report" / name).stat().st_size > 0 for name in ("scores.png", "latency.png"))


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "empty log"),
    ("{oops\nnot json either\n", "no line is a JSON object (2 malformed)"),
    ('{"a": "x", "b": "x", "winner": "a"}\n{"hello": 1}\n', "no votes"),
    ('{"backend": "A", "task_id": "t1", "passed": true}\n', "no task has results from two backends"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, message):
    log = tmp_path / "log.jsonl"
    if content is not None:
        log.write_text(content)
    out = run("report", log, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("dllm-arena: error:")
    assert message in out.stderr, out.stderr
    assert not (tmp_path / "log-report").exists()


def test_one_label_for_two_models_across_logs_is_refused_and_runs_stay_apart(tmp_path):
    one = write_jsonl(tmp_path / "one.jsonl", [dict(bench_row("dllm", "t1", True, 10), spec="dllm:/tiny"),
                                              bench_row("ar", "t1", False, 50)])
    two = write_jsonl(tmp_path / "two.jsonl", [dict(bench_row("dllm", "t1", False, 10), spec="dllm:default"),
                                              bench_row("ar", "t1", True, 50)])
    out = run("report", one, two, cwd=tmp_path)
    assert out.returncode == 2 and "label 'dllm' names different backends" in out.stderr
    # two logs of the same name (two runs' arena.jsonl) and a text holding U+2028 keep all their rows
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    rows = [dict(bench_row("x", "t1", True, 10), completion="s = '\u2028'"), bench_row("y", "t1", False, 20)]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # as bench.arena writes them
    logs = [tmp_path / d / "arena.jsonl" for d in "ab"]
    for log in logs:
        log.write_text(text, encoding="utf-8")
    votes = [v for log in logs for v in leaderboard.load_votes(log)[0]]
    report = leaderboard.build(votes, n_boot=0, seed=0)
    assert report["votes"] == 2 and {r["latency_ms"]["n"] for r in report["leaderboard"]} == {2}


def test_backends_with_equal_scores_share_a_rank():
    votes = [{"a": "P", "b": "Q", "winner": "tie", "round": f"r{i}"} for i in range(4)]
    board = leaderboard.build(votes, n_boot=0, seed=0)["leaderboard"]
    assert [(r["backend"], r["rank"]) for r in board] == [("P", 1), ("Q", 1)]


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).parent / "dllm-arena"
    assert script.is_file(), f"dllm-arena is not installed beside {sys.executable}: pip install -e ."
    out = subprocess.run([str(script), "report", str(tmp_path / "missing.jsonl")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and out.stderr.strip() == f"dllm-arena: error: no such file: {tmp_path}/missing.jsonl"


def test_negative_bootstrap_is_refused(tmp_path, capsys):
    log = write_jsonl(tmp_path / "v.jsonl", synthetic_votes(20, seed=5))
    assert leaderboard.main(["report", str(log), "--bootstrap", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "dllm-arena: error: --bootstrap -1: must be >= 0"


def test_elo_scale():
    scores = leaderboard.elo(np.log([1.0, 10.0]))
    assert scores[1] - scores[0] == pytest.approx(400) and scores.mean() == pytest.approx(1000)


def test_latencies_that_cannot_be_times_are_not_timed(tmp_path, capsys):
    votes = [{"a": "x", "b": "y", "winner": w, "latency_ms": {"a": -5, "b": ms}} for w, ms in
             (("a", -3), ("b", float("inf")), ("a", 12.0))]
    log = tmp_path / "v.jsonl"
    log.write_text("".join(json.dumps(v) + "\n" for v in votes))  # json writes inf as Infinity
    assert leaderboard.main(["report", str(log), "--out", str(tmp_path / "board"), "--bootstrap", "10"]) == 0
    board = {row["backend"]: row for row in json.loads((tmp_path / "board" / "leaderboard.json").read_text())["leaderboard"]}
    assert board["x"]["latency_ms"]["n"] == 0 and board["y"]["latency_ms"]["n"] == 1


def test_a_log_read_twice_counts_once_and_odd_round_ids_are_rounds_of_their_own(tmp_path):
    votes = [{"round": f"r{k}", "a": "x", "b": "y", "winner": "a"} for k in range(3)]
    votes += [{"round": odd, "a": "x", "b": "y", "winner": "b"} for odd in (None, "", ["r"], {"r": 1})]
    log = write_jsonl(tmp_path / "votes.jsonl", votes)
    out = run("report", log, log, "--bootstrap", 20, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["votes"] == 11 and "skipped 3 vote(s) of rounds read already" in out.stderr  # ids only
    assert leaderboard.rounds(votes, {"x": 0, "y": 1}).shape == (7, 2, 2)


def test_a_bench_task_is_resampled_as_one_round_and_ranks_follow_the_intervals():
    rows = [bench_row(b, f"t{t}", (t + k) % 3 == 0, 10) for t in range(30) for k, b in enumerate(("x", "y", "z"))]
    votes = leaderboard.bench_votes(rows, "log")
    mats = leaderboard.rounds(votes, {"x": 0, "y": 1, "z": 2})
    assert len(votes) == 90 and mats.shape == (30, 3, 3)  # three pairwise votes a task, one outcome per backend
    assert np.allclose(mats.sum(0) + mats.sum(0).T, 30 * (1 - np.eye(3)))  # every vote counted once
    board = leaderboard.build(synthetic_votes(400, seed=2), 200, 3)["leaderboard"]
    ranks = {r["backend"]: r["rank"] for r in board}  # w2 and w1 overlap: one rank, as Chatbot Arena's
    assert ranks == {"w8": 1, "w4": 2, "w2": 3, "w1": 3}
