"""The benchmark CLI end to end with a stand-in backend (no torch), and the common helpers."""

import json
import subprocess
import sys

from bench import common, humaneval
from bench import humaneval_infill as cli


class OracleBackend:
    """Answers every problem with its canonical middle, minus the trailing newline."""

    name = "oracle"

    def __init__(self, model, steps=None, threshold=None, syntax=True, block=None, dtype=None):
        problems = humaneval.load_split("single-line")
        self.answers = {(p["prompt"], p["suffix"]): p["canonical_solution"] for p in problems}
        self.info = {"backend": self.name, "model": model}

    def complete(self, prefix, suffix, mode, max_tokens):
        return cli.Generation(text=self.answers[prefix, suffix].rstrip("\n"), latency_ms=1.0, nfe=2)


def test_cli_writes_jsonl_and_summary_last(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(cli.BACKENDS, "oracle", OracleBackend)
    monkeypatch.setattr(common, "torch_info", lambda: {"torch": None, "gpu": None, "cuda": None})
    out = tmp_path / "r.jsonl"
    cli.main(["--split", "single-line", "--backend", "oracle", "--limit", "4", "--seed", "1",
              "--out", str(out), "--warmup", "0"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and all(r["passed"] and r["exact_match"] for r in rows)
    assert {"task_id", "completion", "result", "syntax_valid", "latency_ms", "nfe"} <= set(rows[0])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 4 and summary["pass@1"] == 1.0 and summary["mode"] == "single"
    assert summary["nfe_mean"] == 2 and summary["latency_ms"]["p50"] == 1.0
    assert {"cpu", "cores", "git", "utc", "python"} <= set(summary["stamp"])


def test_percentiles():
    assert common.percentiles(range(101)) == {"p50": 50, "p95": 95, "p99": 99}
    assert common.percentile([], 50) is None
    assert common.percentile([1.0, 3.0], 50) == 2.0


def test_scorer_and_common_do_not_import_torch():
    code = "import sys; from bench import common, humaneval; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=common.REPO_ROOT, check=True)


def test_dllm_backend_passes_overrides_and_uses_the_syntax_constraint(tmp_path):
    from dllm_complete.dllm.testing import tiny_checkpoint

    path = str(tiny_checkpoint(tmp_path / "tiny"))
    backend = cli.BACKENDS["dllm"](path, steps=4, threshold=0.5)
    gen = backend.complete("def f():\n", "", "multi", 32)
    assert gen.nfe <= 4 and gen.latency_ms >= 0
    assert backend.info["sampler"]["max_steps"] == 4 and backend.info["sampler"]["threshold"] == 0.5
    assert backend.info["syntax"] and not cli.BACKENDS["dllm"](path, syntax=False).info["syntax"]
    assert cli.BACKENDS["ar"](str(tiny_checkpoint(tmp_path / "ar", kind="ar"))).info["syntax"]  # the same for both
