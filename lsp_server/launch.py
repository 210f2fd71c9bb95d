"""`dllm-lsp` command line: options, logging, transport, and `--check`.

stdio is the default transport; `--tcp --port N` (debugging) and `--ws --port N` (the browser
client) listen on `--host`. In stdio mode the real stdout is kept for the protocol alone and file
descriptor 1 is pointed at stderr, so a stray print (ours, a library's, or C code's) can never
corrupt the LSP stream. `--check` loads the model, runs a warm-up infill, prints what it found and
exits: 0 when the model works, 1 when it does not.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import BinaryIO

from . import __version__, telemetry
from .engine_host import EngineHost, LoadError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dllm-lsp", description="Inline code completions from a diffusion LM, over LSP.")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    way.add_argument("--tcp", action="store_true", help="listen for one client on TCP (debugging)")
    way.add_argument("--ws", action="store_true", help="listen on a WebSocket (browser clients)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=2087, help="port for --tcp / --ws (default 2087)")
    p.add_argument("--model", metavar="DIR", help="checkpoint directory (default: the packaged model)")
    p.add_argument("--device", help="cpu, cuda, cuda:N ... (default: the engine decides)")
    p.add_argument("--log-file", metavar="PATH", help="append JSON logs here instead of stderr")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--check", action="store_true", help="load the model, warm it up, report and exit")
    p.add_argument("--version", action="version", version=f"dllm-lsp {__version__}")
    return p


def check(model: str | None, device: str | None) -> int:
    """Print version, model, device and warm-up latency; 0 if the model works."""
    print(f"dllm-lsp {__version__}")
    host = EngineHost()
    try:
        info = host.load(model, device)
        first, second = host.warm_up()
    except LoadError as exc:
        print(f"model: failed to load: {exc}")
        return 1
    except Exception as exc:
        print(f"model: warm-up failed: {type(exc).__name__}: {exc}")
        return 1
    params = info.get("params")
    size = f", {params / 1e6:.1f}M params" if isinstance(params, (int, float)) else ""
    print(f"model: {info.get('model', model or 'default')}{size}")
    print(f"device: {info.get('device', device or '?')} ({info.get('dtype', '?')})")
    print(f"warm-up: {second:.1f} ms (first call {first:.1f} ms)")
    return 0


def protect_stdout() -> BinaryIO:
    """Keep the real stdout for LSP messages; everything else written to fd 1 goes to stderr."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return channel


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    telemetry.configure(args.log_file, args.log_level)
    if args.check:
        return check(args.model, args.device)
    if (args.tcp or args.ws) and not 0 < args.port < 65536:
        print(f"dllm-lsp: error: --port must be in 1..65535, got {args.port}", file=sys.stderr)
        return 2
    if args.ws:
        try:
            import websockets  # noqa: F401 - pygls needs it for --ws
        except ImportError:
            print("dllm-lsp: error: --ws needs the 'websockets' package (pip install 'pygls[ws]')",
                  file=sys.stderr)
            return 2

    from .server import create

    server = create(model=args.model, device=args.device)
    log = telemetry.get()
    log.info("start", version=__version__, transport="tcp" if args.tcp else "ws" if args.ws else "stdio",
             pid=os.getpid())
    try:
        if args.tcp:
            server.start_tcp(args.host, args.port)
        elif args.ws:
            server.start_ws(args.host, args.port)
        else:
            server.start_io(sys.stdin.buffer, protect_stdout())
    finally:
        server.service.scheduler.close()
        log.info("stop", after_shutdown=server.protocol._shutdown)
    return 0 if server.protocol._shutdown else 1  # LSP: exit without shutdown is an error
