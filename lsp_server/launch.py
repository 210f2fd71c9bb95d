"""`dllm-lsp` command line: options, logging, transports, the process's end, and `--check`.

stdio is the default transport; `--tcp --port N` (debugging) and `--ws --port N` (the browser
client) listen on `--host` for one client; a WebSocket from a web page is accepted only from a
loopback origin or one named by `--allow-origin`. In stdio mode the real stdout is kept for the protocol
alone and file descriptor 1 is pointed at stderr, so a stray print (ours, a library's, or C code's)
can never corrupt the LSP stream. On stdio and TCP, `framing.MessageReader` cuts the byte stream
into messages (lenient headers, resync past a malformed header block, at most
`--max-message-bytes` a message); WebSocket carries one message per frame. Each message goes to
`DllmProtocol.receive`. `--check` loads the model, runs a warm-up infill, prints what it found and
exits: 0 when the model works, 1 when it does not. `--remote URL` (with `--api-key KEY` or
`DLLM_API_KEY`) loads no model: completions come from a team server, `dllm-serve`
(`remote.RemoteInfiller`); `--check --remote URL` checks that server.

How the process ends. The transports are served here, not by pygls' `start_*`, so that every way
out goes through one place: LSP `exit` (pygls raises SystemExit for it, which ends only the session
here), end of input or a closed connection, a stream that cannot be read any further (one
`framing.error` line: the editor restarts a dead server, where a deaf one would hang it), a client
that no longer reads our answers, or SIGINT / SIGTERM (taken by the event loop). Then the model
thread is stopped: its running job is cancelled between denoising steps, queued ones are dropped,
and the thread is joined before the interpreter exits (a thread still inside torch at exit aborts
the process). One `stop` log line says why and how.
Exit status: 0 after `shutdown` + `exit` or a stop signal (stopping a server is its normal end, and
supervisors such as systemd count 0 as clean), 1 when the session ended without `shutdown` (as LSP
says for `exit`; broken framing and a lost client count the same). A second signal while the model
thread is being joined exits at once, with 128 + N.
The heavy imports (pygls, lsprotocol, torch) happen inside `main`, once its signal handlers are in
place, so that even a Ctrl-C during start-up ends with one line and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import threading
from typing import Any, BinaryIO

from dllm_complete.dllm.contract import describe

from . import __version__, framing, telemetry
from .args import Parser
from .signals import STOP_SIGNALS, Interrupted, stop_signals_raise
from .engine_host import EngineHost, LoadError
from .remote import check_api_key

LOOPBACK_ORIGIN = re.compile(r"https?://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?")  # a page served on this machine
JOIN_TIMEOUT_S = 60.0  # a running job stops within one denoising step; a model load cannot be stopped
PARENT_POLL_S = 3.0  # how often the editor that started the server is checked for


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of bytes, got {text!r}")
    return value


def _url(text: str) -> str:
    from .remote import check_url

    try:
        return check_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="dllm-lsp", description="Inline code completions from a diffusion LM, over LSP.")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    way.add_argument("--tcp", action="store_true", help="listen for one client on TCP (debugging)")
    way.add_argument("--ws", action="store_true", help="listen on a WebSocket (browser clients)")
    p.add_argument("--host", default=None, help="address to listen on (--tcp / --ws; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port for --tcp / --ws (default 2087)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="--ws: a web page origin that may connect, e.g. http://host:8080 (repeatable; "
                        "loopback pages and clients that are not browsers always may)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="DIR", help="checkpoint directory (default: the packaged model)")
    source.add_argument("--remote", metavar="URL", type=_url,
                        help="complete with a team server (dllm-serve, e.g. http://host:8012) instead of a local model")
    p.add_argument("--api-key", metavar="KEY", help="the --remote server's API key (default: env DLLM_API_KEY)")
    p.add_argument("--device", help="cpu, cuda, cuda:N ... (default: the engine decides)")
    p.add_argument("--max-message-bytes", type=_positive, default=framing.DEFAULT_MAX_BYTES, metavar="N",
                   help=f"largest message accepted over stdio / TCP; a longer one ends the session "
                        f"(default {framing.DEFAULT_MAX_BYTES})")
    p.add_argument("--log-file", metavar="PATH", help="append JSON logs here instead of stderr")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--check", action="store_true", help="load the model, warm it up, report and exit")
    p.add_argument("--version", action="version", version=f"dllm-lsp {__version__}")
    return p


def check(model: str | None, device: str | None, remote: str | None = None, api_key: str | None = None) -> int:
    """Print version, model, device and warm-up latency; 0 if the model (or the remote server) works."""
    print(f"dllm-lsp {__version__}")
    host = EngineHost(remote, api_key)
    try:
        info = host.load(model, device)
        first, second = host.warm_up()
    except LoadError as exc:
        print(f"model: failed to load: {exc}")
        return 1
    except Exception as exc:
        print(f"model: warm-up failed: {describe(exc)}")
        return 1
    params = info.get("params")
    size = f", {params / 1e6:.1f}M params" if isinstance(params, (int, float)) else ""
    print(f"model: {info.get('model', model or 'default')}{size}")
    print(f"device: {info.get('device', device or '?')} ({info.get('dtype', '?')})")
    print(f"warm-up: {second:.1f} ms (first call {first:.1f} ms)")
    if remote:
        print(f"server: {remote}")
    return 0


def protect_stdout() -> BinaryIO:
    """Keep the real stdout for LSP messages; everything else written to fd 1 goes to stderr."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return channel


