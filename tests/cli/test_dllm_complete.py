"""`dllm-complete` end to end: real subprocesses, real files, a tiny random checkpoint."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

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
    assert data["stats"]["nfe"] <= 4 and data["language"] == "python" and data["stats"]["cap"] == 8


def test_an_unsaved_buffer_comes_from_standard_input_named_by_its_file(model, source, tmp_path):
    saved = run(f"{source}:2", "--model", model, "--json")
    unsaved = run(f"{tmp_path}/not-yet-saved.py:2", "--stdin", "--model", model, "--json", stdin=source.read_text())
    assert saved.returncode == unsaved.returncode == 0, unsaved.stderr
    assert json.loads(unsaved.stdout)["language"] == "python"
    assert json.loads(unsaved.stdout)["stats"]["cap"] == 48  # the language server's single-line cap
    assert json.loads(unsaved.stdout)["raw"] == json.loads(saved.stdout)["raw"]
    named = run(f"{tmp_path}/SConstruct:2", "--stdin", "--language", "python", "--model", model, "--json",
                stdin=source.read_text())
    assert json.loads(named.stdout)["language"] == "python"
    edited = run(f"{source}:1", "--stdin", "--model", model, stdin="x = 1\n")  # the buffer, not the file on disk
    assert edited.returncode == 0 and run(f"{source}:4", "--stdin", "--model", model, stdin="x = 1\n").returncode == 2


def test_the_column_and_the_sampler_options_reach_the_engine(model, tmp_path):
    path = tmp_path / "w.py"
    path.write_text("def area(r):\n    return r\n")

    def answer(*args):
        out = run(*args, "--model", model, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    assert answer(f"{path}:1")["mode"] == "multi" and answer(f"{path}:1:5")["mode"] == "single"  # after `def `
    assert answer(f"{path}:1:5", "--mode", "multi")["mode"] == "multi"  # asked for by name
    capped = answer(f"{path}:2", "--steps", "1", "--block-size", "0", "--threshold", "1", "--no-syntax")
    assert capped["stats"]["steps"] == 1 and "scope" not in capped
    sampled = {answer(f"{path}:2", "--temperature", "1", "--seed", str(seed), "--no-syntax")["raw"]
               for seed in (1, 2, 3)}  # (no syntax cut: the tiny model's text would be cut to nothing)
    assert len(sampled) > 1


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
    ("diffusion_unread", "--draft-tokens: not used by diffusion models"),
    ("ar_unread", "--steps, --threshold, --no-cache: not used by autoregressive models"),
    ("stdin_batch", "--stdin goes with FILE:LINE"),
    ("language", "--language: no grammar for 'pyhton' (python, "),
    ("mps", "unsupported device 'mps' (cpu or cuda)"), ("no_file", "no FILE"),
    ("digits", "a line or column number of 5000 digits is out of range"),
    ("option", "argument --steps: invalid int value: 'abc' (see --help)"),
    ("batch_language", "in.jsonl:1: id 1: no grammar for language 'bogus'"),
    ("utf16", "is UTF-16 text; only UTF-8 is read"),
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
        "diffusion_unread": [f"{source}:2", "--draft-tokens", "4"],
        "ar_unread": [f"{source}:2", "--steps", "3", "--threshold", "0.5", "--no-cache", "--seed", "1"],
        "stdin_batch": ["--batch", "-", "--stdin"],
        "language": [f"{source}:2", "--language", "pyhton"],
        "mps": [f"{source}:2", "--device", "mps"],
        "no_file": [":2"],
        "digits": [f"{source}:{'9' * 5000}"],
        "option": [f"{source}:2", "--steps", "abc"],
        "batch_language": [],
        "utf16": [],
    }[case]
    if case == "binary":
        blob = tmp_path / "b.bin"
        blob.write_bytes(b"\x00\x01\x02" * 10)
        args = [f"{blob}:1"]
    if case == "utf16":
        (tmp_path / "u.py").write_text("x = 1\n", encoding="utf-16")
        args = [f"{tmp_path / 'u.py'}:1"]
    if case in ("empty_batch_line", "bad_batch", "batch_language"):
        batch = tmp_path / "in.jsonl"
        batch.write_text({"empty_batch_line": ' \n', "bad_batch": '{"id": 1}\n',
                          "batch_language": '{"id": 1, "prefix": "x = ", "language": "bogus"}\n'}[case])
        args = ["--batch", str(batch)]
    out = run(*args, *{"model": [], "ar_unread": ["--model", "ar-code-small"]}.get(case, ["--model", model]))
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_output_that_cannot_be_written_is_a_one_line_error(model, source):
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-m", "dllm_complete.lsp_server.cli", f"{source}:2", "--model", model],
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr == "dllm-complete: error: cannot write the output: no space left on device\n"
    closed = subprocess.run([sys.executable, "-m", "dllm_complete.lsp_server.cli", f"{source}:2", "--stdin", "--model",
                             model], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                            preexec_fn=lambda: os.close(0))
    assert closed.returncode == 2 and closed.stderr == "dllm-complete: error: standard input is closed\n"


GOOD_AND_BAD = ('{"id": "a", "prefix": "x = ", "suffix": "\\n", "language": "python"}\n'
                '{"id": "b", "suffix": ""}\n'  # no prefix: bad, but its id can be read
                'not json\n'
                '{"id": 4, "prefix": "def g():\\n"}\n')


def assert_good_answered_bad_reported(out, name):
    assert out.returncode == 2, out.stderr
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == ["a", 4]
    errors = out.stderr.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("dllm-complete: error: ") for e in errors), out.stderr
    assert f'{name}:2: id "b": ' in errors[0] and "prefix" in errors[0]
    assert f"{name}:3: not JSON" in errors[1]
    assert "Traceback" not in out.stderr


def test_batch_answers_every_good_line_and_reports_each_bad_one(model, tmp_path):
    batch = tmp_path / "in.jsonl"
    batch.write_text(GOOD_AND_BAD)
    out = run("--batch", str(batch), "--model", model, "--max-tokens", "4", "--steps", "2")
    assert_good_answered_bad_reported(out, str(batch))


def test_a_batch_file_splits_lines_as_a_stream_does(model, tmp_path):
    # JSON Lines end at "\n" (a "\r" before it is JSON whitespace); a lone "\r" ends no line
    text = ('{"id": "a", "prefix": "x = "}\r\n'
            '{"id": "b", "prefix": "y = "}\r{"id": "c", "prefix": "z = "}\n')
    batch = tmp_path / "in.jsonl"
    batch.write_bytes(text.encode())
    from_file = run("--batch", str(batch), "--model", model, "--max-tokens", "4", "--steps", "2")
    from_stdin = run("--batch", "-", "--model", model, "--max-tokens", "4", "--steps", "2", stdin=text)
    for out, name in ((from_file, str(batch)), (from_stdin, "<stdin>")):
        assert out.returncode == 2, out.stderr
        assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == ["a"]
        assert out.stderr.startswith(f"dllm-complete: error: {name}:2: not JSON"), out.stderr


def test_a_batch_file_may_start_with_a_byte_order_mark_and_needs_a_name(model, tmp_path):
    batch = tmp_path / "in.jsonl"
    batch.write_bytes(b'\xef\xbb\xbf{"id": "a", "prefix": "x = "}\n')  # as Notepad writes it
    out = run("--batch", str(batch), "--model", model, "--max-tokens", "4", "--steps", "2")
    assert out.returncode == 0 and json.loads(out.stdout)["id"] == "a", out.stderr
    out = run("--batch", "", "--model", model)
    assert (out.returncode, out.stderr) == (2, "dllm-complete: error: --batch needs a file name (- for stdin)\n")


def test_batch_stream_answers_and_reports_each_line_as_it_arrives(model):
    """stdin: an answer (or an error) comes back while the next line has not been written yet."""
    proc = subprocess.Popen([sys.executable, "-m", "dllm_complete.lsp_server.cli", "--batch", "-", "--model", model,
                             "--max-tokens", "4", "--steps", "2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1,
                            env={k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"})
    watchdog = threading.Timer(120, proc.kill)  # a hang fails the reads below instead of the whole run
    watchdog.start()
    try:
        lines = GOOD_AND_BAD.splitlines(keepends=True)
        proc.stdin.write(lines[0])
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == "a"
        for line, where in ((lines[1], "<stdin>:2: id \"b\""), (lines[2], "<stdin>:3: not JSON")):
            proc.stdin.write(line)
            proc.stdin.flush()
            error = proc.stderr.readline()
            assert error.startswith("dllm-complete: error: ") and where in error, error
        proc.stdin.write(lines[3])
        proc.stdin.close()
        assert json.loads(proc.stdout.readline())["id"] == 4
        assert proc.wait() == 2
        assert proc.stdout.read() == "" and proc.stderr.read() == ""
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()


@pytest.fixture()
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_special_files_are_named_for_what_they_are(model, fifo):
    for path, kind in ((os.devnull, "a character device"), (fifo, "a FIFO")):
        out = run(f"{path}:1", "--model", model)
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr.strip() == f"dllm-complete: error: {path} is not a regular file ({kind})"


def test_batch_from_dev_null_is_an_empty_batch(model):
    out = run("--batch", os.devnull, "--model", model)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_batch_from_a_fifo_is_read_as_a_stream(model, fifo):
    def write() -> None:
        with open(fifo, "w") as f:  # waits for the command to open it for reading
            f.write(GOOD_AND_BAD)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        out = run("--batch", str(fifo), "--model", model, "--max-tokens", "4", "--steps", "2")
    finally:
        if writer.is_alive():  # the command never opened it: let the writer go
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(10)
    assert_good_answered_bad_reported(out, str(fifo))


@pytest.mark.parametrize("option, message", [
    (["--threshold", "1.5"], "--threshold 1.5: sampler: threshold must be in [0, 1]"),
    (["--threshold", "nan"], "--threshold nan: sampler: threshold must be in [0, 1]"),
    (["--steps", "0"], "--steps 0: sampler: max_steps must be >= 1"),
    (["--block-size", "-1"], "--block-size -1: sampler: "),
    (["--temperature", "-0.5"], "--temperature -0.5: sampler: "),
    (["--max-tokens", "0"], "--max-tokens 0: must be >= 1"),
    (["--draft-tokens", "-2"], "--draft-tokens -2: sampler: "),
])
@pytest.mark.parametrize("where", ["location", "batch"])
def test_bad_options_are_rejected_before_the_model_loads(source, tmp_path, option, message, where):
    """With a model directory that does not exist, loading would fail first: the option's error wins.
    Run in a process that reports whether torch (which the model loader needs) was ever imported."""
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"id": 1, "prefix": "x = "}\n')
    target = [f"{source}:2"] if where == "location" else ["--batch", str(batch)]
    probe = ("import sys; from dllm_complete.lsp_server.cli import complete_main; "
             "rc = complete_main(sys.argv[1:]); print('torch' in sys.modules); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", probe, *target, "--model", str(tmp_path / "no-model"), *option],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith(f"dllm-complete: error: {message}") and len(out.stderr.strip().splitlines()) == 1
    assert out.stdout == "False\n"  # torch never imported: no model was loaded


def test_prompt_lookup_drafts_give_the_ar_twin_the_same_answer_in_fewer_calls(tmp_path):
    import argparse as stdlib_argparse
    path = tmp_path / "argparse_copy.py"  # repetitive real code, where drafts are accepted
    path.write_text(open(stdlib_argparse.__file__).read())
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "def add_argument(" in text) + 1
    answers = [json.loads(run(f"{path}:{line}", "--model", "ar-code-small", "--mode", "multi", "--json", "--no-syntax",
                              *extra).stdout) for extra in ([], ["--draft-tokens", "8"])]  # drafting under test
    assert answers[0]["completion"] == answers[1]["completion"] and answers[0]["completion"].strip()
    assert answers[1]["stats"]["nfe"] < answers[0]["stats"]["nfe"]


def test_lines_and_columns_are_counted_as_editors_count_them(tmp_path):
    from dllm_complete.lsp_server.cli import UsageError, parse_location, read_source, split_at

    # a form feed, U+2028 and U+0085 are characters of a line, not line breaks; a lone \r is one
    text = "import os\n\x0c\ns = 'a\u2028b\x85c'\r\ndef f(x):\r    return \n"
    assert split_at(text, 4, None) == ("import os\n\x0c\ns = 'a\u2028b\x85c'\r\ndef f(x):", "\r    return \n")
    assert split_at(text, 5, 5)[1] == "return \n" and split_at(text, 6, None) == (text, "")
    assert split_at("a\rb\rc\r", 4, 1) == ("a\rb\rc\r", "")  # a file that ends in \r has an empty last line
    with pytest.raises(UsageError, match="the file has 1 line\\)"):
        split_at("x", 2, None)
    with pytest.raises(UsageError, match="has 1 character\\)"):
        split_at("x", 1, 3)
    bom = tmp_path / "bom.py"
    bom.write_bytes("\ufeffx = foo(1, 2)\n".encode())
    assert split_at(read_source(bom), 1, 9) == ("x = foo(", "1, 2)\n")  # a byte-order mark is no column
    assert parse_location("a.py:3:7") == (Path("a.py"), 3, 7)
    for spec in ("a.py:\u00b2", "a.py:1:\u00b2", "a.py:\u0663"):  # digits, but not ASCII ones
        with pytest.raises(UsageError, match="expected FILE:LINE"):
            parse_location(spec)


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
    # after the line's indentation, before its text: the same, the text moved down at its indentation
    after_indent = before + 4
    assert as_shown("total += x", window(text, after_indent), "single", "\n") == "total += x\n    "
    assert as_shown("total += x", window(crlf, after_indent + 3), "single", "\r\n") == "total += x\r\n    "


@pytest.mark.parametrize("family", ["dream", "diffucoder", "dreamon", "open-dcoder", "llada", "coda"])
def test_completes_with_each_published_family(tmp_path, source, family):
    # a checkpoint directory laid out as the family publishes it; its conventions come from the files
    from dllm_complete.dllm.published import published_checkpoint

    path = published_checkpoint(tmp_path / family, family)
    out = run(f"{source}:2", "--model", str(path), "--json", "--mode", "multi", "--max-tokens", "16")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["model"]["family"] == family and result["stats"]["nfe"] >= 1


@pytest.mark.parametrize("name, text, line", [
    ("a.py", None, 2),
    ("a.ts", "export function f(x: number): number {\n  return \n}\n", 2),
    ("main.go", "package main\n\nfunc f(x int) int {\n\treturn \n}\n", 4),  # the Go check reads its folder
])
def test_scope_check_reports_its_work(model, source, name, text, line):
    if text is not None:
        source = source.with_name(name)
        source.write_text(text)
    out = run(f"{source}:{line}", "--model", model, "--json", "--max-tokens", "8")
    assert out.returncode == 0, out.stderr
    scope = json.loads(out.stdout)["scope"]  # on by default
    assert scope["scope_checks"] >= 1 and scope["scope_remasked"] >= 0 and scope["scope_ms"] > 0
    plain = json.loads(run(f"{source}:{line}", "--model", model, "--json", "--no-scope", "--max-tokens", "8").stdout)
    assert "scope" not in plain


def test_a_reader_that_goes_away_ends_the_batch_quietly(model, tmp_path):
    batch = tmp_path / "many.jsonl"
    batch.write_text("".join(f'{{"id": {i}, "prefix": "x = "}}\n' for i in range(200)))
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.Popen([sys.executable, "-m", "dllm_complete.lsp_server.cli", "--batch", str(batch), "--model", model,
                             "--max-tokens", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert json.loads(proc.stdout.readline())["id"] == 0
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 141 and "Traceback" not in err, err  # 128 + SIGPIPE, as a shell reports it


def test_a_stop_signal_while_the_model_loads_ends_at_once_in_one_line():
    # the load imports torch, which an exception raised halfway through left broken (a traceback, or a
    # segfault on the way out): inside `stop_signals_exit` the signal ends the process there and then
    probe = ("import os, signal, time\n"
             "from dllm_complete.lsp_server.signals import stop_signals_exit\n"
             "with stop_signals_exit('dllm-complete'):\n"
             "    os.kill(os.getpid(), signal.SIGTERM)\n"
             "    time.sleep(30)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr, out.stdout) == (143, "dllm-complete: interrupted (SIGTERM)\n", "")


def test_a_batch_line_past_the_limit_is_reported_and_not_kept(monkeypatch):
    # `--batch /dev/zero` (a stream without line breaks) read one endless line into memory
    import io

    from dllm_complete.lsp_server import cli

    monkeypatch.setattr(cli, "MAX_LINE_BYTES", 100)
    stream = io.BytesIO(b'{"id": 1, "prefix": "x = "}\n' + b"0" * 1000 + b"\n" + b'{"id": 2, "prefix": "y"}\n')
    items = list(cli.parse_batch(cli.bounded_lines(stream), "<stdin>"))
    assert [getattr(item, "id", None) for item in items] == [1, None, 2]
    assert items[1].startswith("<stdin>:2: longer than")


def test_a_script_without_an_extension_takes_its_language_from_the_shebang(model, tmp_path):
    script = tmp_path / "tool"
    script.write_text("#!/usr/bin/env python3\ndef add(a, b):\n    return \n")
    out = run(f"{script}:3", "--model", model, "--json", "--max-tokens", "4", "--steps", "2")
    assert out.returncode == 0 and json.loads(out.stdout)["language"] == "python", out.stderr
    assert "no grammar" not in out.stderr
    script.write_text("def add(a, b):\n    return \n")  # nothing tells: completed, with a note why unchecked
    out = run(f"{script}:2", "--model", model, "--json", "--max-tokens", "4", "--steps", "2")
    assert out.returncode == 0 and json.loads(out.stdout)["language"] is None
    assert out.stderr == "dllm-complete: note: no grammar for tool: no syntax check (--language names one)\n"
