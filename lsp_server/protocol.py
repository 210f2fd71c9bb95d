"""pygls' protocol and server classes, adjusted where this server needs different behaviour.

Owns three adjustments, nothing else:
  - document sync goes only to our `DocumentStore` (pygls' own workspace copy is skipped, so one
    store holds the text and a bad edit cannot stop our handler from running);
  - malformed JSON-RPC gets a proper error response instead of only a log line: a body that is not
    JSON -> Parse error (-32700, id null); a request whose params do not fit its method -> Invalid
    params (-32602) for that id; a message that is not JSON-RPC at all -> Invalid request (-32600);
  - server-side errors are logged as JSON (never popped up on the user's screen for input noise).
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from . import telemetry

PARSE_ERROR = -32700


class _BadRequest:
    """A request whose params could not be read; answered with its error, never dispatched."""

    def __init__(self, msg_id: Any, error: JsonRpcException) -> None:
        self.id, self.error = msg_id, error


class DllmProtocol(LanguageServerProtocol):
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

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                return _BadRequest(data["id"], exc)
            raise

    def handle_message(self, message: Any):
        if isinstance(message, _BadRequest):
            telemetry.get().warning("jsonrpc.invalid_params", id=message.id)
            self._send_response(message.id, error=message.error.to_response_error())
            return
        if not hasattr(message, "jsonrpc"):  # valid JSON, but not a JSON-RPC message
            telemetry.get().warning("jsonrpc.invalid_request", message=repr(message)[:200])
            msg_id = message.get("id") if isinstance(message, dict) else None
            self._send_data({"jsonrpc": "2.0", "id": msg_id,
                             "error": {"code": JsonRpcInvalidRequest.CODE, "message": "Invalid request"}})
            return
        super().handle_message(message)


class DllmLanguageServer(LanguageServer):
    def report_server_error(self, error: Exception, source: Any) -> None:
        name = getattr(source, "__name__", str(source))
        level = "warning" if isinstance(error, JsonRpcException) else "error"
        getattr(telemetry.get(), level)("server.error", source=name, error=f"{type(error).__name__}: {error}")
        if isinstance(error, ValueError) and not isinstance(error, JsonRpcException):
            # json.JSONDecodeError / UnicodeDecodeError: the body was not JSON
            self.protocol._send_data({"jsonrpc": "2.0", "id": None,
                                      "error": {"code": PARSE_ERROR, "message": f"Parse error: {error}"}})

