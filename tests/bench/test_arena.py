"""bench/arena.py: pairwise counting, paired wait, frontier and reference comparison on synthetic
results, one tiny end-to-end run, and one backend on one split (the plain evaluation) with a stand-in."""

import json

from bench import arena, common, humaneval
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


def test_a_backend_that_failed_fails_the_hole_unexecuted(monkeypatch):
    # its empty text would pass a hole that wants nothing (a comment line) and could top the leaderboard
    executed = []
    monkeypatch.setattr(humaneval, "score_many", lambda problems, texts, **kw: [
        executed.append(t) or {"passed": True, "result": "passed", "exact_match": True, "syntax_valid": True,
                               "detail": ""} for t in texts])
    rows = [{"task_id": "t1", "completion": "", "error": "ZeroDivisionError: boom"},
            {"task_id": "t1", "completion": "x", "error": None}]
    arena.score_rows(rows, {"t1": {}}, timeout_s=1, workers=1)
    assert executed == ["x"]
    assert (rows[0]["passed"], rows[0]["result"]) == (False, "backend_error") and rows[1]["passed"]


def test_a_split_typo_or_a_bad_spec_fails_in_one_line_before_any_model_loads(tmp_path, capsys):
    import pytest

    for argv, words in ((["--splits", "single-line,multi-lien", "--backend", f"dllm:{tmp_path / 'none'}"],
                         "unknown split 'multi-lien'"),  # the backend would not even load
                        (["--backend", "dllm:default?threshold=abc"], "'dllm:default?threshold=abc': could not"),
                        (["--backend", "dllm:default?empty=2"], "expected 0 or 1"),
                        (["--backend", "infill:localhost:8012"], "expected http(s)://HOST"),
                        (["--backend", "infill:http://u:pw@127.0.0.1:9"], "no user, password"),
                        (["--backend", "infill:http://h:abc"], "the port is not a number"),
                        (["--backend", f"ar:{tmp_path / 'none'}"], "--backend: model directory not found"),
                        (["--data-dir", str(tmp_path), "--backend", f"dllm:{tmp_path / 'none'}"],
                         "openai/human-eval-infilling: set DLLM_HUMANEVAL_INFILL_DIR")):
        with pytest.raises(SystemExit) as stop:
            arena.main(["--limit", "1", *argv, "--out", str(tmp_path / "x.jsonl")])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and words in err and "Traceback" not in err, err


def test_ctrl_c_keeps_the_splits_done_with_a_summary_that_says_so(tmp_path, monkeypatch, capsys):
    import pytest

    real = arena.run_split

    def interrupted_in_the_second(split, *args, **kw):
        if split == "multi-line":
            raise KeyboardInterrupt
        return real(split, *args, **kw)

    monkeypatch.setattr(arena, "run_split", interrupted_in_the_second)
    monkeypatch.setattr(arena.backends_mod, "parse_spec", lambda text: arena.backends_mod.Spec("oracle", None, {},
                                                                                               "oracle", "oracle"))
    monkeypatch.setattr(arena.backends_mod, "make", lambda spec, engines=None: Oracle())
    out = tmp_path / "arena.jsonl"
    out.write_text("an older run's rows\n")
    common.summary_path(out).write_text("{}")
    with pytest.raises(SystemExit) as stop:
        arena.main(["--splits", "single-line,multi-line", "--limit", "2", "--warmup", "0", "--out", str(out),
                    "--backend", "oracle"])
    assert stop.value.code == 130 and "interrupted in split multi-line" in capsys.readouterr().err
    assert [r["split"] for r in common.read_jsonl(out)] == ["single-line"] * 2
    summary = json.loads(common.summary_path(out).read_text())
    assert summary["interrupted"] and list(summary["splits"]) == ["single-line"]