class ListenError(Exception):
    """The TCP / WebSocket address could not be listened on (one line, for the user)."""


class _Dropped:
    """The writer once a session is over: late answers (to cancelled requests) go nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _WsWriter:
    """pygls' writer over a WebSocket. `close` is a no-op so that `exit` raises pygls' SystemExit
    inside the session (pygls' own writer defers it to a loop callback); the session closes the
    socket. A send to a closed socket is dropped instead of ending as an unretrieved task error."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def _send(self, data: bytes) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(data)

    def write(self, data: bytes) -> Any:
        return self._send(data)

    def close(self) -> None:
        pass


def _stdin_stream(fd: int) -> asyncio.StreamReader:
    """File descriptor `fd` (stdin) as an asyncio stream, fed by a daemon thread, so that a read
    blocked on a quiet client never holds up the exit (pygls reads from a pool thread, which exit
    waits for). It reads the descriptor itself: a daemon thread inside `sys.stdin`'s buffer would
    hold its lock when the interpreter finalizes, which is a fatal error."""
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader()

    def pump() -> None:
        try:
            with contextlib.suppress(OSError):
                while chunk := os.read(fd, 65536):
                    loop.call_soon_threadsafe(stream.feed_data, chunk)
            loop.call_soon_threadsafe(stream.feed_eof)
        except RuntimeError:  # the loop is closed: the server is on its way out
            pass

    threading.Thread(target=pump, name="dllm-stdin", daemon=True).start()
    return stream


async def _session(server: Any, reader: asyncio.StreamReader, max_bytes: int) -> str:
    """Serve Content-Length framed messages until `exit` ("exit"), the end of input ("eof") or a
    stream that cannot be read any further ("bad-framing")."""
    messages = framing.MessageReader(reader, max_bytes)
    try:
        while (body := await messages.read()) is not None:
            server.protocol.receive(body)
    except SystemExit:  # pygls' answer to `exit`: here it ends the session, not the process
        return "exit"
    except framing.FramingError as exc:
        telemetry.get().error("framing.error", error=str(exc))
        return "bad-framing"
    except ConnectionError:
        pass
    finally:
        server.protocol.set_writer(_Dropped())
    return "eof"


async def _serve_stdio(server: Any, stdin_fd: int, channel: BinaryIO, max_bytes: int) -> str:
    from pygls.io_ import StdoutWriter

    server.protocol.set_writer(StdoutWriter(channel))
    return await _session(server, _stdin_stream(stdin_fd), max_bytes)


async def _serve_tcp(server: Any, host: str, port: int, max_bytes: int) -> str:
    loop = asyncio.get_running_loop()
    client: asyncio.Future = loop.create_future()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if client.done():
            writer.close()
        else:
            client.set_result((reader, writer))

    try:
        listener = await asyncio.start_server(connected, host, port)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    telemetry.get().info("listening", transport="tcp", host=host, port=port)
    try:
        reader, writer = await client
    finally:
        listener.close()  # one client
    server.protocol.set_writer(writer)
    try:
        return await _session(server, reader, max_bytes)
    finally:
        writer.close()


async def _ws_session(server: Any, ws: Any) -> str:
    """Serve one JSON-RPC message per WebSocket message until `exit` or the socket closes."""
    from websockets.exceptions import ConnectionClosed

    protocol = server.protocol
    protocol.set_writer(_WsWriter(ws), include_headers=False)
    try:
        while True:
            protocol.receive(await ws.recv(decode=False))
    except SystemExit:
        return "exit"
    except ConnectionClosed:
        return "disconnected"
    finally:
        protocol.set_writer(_Dropped())


def origin_allowed(origin: str | None, allowed: list[str]) -> bool:
    """Whether a WebSocket handshake's Origin may open a session. Browsers let any page connect to
    localhost and send its origin; other clients send none. A page from elsewhere could otherwise
    drive the server, e.g. set where arena votes are logged."""
    return origin is None or origin in allowed or LOOPBACK_ORIGIN.fullmatch(origin) is not None


async def _serve_ws(server: Any, host: str, port: int, max_bytes: int, allowed: list[str]) -> str:
    from websockets.asyncio.server import serve

    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    taken = False

    async def connection(ws: Any) -> None:
        nonlocal taken
        if taken:
            await ws.close(1013, "dllm-lsp serves one client")
            return
        taken = True
        reason = await _ws_session(server, ws)
        if not ended.done():
            ended.set_result(reason)

    def gate(ws: Any, request: Any) -> Any:
        origin = request.headers.get("Origin")
        if origin_allowed(origin, allowed):
            return None
        telemetry.get().warning("ws.origin_refused", origin=origin[:200])
        return ws.respond(403, "dllm-lsp: this page's origin may not connect (dllm-lsp --allow-origin)\n")

    try:
        listener = await serve(connection, host, port, max_size=max_bytes, process_request=gate)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    telemetry.get().info("listening", transport="ws", host=host, port=port)
    async with listener:  # on the way out: close the socket(s), wait for the handler
        return await ended


async def _serve(server: Any, transport: str, args: argparse.Namespace, channel: BinaryIO | None) -> str:
    """Serve until the session ends or a stop signal comes; returns why it stopped."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[str] = loop.create_future()

    def stop_for(reason: str) -> None:
        if not stop.done():
            stop.set_result(reason)

    # the client no longer reads our answers: end, as for a hang-up (may be called from any thread)
    server.protocol.on_output_lost = lambda: loop.call_soon_threadsafe(stop_for, "output-closed")

    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows: Ctrl-C raises
            loop.add_signal_handler(sig, stop_for, sig.name)
    if transport == "tcp":
        serving = _serve_tcp(server, args.host, args.port, args.max_message_bytes)
    elif transport == "ws":
        serving = _serve_ws(server, args.host, args.port, args.max_message_bytes, args.allow_origin)
    else:
        serving = _serve_stdio(server, sys.stdin.fileno(), channel, args.max_message_bytes)
    session = asyncio.ensure_future(serving)
    watch = asyncio.ensure_future(_watch_parent(server.service, stop_for))
    try:
        await asyncio.wait({session, stop}, return_when=asyncio.FIRST_COMPLETED)
        return stop.result() if stop.done() else session.result()  # a signal and a hang-up: the signal
    finally:
        server.protocol.set_writer(_Dropped())  # after a signal the server stops talking, too
        session.cancel()
        watch.cancel()
        server.service.scheduler.cancel_all()  # running jobs stop while the loop winds down


async def _watch_parent(service: Any, stop_for: Any) -> None:
    """Ends the session once the process that started the server (initialize's processId) is gone, as
    LSP asks: over TCP or a WebSocket nothing else would tell us that the editor died."""
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        pid = service.parent_pid
        if isinstance(pid, int) and pid > 0 and not _alive(pid):
            telemetry.get().warning("parent.gone", pid=pid)
            stop_for("parent-exited")
            return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # someone else's process, or no such number: not ours to judge
        return True
    return True


def _exit_at_once(signum: int, frame: Any) -> None:
    os._exit(128 + signum)


def _run(args: argparse.Namespace, transport: str) -> int:
    from .server import create

    log = telemetry.get()
    server = create(model=args.model, device=args.device, remote=args.remote, api_key=args.api_key)
    log.info("start", version=__version__, transport=transport, pid=os.getpid())
    channel = protect_stdout() if transport == "stdio" else None
    reason = "error"  # stays so only if something unexpected propagates
    try:
        reason = asyncio.run(_serve(server, transport, args, channel))
    except ListenError as exc:
        print(f"dllm-lsp: error: {exc}", file=sys.stderr)
        reason = "listen-failed"
    except Interrupted as exc:  # a signal before the event loop took signals over
        reason = exc.name
    finally:
        for sig in STOP_SIGNALS:  # while the model thread is joined, a second signal ends at once
            signal.signal(sig, _exit_at_once)
        joined = server.service.close(JOIN_TIMEOUT_S)
        shutdown = server.protocol._shutdown
        code = 0 if shutdown or reason in ("SIGINT", "SIGTERM") else 1  # LSP: exit without shutdown is an error
        log.info("stop", reason=reason, after_shutdown=shutdown, model_thread="joined" if joined else "busy",
                 exit_code=code)
    if not joined:  # still inside an uncancellable call: leave without running the exit handlers
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.api_key and not args.remote:
        p.error("--api-key needs --remote")
    if args.device and args.remote:
        p.error("--device names a local device: with --remote the server's own is used")
    if not (args.tcp or args.ws) and (args.host is not None or args.port is not None):
        p.error("--host and --port need --tcp or --ws (the default transport is stdio)")
    if args.allow_origin and not args.ws:
        p.error("--allow-origin needs --ws")
    args.host = args.host or "127.0.0.1"
    args.port = 2087 if args.port is None else args.port
    if args.remote:
        try:
            args.api_key = check_api_key(args.api_key or os.environ.get("DLLM_API_KEY"))
        except ValueError as exc:
            p.error(str(exc))
    telemetry.configure(args.log_file, args.log_level)
    transport = "tcp" if args.tcp else "ws" if args.ws else "stdio"
    try:
        with stop_signals_raise():
            if args.check:
                return check(args.model, args.device, args.remote, args.api_key)
            if (args.tcp or args.ws) and not 0 < args.port < 65536:
                print(f"dllm-lsp: error: --port must be in 1..65535, got {args.port}", file=sys.stderr)
                return 2
            return _run(args, transport)
    except KeyboardInterrupt as exc:  # before the server existed (imports), or during --check
        name = getattr(exc, "name", "SIGINT")
        code = 128 + signal.Signals[name] if args.check else 0  # --check did not finish: not "works"
        telemetry.get().info("stop", reason=name, exit_code=code)
        return code
