"""`dllm-complete` end to end: real subprocesses, real files, a tiny random checkpoint."""

import json
import os
import subprocess
import sys

import pytest

from dllm_complete.dllm.testing import tiny_checkpoint


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(tiny_checkpoint(tmp_path_factory.mktemp("cli-model")))


def run(*args, stdin=None):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # tests/kernels' conftest sets it
    return subprocess.run([sys.executable, "-m", "dllm_complete.lsp_server.cli", *args], capture_output=True, text=True,
                          input=stdin, timeout=120, env=env)


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("def f(x):\n    return \n\n# é😀 end\n", encoding="utf-8")
    return path


def test_completes_a_line_as_json(model, source):
    out = run(f"{source}:2", "--model", model, "--json", "--max-tokens", "8", "--steps", "4")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert isinstance(data["completion"], str) and "\n" not in data["completion"]
    assert data["raw"].startswith(data["completion"].rstrip())  # the engine's text, before post-processing
    assert data["stats"]["nfe"] <= 4 and data["language"] == "python"


def test_kernels_and_graphs_are_chosen_at_load(model, source):
    out = run(f"{source}:2", "--model", model, "--json", "--device", "cpu", "--kernels", "off", "--graphs", "off")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)["model"]
    assert (info["kernels"], info["graphs"]) == ("off", "off (asked)")


def test_plain_output_and_column(model, source):
    out = run(f"{source}:2:5", "--model", model, "--mode", "single", "--max-tokens", "4", "--no-syntax")
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("\n")


def test_a_line_longer_than_the_model_reads_is_cut_around_the_cursor(model, tmp_path):
    path = tmp_path / "min.js"  # minified: one line of some 6,000 tokens, past the model's 1,024 positions
    path.write_text("var a = [" + ",".join(str(i) for i in range(3000)) + "];\nf();\n")
    for column in (5000, 9000):
        out = run(f"{path}:1:{column}", "--model", model, "--json", "--max-tokens", "4", "--steps", "2")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["stats"]["context_tokens"] <= 512


def test_batch(model, tmp_path):
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"id": "a", "prefix": "x = ", "suffix": "\\n", "language": "python"}\n'
                     '{"id": 2, "prefix": "def g():\\n", "suffix": ""}\n')
    out = run("--batch", str(batch), "--model", model, "--max-tokens", "8")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", 2]
    assert all(set(r) == {"id", "completion", "mode", "nfe", "latency_ms"} for r in rows)


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"), ("directory", "is a directory"), ("binary", "binary"), ("line", "line 99 is out of range"),
    ("column", "column 50 is out of range"), ("model", "model directory not found"),
    ("location", "expected FILE:LINE"), ("empty_batch_line", "empty line"), ("bad_batch", "prefix"),
    ("device", "unknown device 'gpu0'"), ("kernels", "Triton kernels need a CUDA device"),
    ("graphs", "CUDA graphs need a CUDA device"),
])
def test_bad_input_is_one_line_exit_2(model, source, tmp_path, case, message):
    args = {
        "missing": [f"{tmp_path}/nope.py:1"],
        "directory": [f"{tmp_path}:1"],
        "binary": [],
        "line": [f"{source}:99"],
        "column": [f"{source}:2:50"],
        "model": [f"{source}:2", "--model", str(tmp_path / "no-model")],
        "location": [str(source)],
        "empty_batch_line": [],
        "bad_batch": [],
        "device": [f"{source}:2", "--device", "gpu0"],
        "kernels": [f"{source}:2", "--device", "cpu", "--kernels", "triton"],
        "graphs": [f"{source}:2", "--device", "cpu", "--graphs", "on"],
    }[case]
    if case == "binary":
        blob = tmp_path / "b.bin"
        blob.write_bytes(b"\x00\x01\x02" * 10)
        args = [f"{blob}:1"]
    if case in ("empty_batch_line", "bad_batch"):
        batch = tmp_path / "in.jsonl"
        batch.write_text('{"id": 1, "prefix": "a"}\n\n' if case == "empty_batch_line" else '{"id": 1}\n')
        args = ["--batch", str(batch)]
    out = run(*args, "--model", model) if case != "model" else run(*args)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_shown_as_an_editor_shows_it():
    from dllm_complete.lsp_server.cli import as_shown, window_at as window

    text = "def f(xs):\n    for x in xs:\n        \n    return xs\n"
    at = text.index("        \n") + 8
    raw = "print(x)\n        x += 1\n    return xs\n\n\ndef g():\n    pass"
    assert as_shown(raw, window(text, at), "multi", "\n") == "print(x)\n        x += 1"  # the block; no repeat
    assert as_shown(raw, window(text, at), "single", "\n") == "print(x)"
    crlf = text.replace("\n", "\r\n")
    assert as_shown(raw, window(crlf, at + 2), "multi", "\r\n") == "print(x)\r\n        x += 1"
    # at the start of a line that has text: whole lines inserted above it
    before = text.index("    return xs")
    assert as_shown("        total += x", window(text, before), "single", "\n") == "        total += x\n"
    assert as_shown("   ", window(text, before), "single", "\n") == ""
