"""HumanEval-infilling data and scoring: load a split, sample it, run a completion in a sandbox.

Owns the official jsonl.gz splits and the verdict for one (problem, completion) pair. Knows nothing
of models or torch. The sandbox is a best-effort guard against accidents (loops, memory bombs, stray
file deletes, network), not a security boundary against hostile code: use a container for that.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, Sequence

DATA_DIR = Path(os.environ.get("DLLM_HUMANEVAL_INFILL_DIR", "/work/shared/data/humaneval-infilling"))
SPLITS = {
    "single-line": "HumanEval-SingleLineInfilling.jsonl.gz",
    "multi-line": "HumanEval-MultiLineInfilling.jsonl.gz",
    "random-span": "HumanEval-RandomSpanInfilling.jsonl.gz",
    "random-span-light": "HumanEval-RandomSpanInfillingLight.jsonl.gz",
}
FIELDS = ("task_id", "entry_point", "prompt", "suffix", "canonical_solution", "test")
RESULTS = ("passed", "failed", "timeout", "error")

# Child exit codes (set by the runner below); anything else is an error.
_EXIT_FAILED, _EXIT_MEMORY, _EXIT_ERROR, _EXIT_COMPILE = 3, 4, 5, 6
_MiB = 1024 * 1024


# --------------------------------------------------------------------------------------- loading


def split_path(split: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of a split given by name (``single-line`` ...) or by an explicit file path."""
    if str(split) in SPLITS:
        path = Path(data_dir or DATA_DIR) / SPLITS[str(split)]
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the official splits are the data/*.jsonl.gz files of "
                                    "github.com/openai/human-eval-infilling: set DLLM_HUMANEVAL_INFILL_DIR "
                                    "to their folder")
        return path
    path = Path(split)
    if not path.is_file():
        raise FileNotFoundError(f"unknown split {split!r}: not one of {sorted(SPLITS)} nor a file")
    return path


def load_split(split: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> list[dict]:
    """All problems of a split, in file order; each a dict with the official FIELDS."""
    path = split_path(split, data_dir)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        problems = [json.loads(line) for line in f if line.strip()]
    for p in problems:
        missing = [k for k in FIELDS if k not in p]
        if missing:
            raise ValueError(f"{path}: task {p.get('task_id')!r} lacks fields {missing}")
    return problems


def sample(problems: Sequence[dict], limit: int | None = None, seed: int = 0) -> list[dict]:
    """A fixed-seed subset of ``limit`` problems (all when None), kept in file order."""
    if limit is None or limit >= len(problems):
        return list(problems)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    keep = sorted(random.Random(seed).sample(range(len(problems)), limit))
    return [problems[i] for i in keep]


def default_mode(split: str) -> str:
    """Completion mode the editor would use for a split: one line, or a block."""
    return "single" if "single" in str(split).lower() else "multi"


# ------------------------------------------------------------------------------------- programs


def is_line_level(problem: dict) -> bool:
    """True for the SingleLine / MultiLine splits, whose middle is whole lines."""
    return problem["task_id"].startswith(("SingleLine", "MultiLine"))


def typed_indent(problem: dict, chars: int = 0) -> dict:
    """A line-level problem as an editor meets it after Enter: the cursor on a line of its own, after the
    indentation and `chars` more characters typed (those move from the middle to the prompt, the
    middle's last line end to the suffix)."""
    middle = problem["canonical_solution"]
    if not is_line_level(problem) or not middle.endswith("\n"):
        return problem
    indent = len(middle) - len(middle.lstrip(" \t"))
    cut = indent + min(chars, len(middle.split("\n", 1)[0]) - indent)
    return {**problem, "prompt": problem["prompt"] + middle[:cut], "canonical_solution": middle[cut:-1],
            "suffix": "\n" + problem["suffix"], "typed_indent": True}


def normalize_completion(problem: dict, completion: str) -> str:
    """In the line-level splits the middle ends with a newline; an editor completion often does not."""
    ends_line = is_line_level(problem) and not problem.get("typed_indent")
    if completion and ends_line and not completion.endswith("\n"):
        return completion + "\n"
    return completion


def infilled_source(problem: dict, completion: str) -> str:
    return problem["prompt"] + normalize_completion(problem, completion) + problem["suffix"]


def program(problem: dict, completion: str) -> str:
    """The full test program: prefix + middle + suffix + tests + the check call."""
    check = f"check({problem['entry_point']})"
    return f"{infilled_source(problem, completion)}\n{problem['test']}\n{check}\n"


def exact_match(problem: dict, completion: str) -> bool:
    return completion.strip() == problem["canonical_solution"].strip()


def syntax_valid(problem: dict, completion: str) -> bool:
    """Whether prefix + completion + suffix compiles (never executes it)."""
    try:
        compile(infilled_source(problem, completion), "<infill>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return False
    return True


# -------------------------------------------------------------------------------------- sandbox

# Runs inside the child (python -I -B -c): reads and compiles the program, installs the guards,
# executes it, and prints a per-run marker only if the program got through check() without raising.
_RUNNER = r'''
import sys, os, builtins, traceback
_marker, _prog = sys.argv[1], sys.argv[2]
sys.argv = ["program.py"]
_exit, _out = os._exit, sys.stdout
try:
    with open(_prog, encoding="utf-8") as _f:
        _code = compile(_f.read(), "program.py", "exec", dont_inherit=True)
except BaseException:
    traceback.print_exc()
    _exit(__EXIT_COMPILE__)
__GUARD__
try:
    exec(_code, {"__name__": "__main__", "__builtins__": builtins})
except AssertionError:
    traceback.print_exc()
    _exit(__EXIT_FAILED__)
except MemoryError:
    print("MemoryError", file=sys.__stderr__)
    _exit(__EXIT_MEMORY__)
except BaseException:
    traceback.print_exc()
    _exit(__EXIT_ERROR__)
_out.write("\n" + _marker + "\n")
_out.flush()
_exit(0)
'''

# Python-level guards: writes/deletes only under the sandbox root, no processes, no network, no
# raising of resource limits. Paths given relative to a dir_fd are resolved through /proc.
_GUARD = r'''
import io, _io, posix, shutil, socket, _socket, subprocess, resource
_ROOT = os.path.realpath(os.getcwd())
_realpath, _readlink, _join, _isabs = os.path.realpath, os.readlink, os.path.join, os.path.isabs
_W = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

def _absolute(path, dir_fd=None):
    if isinstance(path, int):
        return _readlink(f"/proc/self/fd/{path}")
    path = os.fsdecode(os.fspath(path))
    if not _isabs(path):
        base = os.getcwd() if dir_fd is None else _readlink(f"/proc/self/fd/{dir_fd}")
        path = _join(base, path)
    return path

def _under_root(path):
    return path == _ROOT or path.startswith(_ROOT + os.sep)

def _check(path, dir_fd=None):
    try:
        p = _absolute(path, dir_fd)
        head, tail = os.path.split(p.rstrip(os.sep) or os.sep)
        ok = _under_root(_realpath(p)) and _under_root(_join(_realpath(head), tail))
    except Exception:
        ok = False
    if not ok:
        raise PermissionError(f"sandbox: refusing to modify {path!r} outside {_ROOT}")

def _guard_paths(fn, nargs):
    # nargs leading path arguments are checked; src_dir_fd/dst_dir_fd pair with them
    def guarded(*args, **kwargs):
        fds = (kwargs.get("src_dir_fd"), kwargs.get("dst_dir_fd")) if nargs == 2 else (None,)
        for a, fd in zip(args[:nargs], fds):
            _check(a, kwargs.get("dir_fd") if fd is None else fd)
        return fn(*args, **kwargs)
    return guarded

def _deny(name):
    def denied(*args, **kwargs):
        raise PermissionError(f"sandbox: {name} is disabled")
    return denied

def _writes(mode):
    return any(c in str(mode) for c in "wax+")

def _open_guard(fn):
    def guarded(file, mode="r", *args, **kwargs):
        if _writes(mode) and not isinstance(file, int):
            _check(file)
        return fn(file, mode, *args, **kwargs)
    return guarded

def _os_open_guard(fn):
    def guarded(path, flags, *args, **kwargs):
        if flags & _W:
            _check(path, kwargs.get("dir_fd"))
        return fn(path, flags, *args, **kwargs)
    return guarded

class _FileIO(_io.FileIO):
    def __init__(self, file, mode="r", *args, **kwargs):
        if _writes(mode) and not isinstance(file, int):
            _check(file)
        super().__init__(file, mode, *args, **kwargs)

_ONE = ("remove", "unlink", "rmdir", "removedirs", "mkdir", "makedirs", "chmod", "lchmod",
        "chown", "lchown", "truncate", "utime", "mkfifo", "mknod", "chflags", "lchflags",
        "setxattr", "removexattr")
_TWO = ("rename", "renames", "replace", "link", "symlink")
_NO = ("system", "popen", "fork", "forkpty", "vfork", "kill", "killpg", "execv", "execve",
       "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve",
       "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn",
       "posix_spawnp", "chroot", "setuid", "setgid", "pidfd_open", "register_at_fork")
for _mod in (os, posix):
    for _n in _ONE + _TWO:
        if hasattr(_mod, _n):
            setattr(_mod, _n, _guard_paths(getattr(_mod, _n), 2 if _n in _TWO else 1))
    for _n in _NO:
        if hasattr(_mod, _n):
            setattr(_mod, _n, _deny("os." + _n))
    _mod.open = _os_open_guard(_mod.open)
def _guard_dst(fn):
    def guarded(src, dst, *args, **kwargs):
        _check(dst)
        return fn(src, dst, *args, **kwargs)
    return guarded

shutil.rmtree = _guard_paths(shutil.rmtree, 1)
shutil.move = _guard_paths(shutil.move, 2)
for _n in ("copytree", "copy", "copy2", "copyfile", "copymode", "copystat"):
    setattr(shutil, _n, _guard_dst(getattr(shutil, _n)))
builtins.open = io.open = _io.open = _open_guard(_io.open)
io.FileIO = _io.FileIO = _FileIO
subprocess.Popen = _deny("subprocess")
import _posixsubprocess
_posixsubprocess.fork_exec = _deny("fork_exec")
for _n in ("connect", "connect_ex", "bind", "listen", "sendto", "sendmsg"):
    setattr(socket.socket, _n, _deny("network"))
for _n in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection", "socketpair"):
    setattr(socket, _n, _deny("network"))
resource.setrlimit = resource.prlimit = _deny("setrlimit")
del _mod, _n
'''


def _runner_source() -> str:
    src = _RUNNER.replace("__GUARD__", _GUARD)
    codes = {"__EXIT_FAILED__": _EXIT_FAILED, "__EXIT_MEMORY__": _EXIT_MEMORY,
             "__EXIT_ERROR__": _EXIT_ERROR, "__EXIT_COMPILE__": _EXIT_COMPILE}
    for key, value in codes.items():
        src = src.replace(key, str(value))
    return src


RUNNER_SOURCE = _runner_source()


def _limits(mem_mb: int, cpu_s: int, fsize_mb: int):
    """preexec_fn: hard resource limits for the child (runs after setsid, before exec)."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb * _MiB, mem_mb * _MiB))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb * _MiB, fsize_mb * _MiB))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    return apply


def _child_env(root: str) -> dict[str, str]:
    """A minimal environment: no proxies, no inherited PYTHON* settings, HOME/TMPDIR in the sandbox."""
    return {"PATH": "/usr/bin:/bin", "HOME": root, "TMPDIR": root, "TMP": root, "TEMP": root,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
            "no_proxy": "*", "NO_PROXY": "*"}


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own session (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(f, limit: int = 4096) -> str:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - limit))
    return f.read().decode("utf-8", "replace")


def _verdict(rc: int, stdout: str, stderr: str, marker: str) -> tuple[str, str]:
    """(result, detail) from the child's exit status and output tails."""
    last = (stderr.strip().splitlines() or [""])[-1][:300]
    if rc == 0:
        if marker in stdout:
            return "passed", ""
        return "error", "exited before the tests finished"
    if rc == _EXIT_FAILED:
        return "failed", last or "AssertionError"
    if rc == _EXIT_MEMORY:
        return "error", "MemoryError"
    if rc in (-signal.SIGXCPU, -signal.SIGKILL):
        return "timeout", "cpu time limit"
    if rc == -signal.SIGXFSZ:
        return "error", "file size limit"
    if rc < 0:
        return "error", f"killed by {signal.Signals(-rc).name}"
    return "error", last


def execute(source: str, timeout_s: float = 5.0, mem_mb: int = 1024, fsize_mb: int = 16) -> tuple[str, str]:
    """Run a Python program in a fresh sandbox directory; returns (result, detail)."""
    root = tempfile.mkdtemp(prefix="he-sandbox-")
    marker = f"__HUMANEVAL_PASSED_{uuid.uuid4().hex}__"
    try:
        prog = os.path.join(root, "program.py")
        Path(prog).write_text(source, encoding="utf-8", errors="replace")  # a lone surrogate from a backend
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", RUNNER_SOURCE, marker, prog],
                cwd=root, env=_child_env(root), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, close_fds=True,
                preexec_fn=_limits(mem_mb, int(timeout_s) + 1, fsize_mb))
            try:
                rc = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return "timeout", f"wall time limit {timeout_s:g}s"
            return _verdict(rc, _tail(out), _tail(err), marker)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -------------------------------------------------------------------------------------- scoring


def score(problem: dict, completion: str, timeout_s: float = 5.0, mem_mb: int = 1024) -> dict:
    """Verdict for one completion: passed, result, exact_match, syntax_valid (+ detail)."""
    result, detail = execute(program(problem, completion), timeout_s=timeout_s, mem_mb=mem_mb)
    return {
        "passed": result == "passed",
        "result": result,
        "exact_match": exact_match(problem, completion),
        "syntax_valid": syntax_valid(problem, completion),
        "detail": detail,
    }


def score_many(problems: Sequence[dict], completions: Iterable[str], timeout_s: float = 5.0,
               workers: int = 2, mem_mb: int = 1024,
               on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Score pairs in parallel with a small thread pool (each verdict runs in its own process).

    Results come back in input order; ``on_done`` (e.g. a progress bar) sees each as it finishes.
    """
    completions = list(completions)
    if len(completions) != len(problems):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completions")
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        jobs = [pool.submit(score, p, c, timeout_s, mem_mb) for p, c in zip(problems, completions)]
        if on_done is not None:
            for job in as_completed(jobs):
                on_done(job.result())
        return [j.result() for j in jobs]
    finally:  # on Ctrl-C the programs not begun are dropped, not all run first
        pool.shutdown(wait=True, cancel_futures=True)
