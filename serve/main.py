"""`dllm-serve`: the team server on uvicorn (or, with `--ray`, as a Ray Serve application).

    dllm-serve                                  # localhost:8012, the embedded model
    dllm-serve --host 0.0.0.0 --api-key KEY     # any other bind needs an API key
    dllm-serve --ray --replicas 2               # Ray Serve, one model per replica
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from dllm_complete.grammars import language_for, supported_names
from dllm_complete.lsp_server import telemetry
from dllm_complete.lsp_server.args import Parser
from dllm_complete.lsp_server.config import DEFAULTS
from dllm_complete.lsp_server.remote import check_api_key

from .api import Limits

LOCAL = ("127.0.0.1", "localhost", "::1")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="dllm-serve", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default localhost only)")
    p.add_argument("--port", type=int, default=8012, help="port (default 8012, llama.vscode's)")
    p.add_argument("--model", default=None, help="checkpoint directory (default: the embedded model)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: the best there is)")
    p.add_argument("--max-batch", type=int, default=16, help="infills sharing a forward (1: one at a time; default %(default)s)")
    p.add_argument("--api-key", default=os.environ.get("DLLM_API_KEY"),
                   help="bearer token every request but /health must carry (env DLLM_API_KEY); required off localhost")
    p.add_argument("--language", default=None, help="language id for requests that name none (syntax constraint)")
    p.add_argument("--scope", action="store_true",
                   help="re-mask names that resolve to nothing for requests that do not say (`scope` field): "
                        "only for clients that send the whole file, since names beyond a window count as missing")
    p.add_argument("--log-text", action="store_true",
                   help="log the source text around each request (off: lengths only)")
    p.add_argument("--log-file", default=None, help="JSON log lines here (default stderr)")
    p.add_argument("--max-body-bytes", type=int, default=Limits.body_bytes, help="largest request body (default %(default)s)")
    p.add_argument("--max-context-chars", type=int, default=Limits.context_chars, help="prefix and suffix, each (default %(default)s)")
    caps = f"{DEFAULTS.max_tokens('single')} / {DEFAULTS.max_tokens('multi')}"
    p.add_argument("--max-tokens", type=int, default=Limits.max_tokens,
                   help="largest n_predict / max_tokens a request may ask; also the most a request that names "
                        f"none gets (then the language server's {caps} within it; default %(default)s)")
    p.add_argument("--max-n", type=int, default=Limits.n, help="largest n_cmpl / n (default %(default)s)")
    p.add_argument("--max-per-client", type=int, default=Limits.per_client, help="requests in flight per client (default %(default)s)")
    p.add_argument("--max-in-flight", type=int, default=Limits.in_flight, help="requests in flight in all (503 past it; default %(default)s)")
    p.add_argument("--ray", action="store_true", help="run as a Ray Serve application")
    p.add_argument("--replicas", type=int, default=1, help="Ray Serve: replicas at start (one model each)")
    p.add_argument("--max-replicas", type=int, default=None, help="Ray Serve: autoscale up to this many")
    p.add_argument("--replica-cpus", type=int, default=1, help="Ray Serve: CPU cores per replica (torch threads)")
    p.add_argument("--ray-address", default=None, help="Ray Serve: a running cluster (default: start one here)")
    return p


def check(args) -> str | None:
    """The first thing wrong with the options, in one line."""
    for name in ("max_batch", "max_body_bytes", "max_context_chars", "max_tokens", "max_n", "max_per_client",
                 "max_in_flight", "replicas", "replica_cpus"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}"
    if args.max_replicas is not None and args.max_replicas < args.replicas:
        return f"--max-replicas ({args.max_replicas}) must be >= --replicas ({args.replicas})"
    if not 0 < args.port < 65536:
        return f"--port must be 1-65535, got {args.port}"
    if args.language is not None and language_for(args.language) is None:
        return f"--language: no grammar for {args.language!r} ({', '.join(supported_names())})"
    try:
        args.api_key = check_api_key(args.api_key)
    except ValueError as exc:
        return f"--api-key / DLLM_API_KEY: {exc}"
    if args.host not in LOCAL and not args.api_key:
        try:
            local = ipaddress.ip_address(args.host).is_loopback
        except ValueError:
            local = False
        if not local:
            return f"--host {args.host} serves other machines: set --api-key (or DLLM_API_KEY) first"
    return None


def settings_of(args):
    from .app import Settings

    limits = Limits(args.max_body_bytes, args.max_context_chars, args.max_tokens, args.max_n, args.max_per_client,
                    args.max_in_flight)
    return Settings(args.model, args.device, args.max_batch, args.api_key, args.language, args.log_text,
                    scope=args.scope, limits=limits)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if why := check(args):
        print(f"dllm-serve: {why}", file=sys.stderr)
        raise SystemExit(2)
    telemetry.configure(args.log_file)
    if args.ray:
        try:
            from .ray_app import run
        except ImportError as exc:
            print(f"dllm-serve: --ray needs Ray Serve (pip install 'dllm-complete[ray]'): {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        run(settings_of(args), args.host, args.port, args.replicas, args.max_replicas, args.ray_address,
            args.replica_cpus)
        return
    import uvicorn

    from .app import create_app

    uvicorn.run(create_app(settings_of(args)), host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=5)
