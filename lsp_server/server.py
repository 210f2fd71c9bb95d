"""The LSP surface: which methods the server answers and where each one goes. No logic here.

Advertised: incremental document sync, `textDocument/inlineCompletion` (with
`InlineCompletionOptions`, without which pygls would not advertise it), `textDocument/completion`,
`workspace/didChangeConfiguration`, the `dllm.accepted` command, and the custom notifications
`dllm/shown`, `dllm/accepted`, `dllm/rejected` plus the `dllm/stats`, `dllm/arena` and
`dllm/arenaVote` requests (editor-clients/README.md). Everything is
delegated to `Service`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types as lsp
from pygls.capabilities import ServerCapabilitiesBuilder
from pygls.exceptions import JsonRpcInvalidParams

from . import __version__
from .convert import ACCEPT_COMMAND
from .protocol import DllmLanguageServer, DllmProtocol, answers_later
from .service import Service

COMPLETION_TRIGGERS = [".", "(", "[", ",", ":", "="]


def create(model: str | None = None, device: str | None = None, remote: str | None = None,
           api_key: str | None = None) -> DllmLanguageServer:
    """A server with every handler registered (not started); `remote`: a dllm-serve URL to complete
    with instead of a local model."""
    ls = DllmLanguageServer("dllm-lsp", __version__, protocol_cls=DllmProtocol,
                            text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
    ls.service = svc = Service(lambda kind, text: ls.window_show_message(lsp.ShowMessageParams(type=kind, message=text)),
                               model=model, device=device, remote=remote, api_key=api_key)

    ls.protocol.on_unreadable_change = svc.lost_track

    async def fetch_settings() -> Any:
        result = await ls.workspace_configuration_async(
            lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="dllm")]))
        return result[0] if result else None

    @ls.feature(lsp.INITIALIZE)
    def initialize(params: lsp.InitializeParams) -> None:
        chosen = ServerCapabilitiesBuilder.choose_position_encoding(params.capabilities)
        encoding = str(getattr(chosen, "value", chosen))
        caps = params.capabilities.workspace
        if caps is not None and caps.configuration:
            svc.fetch_settings = fetch_settings
        item = getattr(getattr(params.capabilities.text_document, "completion", None), "completion_item", None)
        svc.markdown = lsp.MarkupKind.Markdown in (getattr(item, "documentation_format", None) or [])
        svc.initialize(params.initialization_options, encoding)
        svc.parent_pid = params.process_id  # LSP: when the editor that started us is gone, we exit

    @ls.feature(lsp.INITIALIZED)
    def initialized(params: lsp.InitializedParams) -> None:
        svc.initialized()

    @ls.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: lsp.DidOpenTextDocumentParams) -> None:
        svc.did_open(params)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: lsp.DidChangeTextDocumentParams) -> None:
        svc.did_change(params)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: lsp.DidCloseTextDocumentParams) -> None:
        svc.did_close(params)

    @ls.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.InlineCompletionOptions())
    @answers_later
    def inline_completion(params: lsp.InlineCompletionParams):
        return svc.inline_completion(params, ls.protocol.msg_id)

    @ls.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=COMPLETION_TRIGGERS))
    @answers_later
    def completion(params: lsp.CompletionParams):
        return svc.completion(params, ls.protocol.msg_id)

    pulls: set[asyncio.Task] = set()

    @ls.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(params: lsp.DidChangeConfigurationParams) -> None:
        if params.settings is None and svc.fetch_settings is not None:  # pull: ask the client, then apply
            task = asyncio.ensure_future(svc.pull_settings())
            pulls.add(task)  # held until done (the loop keeps only a weak reference)
            task.add_done_callback(pulls.discard)
        else:  # pushed: in effect before the next message is read (a `dllm/stats` right after sees it)
            svc.apply_settings(params.settings)

    @ls.feature(lsp.SHUTDOWN)
    def shutdown(params: Any) -> None:
        svc.shutdown()

    for kind in ("shown", "accepted", "rejected"):
        ls.feature(f"dllm/{kind}")(lambda params, kind=kind: svc.feedback(kind, params))

    @ls.command(ACCEPT_COMMAND)
    def accepted_command(*args):  # noqa: ANN002 - pygls reads the annotations
        svc.feedback("accepted", {"id": args[0] if args else None, "via": "command"})

    @ls.feature("dllm/arena")
    @answers_later
    def arena_round(params: Any):
        try:
            return svc.arena_round(params)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None

    @ls.feature("dllm/arenaVote")
    def arena_vote(params: Any) -> dict:
        try:
            return svc.arena_vote(params)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None

    @ls.feature("dllm/stats")
    def stats(params: Any) -> dict:
        return svc.stats()

    return ls