def test_a_run_that_fails_later_keeps_the_splits_it_finished(tmp_path, monkeypatch):
    import pytest

    models, real = tiny_models(), arena.run_split

    def second_split_fails(split, *args, **kw):
        if split == "multi-line":
            raise RuntimeError("the machine went away")
        return real(split, *args, **kw)

    monkeypatch.setattr(arena, "run_split", second_split_fails)
    out = tmp_path / "arena.jsonl"
    with pytest.raises(RuntimeError):
        arena.main(["--splits", "single-line,multi-line", "--limit", "1", "--warmup", "0", "--out", str(out),
                    "--backend", f"dllm:{models['diffusion']}?syntax=0"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["split"] for r in rows] == ["single-line"] and "passed" in rows[0]


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


class Oracle:
    """A stand-in backend (no torch): every hole's canonical middle, minus the trailing newline."""

    label, spec, info = "oracle", "oracle", {"backend": "oracle", "model": "oracle"}

    def __init__(self):
        problems = humaneval.load_split("single-line")
        self.answers = {(p["prompt"], p["suffix"]): p["canonical_solution"] for p in problems}

    def complete(self, prefix, suffix, mode, max_tokens):
        return self.answers[prefix, suffix].rstrip("\n"), {"latency_ms": 1.0, "nfe": 2, "tokens": 3, "steps": 2,
                                                           "timings_ms": {"total": 1.0}}


def test_one_backend_on_one_split_writes_jsonl_and_summary_last(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(arena.backends_mod, "parse_spec", lambda text: arena.backends_mod.Spec("oracle", None, {},
                                                                                               "oracle", "oracle"))
    monkeypatch.setattr(arena.backends_mod, "make", lambda spec, engines=None: Oracle())
    monkeypatch.setattr(common, "torch_info", lambda: {"torch": None, "gpu": None, "cuda": None})
    out = tmp_path / "r.jsonl"
    arena.main(["--backend", "oracle", "--split", "single-line", "--limit", "4", "--seed", "1", "--out", str(out),
                "--warmup", "0"])
    rows = common.read_jsonl(out)
    assert len(rows) == 4 and all(r["passed"] and r["exact_match"] and r["mode"] == "single" for r in rows)
    fields = {"task_id", "completion", "result", "syntax_valid", "latency_ms", "nfe", "timings_ms", "error"}
    assert fields <= set(rows[0])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    split = summary["splits"]["single-line"]
    numbers = split["backends"]["oracle"]
    assert split["mode"] == "single" and numbers["n"] == 4 and numbers["pass@1"] == 1.0
    assert numbers["nfe_mean"] == 2 and numbers["latency_ms"]["p50"] == 1.0 and numbers["errors"] == 0
    assert {"cpu", "cores", "git", "utc", "python"} <= set(summary["stamp"]) and not summary["typed_indent"]


def test_spec_mistakes_are_refused_not_ignored():
    import pytest

    from bench.backends import parse_spec

    for text, words in (("dllm:default?draft=8", "unknown parameter"),  # the diffusion engine drafts nothing
                        ("ar:x?threshold=0.5", "unknown parameter"),  # nor does the AR decoder commit by threshold
                        ("dllm:default?threshold=0.5&threshold=0.9", "given twice")):
        with pytest.raises(ValueError, match=words):
            parse_spec(text)
    assert parse_spec("ar:x?draft=8").params == {"draft": "8"}


def test_a_completion_holding_a_lone_surrogate_is_scored_not_raised():
    # an HTTP backend's JSON may carry "\ud800"; writing the program raised and ended the whole run
    result, _ = humaneval.execute("x = '\ud800'\n", timeout_s=10)
    assert result in ("passed", "failed", "error")


def test_servers_over_http_are_backends_as_the_editor_arena_asks_them(tmp_path, monkeypatch, http_stub):
    asked, keys = [], []
    monkeypatch.setenv("ARENA_TEST_KEY", "s3cret")

    def llama_like(method, path, headers, body):  # a server speaking llama.cpp's and OpenAI's shapes
        asked.append((path, json.loads(body)))
        keys.append(headers.get("Authorization"))
        text = "return x\nprint(1)"  # the single-line cut is the arena's, as for our engines
        return 200, {}, json.dumps({"content": text} if path == "/infill" else {"choices": [{"text": text}]}).encode()

    url = http_stub(llama_like)
    out = tmp_path / "http.jsonl"
    summary = arena.main(["--splits", "single-line", "--limit", "2", "--warmup", "0", "--out", str(out),
                          "--backend", f"llama@infill:{url}?key_env=ARENA_TEST_KEY",
                          "--backend", f"oai@openai:{url}/v1?model=m"])
    rows = common.read_jsonl(out)
    assert {r["backend"] for r in rows} == {"llama", "oai"} and all(r["completion"] == "return x" for r in rows)
    assert all(r["error"] is None and r["nfe"] is None and r["latency_ms"] > 0 for r in rows)
    assert {p for p, _ in asked} == {"/infill", "/v1/completions"}
    assert all(b.get("n_predict", b.get("max_tokens")) == 32 and b["temperature"] == 0 for _, b in asked)
    assert [b["model"] for p, b in asked if p == "/v1/completions"] == ["m", "m"]
    assert [k for (p, _), k in zip(asked, keys) if p == "/infill"] == ["Bearer s3cret"] * 2  # from key_env only
    assert [k for (p, _), k in zip(asked, keys) if p != "/infill"] == [None, None]
    assert all("s3cret" not in json.dumps(r) for r in rows)
    assert summary["splits"]["single-line"]["backends"]["llama"]["nfe_mean"] is None
