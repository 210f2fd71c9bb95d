"""The `dllm-complete FILE:LINE[:COL]` command (`dllm-lsp` starts in `launch.py`).

Bad input ends with a one-line error on stderr and exit status 2, never a traceback; stdout carries
only the completion (or JSON). Sampler options and --max-tokens are checked before the model loads
(with `SamplerConfig.with_overrides`, the engine's own rules), and so is FILE:LINE's file or --batch's
file. `--batch` answers every good record and reports each bad line as it meets it (one line on stderr:
`dllm-complete: error: FILE:N: ...`, with the record's id where it can be read), then exits 2 if any
line was bad. Ctrl-C (SIGINT) or SIGTERM stops `dllm-complete` with one line on
stderr and the shell's status for a signal, 130 or 143, so that a script can tell an interrupted
batch from a finished one (`dllm-lsp` exits 0 on them: see launch.py).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import os
import re
import signal
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from dllm_complete import grammars
from dllm_complete.dllm.contract import Constraint, SamplerConfig, unread, unread_reason

from . import __version__, postprocess, telemetry, trigger, window
from .args import Parser
from .config import DEFAULTS
from .positions import eol_of, line_starts
from .signals import stop_signals_exit, stop_signals_raise

EXIT_USAGE = 2
MAX_FILE_BYTES = 8_000_000
MAX_LINE_BYTES = 4 * MAX_FILE_BYTES  # one --batch record: a whole file's prefix and suffix, JSON-escaped


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class BatchRecord(msgspec.Struct, forbid_unknown_fields=False):
    id: str | int
    prefix: str
    suffix: str = ""
    language: str | None = None


class BatchResult(msgspec.Struct):
    id: str | int
    completion: str  # the middle as the model wrote it
    mode: str
    nfe: int
    latency_ms: float


def parse_location(spec: str) -> tuple[Path, int, int | None]:
    """FILE:LINE[:COL] (1-based) -> (path, line, column or None)."""
    parts = spec.rsplit(":", 2)
    numbers: list[int] = []
    while len(parts) > 1 and re.fullmatch("[0-9]+", parts[-1]) and len(numbers) < 2:
        digits = parts.pop()
        if len(digits) > 18:
            raise UsageError(f"{digits[:6]}...: a line or column number of {len(digits)} digits is out of range")
        numbers.insert(0, int(digits))
    if not numbers:
        raise UsageError(f"expected FILE:LINE[:COL], got {spec!r}")
    if not "".join(parts):
        raise UsageError(f"expected FILE:LINE[:COL], got {spec!r}: no FILE")
    line, col = numbers[0], (numbers[1] if len(numbers) > 1 else None)
    return Path(":".join(parts)), line, col


FILE_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISFIFO, "a FIFO"),
              (stat.S_ISSOCK, "a socket"), (stat.S_ISBLK, "a block device"))


def kind_of(mode: int) -> str:
    """What a file that is neither a regular file nor a directory is, in words."""
    return next((name for test, name in FILE_KINDS if test(mode)), "a special file")


def unreadable(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot read {path}: {(exc.strerror or str(exc)).lower()}")


def stat_input(path: Path) -> os.stat_result:
    """The file's status (symlinks followed); a missing or unreachable file is a UsageError."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise unreadable(path, exc) from None


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise unreadable(path, exc) from None


def read_source(path: Path) -> str:
    """A regular UTF-8 text file (FILE of FILE:LINE); anything else is a UsageError that says what it is."""
    st = stat_input(path)
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file ({kind_of(st.st_mode)})")
    if st.st_size > MAX_FILE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_FILE_BYTES // 1_000_000} MB")
    return as_text(read_bytes(path), str(path))


def read_stdin(path: Path) -> str:
    """The text of `path` as an editor holds it, unsaved, from standard input (--stdin)."""
    data = stdin().read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"standard input is larger than {MAX_FILE_BYTES // 1_000_000} MB")
    return as_text(data, f"{path} (standard input)")


