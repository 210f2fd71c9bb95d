"""HumanEval-infilling scorer: verdicts on real problems, and the sandbox's limits and guards."""

import subprocess
import sys

import pytest

from bench import common, humaneval

TASKS = ("SingleLineInfilling/HumanEval/0/L0", "SingleLineInfilling/HumanEval/2/L0",
         "SingleLineInfilling/HumanEval/12/L3")


@pytest.fixture(scope="module")
def problems():
    by_id = {p["task_id"]: p for p in humaneval.load_split("single-line")}
    return [by_id[t] for t in TASKS]


def synthetic(body: str) -> dict:
    """A tiny problem whose middle is the body of f(); f() must return 1."""
    return {"task_id": "Synthetic/0", "entry_point": "f", "prompt": "import os, shutil\n\ndef f():\n",
            "suffix": "    return 1\n", "canonical_solution": "    pass\n",
            "test": "def check(candidate):\n    assert candidate() == 1\n"}, body


def test_splits_load_and_sample_deterministically():
    ps = humaneval.load_split("single-line")
    assert len(ps) == 1033 and set(humaneval.FIELDS) <= set(ps[0])
    a, b = humaneval.sample(ps, 5, seed=3), humaneval.sample(ps, 5, seed=3)
    assert [p["task_id"] for p in a] == [p["task_id"] for p in b]
    assert humaneval.sample(ps, None) == ps
    assert humaneval.default_mode("single-line") == "single"
    assert humaneval.default_mode("random-span") == "multi"


def test_canonical_solutions_pass(problems):
    verdicts = humaneval.score_many(problems, [p["canonical_solution"] for p in problems], workers=2)
    for v in verdicts:
        assert v == {**v, "passed": True, "result": "passed", "exact_match": True, "syntax_valid": True}


def test_missing_trailing_newline_is_tolerated_on_line_splits(problems):
    p = problems[0]
    v = humaneval.score(p, p["canonical_solution"].rstrip("\n"))
    assert v["passed"] and v["exact_match"]


def test_typed_indent_puts_the_cursor_after_the_indentation(problems):
    typed = [humaneval.typed_indent(p) for p in problems]
    for p, t in zip(problems, typed):
        middle = p["canonical_solution"]
        indent = middle[:len(middle) - len(middle.lstrip())]
        assert t["prompt"] == p["prompt"] + indent and t["suffix"] == "\n" + p["suffix"]
        assert humaneval.infilled_source(t, t["canonical_solution"]) == humaneval.infilled_source(p, middle)
        assert humaneval.score(t, t["canonical_solution"])["passed"]
    assert not humaneval.score(typed[0], "    " + typed[0]["canonical_solution"])["syntax_valid"]  # indented twice
    word = humaneval.typed_indent(problems[0], chars=3)
    assert word["prompt"] == typed[0]["prompt"] + typed[0]["canonical_solution"][:3]
    assert humaneval.score(word, word["canonical_solution"])["passed"]


def test_empty_completion_fails(problems):
    v = humaneval.score(problems[0], "")
    assert not v["passed"] and v["result"] in ("failed", "error")
    assert not v["exact_match"] and not v["syntax_valid"]


def test_wrong_completion_fails(problems):
    v = humaneval.score(problems[0], "    for idx, elem in enumerate(numbers[:1]):\n")
    assert v["result"] == "failed" and not v["passed"]
    assert v["syntax_valid"] and not v["exact_match"]


def test_infinite_loop_times_out():
    problem, body = synthetic("    while True:\n        pass\n")
    v = humaneval.score(problem, body, timeout_s=2)
    assert v["result"] == "timeout" and not v["passed"]


@pytest.mark.parametrize("bomb", ["    x = b'x' * (4 * 1024 ** 3)\n",
                                  "    xs = []\n    while True:\n        xs.append(bytearray(10 ** 7))\n"])
def test_memory_bomb_is_stopped(bomb):
    problem, body = synthetic(bomb)
    v = humaneval.score(problem, body, timeout_s=5, mem_mb=512)
    assert v["result"] == "error" and v["detail"] == "MemoryError"


ATTEMPTS = [
    "os.remove(S)", "os.unlink(S)", "shutil.rmtree(D)", "open(S, 'w').write('gone')",
    "open(S, 'a').write('more')", "os.rename(S, S + '.moved')", "os.replace(S, 'here')",
    "shutil.move(S, 'here')", "os.truncate(S, 0)", "__import__('pathlib').Path(S).unlink()",
    "__import__('pathlib').Path(S).write_text('gone')", "os.system('rm -f ' + S)",
    "__import__('subprocess').run(['rm', '-rf', D])", "os.chdir(D); os.remove('sentinel.txt')",
]


def test_file_guard_protects_paths_outside_sandbox(tmp_path):
    d = tmp_path / "keep"
    d.mkdir()
    sentinel = d / "sentinel.txt"
    sentinel.write_text("intact")
    lines = [f"    S, D = {str(sentinel)!r}, {str(d)!r}", "    refused = 0"]
    for attempt in ATTEMPTS:
        lines += ["    try:", f"        {attempt}", "    except PermissionError:", "        refused += 1"]
    lines += [f"    assert refused == {len(ATTEMPTS)}, refused"]
    problem, body = synthetic("\n".join(lines) + "\n")
    v = humaneval.score(problem, body)
    assert v["passed"], v["detail"]  # every attempt raised PermissionError inside the child
    assert sentinel.read_text() == "intact" and sorted(x.name for x in d.iterdir()) == ["sentinel.txt"]


def test_uncaught_delete_is_an_error_and_file_survives(tmp_path):
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("intact")
    problem, body = synthetic(f"    shutil.rmtree({str(tmp_path)!r})\n")
    v = humaneval.score(problem, body)
    assert v["result"] == "error" and "PermissionError" in v["detail"]
    assert sentinel.read_text() == "intact"


def test_sandbox_allows_its_own_directory_and_blocks_network():
    problem, body = synthetic(
        "    open('scratch.txt', 'w').write('x')\n"
        "    os.makedirs('a/b'); shutil.rmtree('a'); os.remove('scratch.txt')\n"
        "    import socket\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "        return 0\n"
        "    except PermissionError:\n"
        "        pass\n")
    v = humaneval.score(problem, body)
    assert v["passed"], v["detail"]


def test_early_exit_is_not_a_pass():
    for body in ("    raise SystemExit(0)\n", "    os._exit(0)\n"):
        problem, body = synthetic(body)
        assert humaneval.score(problem, body)["result"] == "error"


def test_percentiles():
    assert common.percentiles(range(101)) == {"p50": 50, "p95": 95, "p99": 99}
    assert common.percentile([], 50) is None
    assert common.percentile([1.0, 3.0], 50) == 2.0


def test_scorer_and_common_do_not_import_torch():
    code = "import sys; from bench import common, humaneval; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=common.REPO_ROOT, check=True)
