"""pygls' protocol and server classes, adjusted where this server needs different behaviour.

Owns these adjustments, nothing else:
  - document sync goes only to our `DocumentStore` (pygls' own workspace copy is skipped, so one
    store holds the text and a bad edit cannot stop our handler from running);
  - `receive` takes one message body from a transport (JSON parsed with the protocol's object hook,
    then dispatched), and nothing a client sends makes it raise, except pygls' SystemExit for `exit`;
  - every request gets the answer JSON-RPC and LSP prescribe, and notifications never get one: a body
    that is not JSON -> Parse error (-32700, id null); JSON that is not JSON-RPC -> Invalid request
    (-32600), as is an id that is neither a number nor a string; a request before `initialize` -> Server
    not initialized (-32002), after `shutdown` -> Invalid request (-32600) (notifications then are
    dropped, `exit` excepted); params that do not fit the method -> Invalid params (-32602), an unknown
    method -> Method not found (-32601); a message without `params` (legal JSON-RPC) is read as
    `params: null`; a didChange whose params do not fit names its document to `on_unreadable_change` (the
    server's copy of that text is no longer the editor's);
  - the writer is guarded: once the client's end is gone, answers are dropped after one log line
    and `on_output_lost` is called (no "Error sending data" for every late answer);
  - the futures pygls keeps per handler run are released when the run is over (pygls keeps those
    of notifications for good);
  - a request handler marked `answers_later` is called as its request is read, in order with the
    notifications around it, and returns an awaitable of its answer (pygls starts a coroutine
    handler only after the rest of what it read, a didChange the client sent later included);
  - server-side errors are logged as JSON (never popped up on the user's screen for input noise).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any, Callable

from cattrs import transform_error
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcServerNotInitialized
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from . import telemetry

PARSE_ERROR = -32700


# pygls logs every request it cannot read as an error with a multi-KB traceback; such a request is the
# client's mistake, answered -32602 and logged by us in one warning line (`jsonrpc.refused`)
logging.getLogger("pygls.protocol.json_rpc").addFilter(
    lambda record: not record.getMessage().startswith("Unable to deserialize message"))


def _what_failed(error: BaseException) -> str:
    try:
        return "; ".join(transform_error(error, path="$"))[:300]
    except Exception:  # noqa: BLE001 - only a message
        return str(error)[:300]


async def _raising(exc: Exception) -> Any:
    raise exc


class _BadRequest:
    """A request whose params could not be read; answered with its error, never dispatched."""

    def __init__(self, msg_id: Any, method: Any, error: JsonRpcException) -> None:
        self.id, self.method, self.error = msg_id, method, error


class _GuardedWriter:
    """The transport's writer; the first write that fails (a closed pipe, file or socket) turns
    it into a sink, with one log line."""

    def __init__(self, writer: Any, lost: Callable[[Exception], None]) -> None:
        self.writer, self._lost, self.dead = writer, lost, False

    def write(self, data: bytes) -> Any:
        if self.dead:
            return None
        try:
            if getattr(self.writer, "is_closing", lambda: False)():  # an asyncio socket after a hang-up
                raise ConnectionResetError("the connection is closed")
            return self.writer.write(data)
        except (OSError, ValueError) as exc:  # ValueError: a write to a closed file
            self.close()
            self._lost(exc)
            return None

    def close(self) -> Any:
        self.dead = True  # closed by `exit` or after a failure: later answers go nowhere
        try:
            return self.writer.close()
        except (OSError, ValueError):  # flushing what a dead pipe did not take
            return None


def answers_later(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Mark a request handler that reads the server's state as the request arrives (see the module)."""
    handler.answers_later = True
    return handler