def stdin():
    """Standard input's bytes; a closed one is a UsageError."""
    if sys.stdin is None:
        raise UsageError("standard input is closed")
    return sys.stdin.buffer


def as_text(data: bytes, name: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UsageError(f"{name} is UTF-16 text; only UTF-8 is read")
    if b"\0" in data[:8192]:
        raise UsageError(f"{name} looks like a binary file")
    try:
        return data.decode("utf-8-sig")  # a byte-order mark is not a column of line 1
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is not UTF-8 text (byte {exc.start})") from None


def split_at(text: str, line: int, col: int | None) -> tuple[str, str]:
    """Prefix and suffix around a 1-based line and column (no column = end of the line)."""
    starts = line_starts(text)  # lines end at \n, \r\n or \r, as editors and the language server count them
    if not 1 <= line <= len(starts):
        raise UsageError(f"line {line} is out of range (the file has {_count(len(starts), 'line')})")
    start = starts[line - 1]
    body = text[start:starts[line] if line < len(starts) else len(text)].rstrip("\r\n")
    if col is None:
        col = len(body) + 1
    if not 1 <= col <= len(body) + 1:
        raise UsageError(f"column {col} is out of range (line {line} has {_count(len(body), 'character')})")
    return text[:start + col - 1], text[start + col - 1:]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def language_of(path: Path | None, language: str | None) -> str | None:
    found = grammars.language_for(language, str(path) if path else None)
    return found.name if found is not None else language


def shebang_language(source: str) -> str | None:
    """The language a script without a telling extension names in its `#!` line (python, node)."""
    first = source[:200].partition("\n")[0]
    if not first.startswith("#!"):
        return None
    return "python" if "python" in first else "javascript" if re.search(r"\bnode\b", first) else None


def constraint_of(language: str | None, path: Path | None, args, document: str) -> Constraint | None:
    """The syntax constraint for the file (`grammars.constraint_for`), unless --no-syntax; unless
    --no-scope also the names that resolve to nothing, judged against the whole `document`."""
    if args.no_syntax:
        return None
    return grammars.constraint_for(language, str(path) if path else None, scope=args.scope, document=document)


def build_parser() -> argparse.ArgumentParser:
    sampler = SamplerConfig()
    p = Parser(
        prog="dllm-complete", description="Fill in code at FILE:LINE[:COL] with a masked-diffusion model.",
        epilog="Bad input (an option, the file, the location, any --batch line) exits with status 2; "
               "options and files are checked before the model loads (options the model does not read, "
               "once it has loaded).")
    p.add_argument("location", nargs="?", help="FILE:LINE[:COL], 1-based; COL counts characters (a tab is one); "
                   "no column = end of the line")
    p.add_argument("--batch", metavar="IN.jsonl",
                   help='records {"id", "prefix", "suffix", "language"}, one a line, answered one JSON '
                        'line each; "-" (stdin), a FIFO or a character device such as /dev/null is read '
                        'as a stream and each record answered as it comes (/dev/null: an empty batch). '
                        'A bad line is reported on stderr (FILE:N and its id) and skipped; the others '
                        'are answered, and the exit status is then 2')
    p.add_argument("--stdin", action="store_true",
                   help="read FILE's text from standard input (an editor's unsaved buffer); FILE, which need "
                        "not exist, names the language")
    p.add_argument("--language", help="language id for a file whose name does not tell (default: from the "
                   "name, else a #! line)")
    p.add_argument("--model", help="checkpoint directory, or an embedded model's name: dllm-code-small (the "
                   "default), ar-code-small")
    p.add_argument("--json", action="store_true", help="print the completion and its stats as JSON")
    p.add_argument("--mode", choices=["single", "multi", "auto"], default="auto",
                   help="one line, several, or as the language server decides at the cursor (default auto)")
    p.add_argument("--max-tokens", type=int, help="at most this many tokens, within the model's context (>= 1; default: the language server's, "
                   f"{DEFAULTS.max_tokens('single')} for one line, {DEFAULTS.max_tokens('multi')} for several)")
    p.add_argument("--steps", type=int, help=f"diffusion models: cap on denoising steps, at least one a block (>= 1; default {sampler.max_steps})")
    p.add_argument("--threshold", type=float,
                   help=f"diffusion models: commit slots at least this confident (0..1; default {sampler.threshold})")
    p.add_argument("--block-size", type=int,
                   help="diffusion models: semi-autoregressive block size (0 = whole span; default 4 single-line, 16 multi-line; >= 0)")
    p.add_argument("--temperature", type=float, help="0 = greedy (the default); >= 0")
    p.add_argument("--seed", type=int, help=f"seed of --temperature's sampling (default {sampler.seed}: the same text each run)")
    p.add_argument("--draft-tokens", type=int, help="AR models: up to this many tokens drafted by prompt lookup "
                   "and checked in one call (same greedy text, fewer calls; default 0 = off; >= 0)")
    p.add_argument("--no-cache", action="store_true", help="diffusion models: recompute the whole canvas every step")
    p.add_argument("--no-syntax", action="store_true", help="no tree-sitter re-masking or truncation")
    p.add_argument("--scope", action=argparse.BooleanOptionalAction, default=True,
                   help="also re-mask names that resolve to nothing: Python, JavaScript/TypeScript, Go, Rust "
                        "(grammars/scope.py, names.py; default on, --no-scope to measure without)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--kernels", choices=["auto", "triton", "torch", "off"], default="auto",
                   help="fast-path ops: fused LM head, attention, stacked projections "
                        "(default: Triton on CUDA, torch on the CPU; off = none)")
    p.add_argument("--graphs", choices=["auto", "on", "off"], default="auto",
                   help="CUDA graphs of the forward passes (default: where faster at load)")
    p.add_argument("--version", action="version", version=f"dllm-complete {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log model loading and each completion (JSON, stderr)")
    return p


OPTION_OF = {"max_steps": "--steps", "threshold": "--threshold", "block_size": "--block-size",  # field -> option
             "temperature": "--temperature", "seed": "--seed", "use_cache": "--no-cache",
             "draft_tokens": "--draft-tokens"}


def sampler_overrides(args) -> dict:
    """The `SamplerConfig` fields the options set (`OPTION_OF`)."""
    values = {field: getattr(args, option[2:].replace("-", "_")) for field, option in OPTION_OF.items()}
    values["use_cache"] = False if values["use_cache"] else None  # --no-cache
    return {field: value for field, value in values.items() if value is not None}


def check_options(args) -> None:
    """The options a request uses, checked before any model loads: the sampler's with
    `SamplerConfig.with_overrides` (one option at a time, so the message can name it), then together."""
    overrides = sampler_overrides(args)
    try:
        for field, value in overrides.items():
            try:
                SamplerConfig().with_overrides({field: value})
            except ValueError as exc:
                raise UsageError(f"{OPTION_OF.get(field, field)} {value}: {exc}") from None
        SamplerConfig().with_overrides(overrides)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.language is not None and grammars.language_for(args.language) is None:
        raise UsageError(f"--language: no grammar for {args.language!r} ({', '.join(grammars.supported_names())})")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError(f"--max-tokens {args.max_tokens}: must be >= 1")


def load_engine(args):
    t0 = time.perf_counter()
    with stop_signals_exit("dllm-complete"):  # an interrupted `import torch` must not unwind
        from dllm_complete import dllm  # deferred: argument errors should not wait for torch

        try:
            engine = dllm.load(args.model, device=args.device, kernels=args.kernels, graphs=args.graphs)
            overrides, kind = sampler_overrides(args), engine.info["kind"]
            if bad := unread(overrides, kind):
                raise UsageError(unread_reason([OPTION_OF[f] for f in bad], kind))
            engine.sampler = engine.sampler.with_overrides(overrides)
        except (dllm.CheckpointError, ValueError) as exc:
            raise UsageError(str(exc)) from None
    telemetry.get().info("model_loaded", load_ms=round((time.perf_counter() - t0) * 1e3, 1), **engine.info)
    return engine


def window_at(text: str, offset: int) -> window.Window:
    """The window around `offset` as the language server cuts it, with its default settings."""
    return window.build(text, offset, DEFAULTS.prefix_tokens, DEFAULTS.suffix_tokens)


def as_shown(raw: str, at: window.Window, mode: str, eol: str) -> str:
    """The completion as the language server would show it at the cursor (one line, or the cursor's
    block; text the file already has after the cursor dropped)."""
    shown = postprocess.suggestions([raw], at, mode=mode, eol=eol, max_lines=DEFAULTS.max_lines)
    return shown[0] if shown else ""


def run_one(args) -> int:
    path, line, col = parse_location(args.location)
    source = read_stdin(path) if args.stdin else read_source(path)
    prefix, suffix = split_at(source, line, col)
    engine = load_engine(args)
    language = language_of(path, args.language) or shebang_language(source)
    if language is None and not args.no_syntax:
        print(f"dllm-complete: note: no grammar for {path.name}: no syntax check (--language names one)",
              file=sys.stderr)
    at = window_at(source, len(prefix))
    mode = trigger.mode_in(at, args.mode)
    constraint = constraint_of(language, path, args, prefix + suffix)
    max_tokens = args.max_tokens or DEFAULTS.max_tokens(mode)  # as the language server asks
    result = engine.infill(prefix, suffix, language=language, mode=mode, max_tokens=max_tokens,
                           constraint=constraint)
    telemetry.get().info("completion", file=str(path), line=line, mode=mode, **msgspec.to_builtins(result.stats))
    shown = as_shown(result.text, at, mode, eol_of(source))
    if args.json:
        out = {"completion": shown, "raw": result.text, "mode": mode, "stats": msgspec.to_builtins(result.stats),
               "model": engine.info, "language": language}
        if hasattr(constraint, "stats"):
            out["scope"] = constraint.stats
        emit(msgspec.json.encode(out).decode())
    else:
        emit(shown)
    return 0


def emit(line: str) -> None:
    """One line on stdout, flushed; a failed write (a full disk) is a one-line error, not a traceback."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise UsageError(f"cannot write the output: {(exc.strerror or str(exc)).lower()}") from None


def report(message: str) -> None:
    print(f"dllm-complete: error: {message}", file=sys.stderr, flush=True)


def record_id(raw: bytes) -> str | int | None:
    """The "id" of a line that is not a good record, where it can be read."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, (str, int)) and not isinstance(rid, bool) else None


def parse_batch(lines: Iterable[bytes | None], name: str) -> Iterator[BatchRecord | str]:
    """Batch records, one JSON object a line; a bad line gives the message that names it
    (`NAME:N: ...`, with its id where it can be read) in place of a record."""
    decoder = msgspec.json.Decoder(BatchRecord)
    for n, raw in enumerate(lines, start=1):
        if raw is None or len(raw) > MAX_LINE_BYTES:
            yield f"{name}:{n}: longer than {MAX_LINE_BYTES // 1_000_000} MB"
            continue
        if not raw.strip():
            yield f"{name}:{n}: empty line"
            continue
        try:
            rec = decoder.decode(raw)
            if rec.language is not None and grammars.language_for(rec.language) is None:
                raise msgspec.ValidationError(f"no grammar for language {rec.language!r} "
                                              f"({', '.join(grammars.supported_names())})")
            yield rec
        except msgspec.ValidationError as exc:
            rid = record_id(raw)
            where = f"{name}:{n}" if rid is None else f"{name}:{n}: id {msgspec.json.encode(rid).decode()}"
            yield f"{where}: {exc}"
        except msgspec.DecodeError as exc:
            yield f"{name}:{n}: not JSON ({exc})"


def bounded_lines(stream) -> Iterator[bytes | None]:
    """A stream's lines as they arrive, None for one longer than MAX_LINE_BYTES (read on to its end
    without keeping it: a stream without line breaks must not fill the memory)."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        yield None
        while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
            pass


def batch_input(spec: str) -> tuple[str, list[bytes] | None, Path | None]:
    """(name, every line of a regular file, or None with the path of a stream: None for stdin).
    Checked before the model loads: a missing, unreadable or unsuitable file is a UsageError."""
    if spec == "-":
        return "<stdin>", None, None
    if not spec:
        raise UsageError("--batch needs a file name (- for stdin)")
    path = Path(spec)
    mode = stat_input(path).st_mode
    if stat.S_ISREG(mode):
        # JSON Lines end at "\n" only, as a stream's lines do; a BOM (Notepad's) is no part of line 1
        lines = read_bytes(path).removeprefix(codecs.BOM_UTF8).split(b"\n")
        return str(path), lines[:-1] if not lines[-1] else lines, None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{path} is a directory, not a file")
    if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        raise UsageError(f"{path} is not a regular file, a FIFO or a character device ({kind_of(mode)})")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path}: permission denied")
    return str(path), None, path


def open_stream(path: Path | None):
    """The stream's lines as they arrive: stdin (left open), or a FIFO or device opened now, after the
    model has loaded (opening a FIFO waits for its writer)."""
    if path is None:
        return contextlib.nullcontext(stdin())
    try:
        return open(path, "rb")
    except OSError as exc:
        raise unreadable(path, exc) from None


def run_batch(args) -> int:
    """Every good record answered, every bad line reported; 2 at the end if any line was bad. A
    regular file is read and checked before the model loads (its bad lines reported then); a stream
    is answered line by line as it arrives. The model loads once, whatever the number of records."""
    name, lines, stream = batch_input(args.batch)
    if lines is not None:
        items = list(parse_batch(lines, name))
        bad = [item for item in items if isinstance(item, str)]
        for message in bad:
            report(message)
        return answer(load_engine(args), [r for r in items if not isinstance(r, str)], args, len(bad))
    engine = load_engine(args)
    with open_stream(stream) as source:
        return answer(engine, parse_batch(bounded_lines(source), name), args, 0)


def answer(engine, items: Iterable[BatchRecord | str], args, bad: int) -> int:
    """One `BatchResult` JSON line (flushed) for each record, one error line for each bad one; the
    exit status once `items` is exhausted (`bad`: lines already reported)."""
    encoder = msgspec.json.Encoder()
    for rec in items:
        if isinstance(rec, str):
            report(rec)
            bad += 1
            continue
        language = language_of(None, rec.language or args.language)
        t0 = time.perf_counter()
        mode = trigger.mode_at(rec.prefix + rec.suffix, len(rec.prefix), args.mode)
        result = engine.infill(rec.prefix, rec.suffix, language=language, mode=mode,
                               max_tokens=args.max_tokens or DEFAULTS.max_tokens(mode),
                               constraint=constraint_of(language, None, args, rec.prefix + rec.suffix))
        latency = (time.perf_counter() - t0) * 1e3
        telemetry.get().info("completion", id=rec.id, mode=mode, **msgspec.to_builtins(result.stats))
        out = BatchResult(rec.id, result.text, mode, result.stats.nfe, round(latency, 2))
        emit(encoder.encode(out).decode())
    return EXIT_USAGE if bad else 0


def complete_main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    telemetry.configure(level="info" if args.verbose else "warning")
    try:
        with stop_signals_raise():
            if sys.stdout is None:
                raise UsageError("standard output is closed")
            if (args.location is None) == (args.batch is None):
                raise UsageError("give either FILE:LINE[:COL] or --batch IN.jsonl")
            if args.stdin and args.batch is not None:
                raise UsageError("--stdin goes with FILE:LINE[:COL]; --batch - reads records from standard input")
            check_options(args)
            return run_batch(args) if args.batch is not None else run_one(args)
    except UsageError as exc:
        report(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"dllm-complete: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as a SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(complete_main())
