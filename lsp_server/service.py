"""The server's state and what each LSP message does to it.

Owns: the configuration in force (and reacting to changes: reload the model, clear the cache,
switch all model work off), the model's life cycle (loaded on the model thread after `initialized`;
a failure is shown to the user and leaves the server serving empty results), document sync, and
the entry points `server.py` routes requests to. Every entry point logs and swallows what goes
wrong with one message, so a bad message never ends the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from lsprotocol import types as lsp

from . import arena, convert, telemetry
from .cache import SuggestionCache
from .completion import Completer, Request
from .config import ServerConfig, merge
from .documents import DocumentStore
from .engine_host import EngineHost, LoadError
from .scheduler import Scheduler

Show = Callable[[lsp.MessageType, str], None]


class Service:
    def __init__(self, show: Show, *, model: str | None = None, device: str | None = None,
                 remote: str | None = None, api_key: str | None = None) -> None:
        self.show = show
        self.config = ServerConfig(model=model, device=device)
        self.store = DocumentStore()
        self.cache = SuggestionCache()
        self.host = EngineHost(remote, api_key)
        self.scheduler = Scheduler()
        self.completer = Completer(self.store, self.cache, self.host, self.scheduler, lambda: self.config)
        self.completer.on_model_error = self._model_error
        self.arena = arena.Arena(self.host, self.scheduler)
        self.fetch_settings: Callable[[], Awaitable[Any]] | None = None
        self.markdown = False  # the client renders markdown in completion documentation
        self._load_task: asyncio.Task | None = None
        self._model_errors: set[str] = set()
        self.log = telemetry.get()

    # configuration and model life cycle -------------------------------------------------------

    parent_pid: int | None = None  # the editor's process (initialize's processId), watched by launch.py

    def initialize(self, options: Any, encoding: str) -> None:
        self.store.encoding = encoding
        self.apply_settings(options, load=False)
        self.log.info("initialize", encoding=encoding, config=str(self.config))

    def initialized(self) -> None:
        self._schedule_load()

    def apply_settings(self, settings: Any, *, load: bool = True) -> None:
        old = self.config
        new, warnings = merge(old, settings)
        if (reason := self.host.check_sampler(new.sampler)) is not None:
            warnings.append(f"invalid sampler settings ({reason}); keeping the previous ones")
            new = merge(new, {"sampler": old.sampler})[0]
        elif new.sampler != old.sampler and new.model == old.model \
                and (reason := self.host.unread(new.sampler)) is not None:  # (a new model: checked once loaded)
            warnings.append(reason)
        try:
            labels = [arena.parse(spec).label for spec in new.arena.backends]
            if len(set(labels)) < len(labels):  # a leaderboard could not tell them apart
                raise ValueError(f"arena backends share a label ({', '.join(sorted(labels))}); name them label@spec")
        except ValueError as exc:
            warnings.append(f"{exc}; keeping the previous arena settings")
            new = merge(new, {"arena": msgspec.to_builtins(old.arena)})[0]
        for warning in warnings:
            self.log.warning("config.invalid", warning=warning)
            self.show(lsp.MessageType.Warning, f"dllm: {warning}")
        self.config = new
        if new == old:
            return
        self.log.info("config.changed", config=str(new))
        self.cache.clear()
        self.scheduler.pause(not new.enabled)
        if load and (new.model, new.device, new.enabled) != (old.model, old.device, old.enabled):
            self._schedule_load()

    async def pull_settings(self) -> None:
        """Ask the client for the `dllm` settings (`workspace/configuration`) and apply them."""
        try:
            settings = await self.fetch_settings()
        except Exception as exc:
            self.log.warning("config.fetch_failed", error=str(exc))
            return
        self.apply_settings(settings)

    def _schedule_load(self) -> None:
        if self.config.enabled:
            self._load_task = asyncio.ensure_future(self._load(self.config.model, self.config.device))

    async def _load(self, model: str | None, device: str | None) -> None:
        try:
            info = await self.scheduler.call(self.host.load, model, device)
        except LoadError as exc:
            self.log.error("model.load_failed", model=model, error=str(exc))
            self.show(lsp.MessageType.Error, f"dllm: could not load the model: {exc}")
            return
        self.cache.clear()
        self.log.info("model.loaded", **{k: str(v) for k, v in info.items()})
        if (reason := self.host.check_sampler(self.config.sampler)) is not None:
            self.show(lsp.MessageType.Warning, f"dllm: invalid sampler settings ({reason}); using the defaults")
            self.config = merge(self.config, {"sampler": {}})[0]
        elif (reason := self.host.unread(self.config.sampler)) is not None:
            self.show(lsp.MessageType.Warning, f"dllm: {reason}")

    def _model_error(self, message: str) -> None:
        if message not in self._model_errors and len(self._model_errors) < 20:
            self._model_errors.add(message)
            self.show(lsp.MessageType.Warning, f"dllm: completion failed: {message}")

    # documents ---------------------------------------------------------------------------------

    def did_open(self, params: lsp.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        self.store.open(doc.uri, doc.language_id, doc.version, doc.text)
        self.cache.clear(doc.uri)

    def did_change(self, params: lsp.DidChangeTextDocumentParams) -> None:
        doc = params.text_document
        if self.store.change(doc.uri, doc.version, convert.changes(params)) is None:
            self.log.warning("document.unknown", uri=doc.uri, notification="didChange")

    def did_close(self, params: lsp.DidCloseTextDocumentParams) -> None:
        self._forget(params.text_document.uri)

    def lost_track(self, uri: str) -> None:
        """A change to `uri` could not be read: its text here is no longer the editor's, so it is
        dropped (no completions there) until the editor opens it again."""
        if self.store.get(uri) is None:
            return
        self._forget(uri)
        self.log.warning("document.lost", uri=uri)
        self.show(lsp.MessageType.Warning, f"dllm: a change to {uri} could not be read; "
                                           "completions there resume when the file is reopened")

    def _forget(self, uri: str) -> None:
        self.scheduler.cancel(uri)
        self.store.close(uri)
        self.cache.clear(uri)

    # requests ----------------------------------------------------------------------------------

    def inline_completion(self, params: lsp.InlineCompletionParams,
                          request_id: Any) -> Awaitable[lsp.InlineCompletionList]:
        """Call as the request is read (the document as it is then); await the answer."""
        req = self.completer.arrived(convert.inline_request(params, request_id))

        async def answer() -> lsp.InlineCompletionList:
            return convert.inline_result(await self.completer.suggest(req))
        return answer()

    def completion(self, params: lsp.CompletionParams, request_id: Any) -> Awaitable[lsp.CompletionList]:
        """Call as the request is read (the document as it is then); await the answer."""
        req = self.completer.arrived(convert.completion_request(params, request_id))

        async def answer() -> lsp.CompletionList:
            return convert.completion_result(await self.completer.suggest(req), self.markdown)
        return answer()

    def arena_round(self, params: Any) -> Awaitable[dict]:
        """`dllm/arena`: two backends' suggestions at the position, in random order, names hidden. Call as
        the request is read (the document as it is then); await the answer. ValueError for bad params."""
        cfg = self.config
        try:
            uri, line, character = params.textDocument.uri, int(params.position.line), int(params.position.character)
        except (AttributeError, TypeError, ValueError):
            raise ValueError("dllm/arena takes {textDocument: {uri}, position: {line, character}}") from None
        doc = self.store.get(uri)
        where = Request(uri, line, character, invoked=True, method="arena")
        if not (cfg.arena.enabled and len(cfg.arena.backends) >= 2) or Completer.skip_reason(cfg, doc, where):
            return asyncio.sleep(0, {"round": None, "suggestions": []})  # as a completion would be: off, or nothing to ask about
        return self.arena.play(doc, doc.index.offset_at(line, character), cfg, cfg.arena)

    def arena_vote(self, params: Any) -> dict:
        """`dllm/arenaVote`: the user's pick of a round, appended to the local vote log."""
        return self.arena.vote(getattr(params, "round", None), getattr(params, "choice", None),
                               self.config.arena.log_file)

    def feedback(self, kind: str, params: Any) -> None:
        telemetry.feedback(kind, params)

    def stats(self) -> dict:
        c = self.scheduler.counters
        info = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in self.host.info.items()}
        loading = self._load_task is not None and not self._load_task.done()  # neither the old model nor its error
        return {"model": info if self.host.ready and not loading else None,
                "model_error": None if loading else self.host.error, "loading": loading,
                "documents": len(self.store), "cache": {"entries": len(self.cache), "chars": self.cache.chars,
                                                        "hits": self.cache.hits, "misses": self.cache.misses},
                "scheduler": {"submitted": c.submitted, "skipped": c.skipped, "stopped": c.stopped,
                              "served": c.served, "failed": c.failed},
                "enabled": self.config.enabled, "scope": self.host.scope_totals}

    def shutdown(self) -> None:
        self.scheduler.cancel_all()
        self.log.info("shutdown", **self.stats()["scheduler"])

    def close(self, timeout: float | None = None) -> bool:
        """End all model work and join the model thread (any thread may call it); False if the
        thread was still busy after `timeout` seconds."""
        return self.scheduler.close(timeout)