class DllmProtocol(LanguageServerProtocol):
    on_output_lost: Callable[[], None] | None = None
    on_unreadable_change: Callable[[str], None] | None = None  # (uri): its text is no longer the editor's
    _initialize_seen = False

    def _forward(self, method: str, params: Any):
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: lsp.DidOpenTextDocumentParams):
        yield from self._forward(lsp.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams):
        yield from self._forward(lsp.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: lsp.DidCloseTextDocumentParams):
        yield from self._forward(lsp.TEXT_DOCUMENT_DID_CLOSE, params)

    def _handle_cancel_notification(self, msg_id):
        """A cancel for a request already answered is routine (an editor cancels what it superseded,
        answered or not): it is dropped without pygls' warning line, one per keystroke otherwise."""
        if isinstance(msg_id, (int, str)) and msg_id in self._request_futures:
            super()._handle_cancel_notification(msg_id)

    # reading ------------------------------------------------------------------------------------

    def receive(self, body: bytes) -> None:
        """Handle one message body as pygls' own loops do; errors are reported, never raised."""
        try:
            try:
                message = json.loads(body, object_hook=self.structure_message)
            except RecursionError:  # nested deeper than the decoder goes: not JSON it can read
                raise json.JSONDecodeError("nested too deeply", "", 0) from None
            self.handle_message(message)
        except Exception as exc:
            self._server._report_server_error(exc, JsonRpcException)

    def structure_message(self, data: dict[str, Any]):
        if "jsonrpc" in data and "method" in data and "params" not in data:
            data["params"] = None  # JSON-RPC lets a message leave `params` out; pygls' types need it
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                if exc.__cause__ is not None:  # say which field (cattrs' own account of what failed)
                    exc = type(exc)(f"{exc.message}: {_what_failed(exc.__cause__)}")
                return _BadRequest(data["id"], data["method"], exc)
            if isinstance(data, dict) and data.get("method") == lsp.TEXT_DOCUMENT_DID_CHANGE:
                params = data.get("params")
                document = params.get("textDocument") if isinstance(params, dict) else None
                uri = document.get("uri") if isinstance(document, dict) else None
                if isinstance(uri, str) and self.on_unreadable_change is not None:
                    self.on_unreadable_change(uri)
            raise

    def handle_message(self, message: Any):
        is_request = hasattr(message, "id") and hasattr(message, "method")
        if not isinstance(message, _BadRequest) and getattr(message, "jsonrpc", None) != self.VERSION:
            telemetry.get().warning("jsonrpc.invalid_request", message=repr(message)[:200])
            msg_id = message.get("id") if isinstance(message, dict) else getattr(message, "id", None)
            self._send_error(msg_id, JsonRpcInvalidRequest.CODE, "Invalid request")
            return
        if not hasattr(message, "method"):  # a response to a request of ours
            super().handle_message(message)
            return
        if is_request and (isinstance(message.id, bool) or not isinstance(message.id, (int, float, str))):
            telemetry.get().warning("jsonrpc.invalid_request", message=repr(message)[:200])
            self._send_error(None, JsonRpcInvalidRequest.CODE, "Invalid request: id must be a number or a string")
            return
        if not isinstance(message.method, str):
            telemetry.get().warning("jsonrpc.invalid_request", message=repr(message)[:200])
            if is_request:
                self._send_error(message.id, JsonRpcInvalidRequest.CODE, "Invalid request: method must be a string")
            return
        refusal = self._refusal(message.method)
        if message.method == lsp.INITIALIZE and is_request and not isinstance(message, _BadRequest):
            self._initialize_seen = True
        if refusal is not None or isinstance(message, _BadRequest):
            if is_request:  # a notification is dropped without an answer
                error = refusal or message.error
                telemetry.get().warning("jsonrpc.refused", id=message.id, method=str(message.method)[:100],
                                        code=error.code)
                self._send_response(message.id, error=error.to_response_error())
            return
        super().handle_message(message)

    def _refusal(self, method: str) -> JsonRpcException | None:
        """The error for a message that the server's state forbids (LSP life cycle), or None."""
        if method == lsp.EXIT:
            return None
        if not self._initialize_seen and method != lsp.INITIALIZE:
            return JsonRpcServerNotInitialized("Server not initialized")
        if self._initialize_seen and method == lsp.INITIALIZE:  # once per session: it fixes the encoding
            return JsonRpcInvalidRequest("Invalid request: the server is initialized already")
        if self._shutdown:
            return JsonRpcInvalidRequest("Invalid request: the server is shutting down")
        return None

    # writing and bookkeeping ----------------------------------------------------------------------

    def _send_error(self, msg_id: Any, code: int, message: str) -> None:
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def set_writer(self, writer: Any, include_headers: bool = True) -> None:
        super().set_writer(_GuardedWriter(writer, self._output_lost), include_headers)

    def _output_lost(self, error: Exception) -> None:
        telemetry.get().warning("transport.closed", error=f"{type(error).__name__}: {error}")
        if self.on_output_lost is not None:
            self.on_output_lost()

    def _execute_handler(self, msg_id, handler, callback, args=None, kwargs=None):
        def finished(future: Any) -> None:
            if self._request_futures.get(msg_id) is future:
                self._request_futures.pop(msg_id, None)
            callback(future)

        if getattr(handler, "answers_later", False):  # as pygls runs a coroutine handler, but called now
            try:
                answer = handler(*(args or ()), **(kwargs or {}))
            except Exception as exc:  # noqa: BLE001 - answered as pygls answers a handler that raised
                answer = _raising(exc)
            future = asyncio.ensure_future(answer)
            self._request_futures[msg_id] = future
            future.add_done_callback(finished)
            return
        super()._execute_handler(msg_id, handler, finished, args, kwargs)


class DllmLanguageServer(LanguageServer):
    def report_server_error(self, error: Exception, source: Any) -> None:
        name = getattr(source, "__name__", str(source))
        not_json = isinstance(error, (json.JSONDecodeError, UnicodeDecodeError))
        level = "warning" if not_json or isinstance(error, JsonRpcException) else "error"  # the client's or ours
        getattr(telemetry.get(), level)("server.error", source=name, error=f"{type(error).__name__}: {error}")
        if not_json:
            self.protocol._send_error(None, PARSE_ERROR, f"Parse error: {error}")
