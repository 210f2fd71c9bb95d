"""bench/latency.py: hole finding (pure) and one tiny end-to-end run, engine and LSP over stdio."""

import ast
import json

from bench import latency
from bench_tiny import tiny_models

SOURCE = '''import os


def area(w, h):
    result = w * h
    return result


class Box:
    def __init__(self, w, h):
        self.w = w
        self.h = h
        self.label = "box"

    def size(self):
        total = area(self.w, self.h)
        return total
'''


def test_single_line_holes_are_assignment_right_hand_sides():
    holes = latency.single_holes(SOURCE)
    assert [h.target for h in holes] == ["w * h", "w", "h", '"box"', "area(self.w, self.h)"]
    for h in holes:
        assert h.prefix.endswith(" = ") and h.suffix.startswith("\n")
        ast.parse(h.prefix + h.target + h.suffix)  # putting the middle back gives the file again
        assert h.prefix + h.target + h.suffix == SOURCE


def test_multi_line_holes_are_function_bodies():
    holes = latency.multi_holes(SOURCE, hidden=2)
    assert [h.line for h in holes] == [4, 10, 15]
    first = holes[0]
    assert first.prefix.endswith("def area(w, h):\n    ") and first.target == "result = w * h\n    return result"
    assert first.suffix.startswith("\n\n\nclass Box")
    assert all(h.prefix + h.target + h.suffix == SOURCE for h in holes if h.line != 15)
    assert latency.pick(holes, 2, seed=0) == latency.pick(holes, 2, seed=0)


def test_latency_end_to_end_on_a_tiny_model(tmp_path, capsys):
    out = tmp_path / "lat.jsonl"
    summary = latency.main(["--model", str(tiny_models()["diffusion"]), "--contexts", "64,128", "--n", "2",
                            "--warmup", "1", "--import-repeats", "1", "--out", str(out)])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["bench"] == "latency" and last["targets"] == summary["targets"]
    for path in ("engine", "lsp"):
        for mode in ("single", "multi"):
            for ctx in ("64", "128"):
                cell = last[path][mode][ctx]
                assert cell["n"] == 2 and cell["latency_ms"]["p50"] > 0
    eng = last["engine"]["single"]["128"]
    assert eng["nfe_mean"] >= 1 and eng["tokens_per_call"] is not None and eng["context_tokens_mean"] > 64
    assert last["lsp_server_stats"]["scheduler"]["served"] == 2 * 2 * (2 + 1)  # modes x contexts x (n + warm-up)
    assert last["cache"]["multi"]["n"] == 2 and last["cache"]["multi"]["ratio_p50"] > 0
    assert last["memory"]["peak_rss_mb"] > 50 and last["import"]["import_dllm_s"] > 0
    assert 0 < last["memory"]["load_s"] < last["memory"]["first_completion_s"]
    assert {"cpu", "cores", "git", "utc"} <= set(last["stamp"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2 * 2 and (tmp_path / "lat.summary.json").is_file()
