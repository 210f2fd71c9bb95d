"""One completion request from cursor to suggestions: the pipeline, in plain Python values.

document -> guards (open? enabled? sane text and position?) -> context window -> trigger decision
-> cache -> scheduler (model thread) -> post-processing (with the scope check on, suggestions using a
name that resolves to nothing ranked last) -> cache -> re-anchoring on the document
as it is now (text typed while the model ran is replaced by the suggestion, anything else makes the
answer stale and it is dropped). Every request ends in exactly one `completion` log event with its
outcome and stage timings. Knows no LSP wire types; `service.py` converts.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from dllm_complete.dllm.contract import describe
from dllm_complete.grammars.scope import resolved_first

from . import postprocess, telemetry, trigger, window
from .cache import SuggestionCache
from .config import ServerConfig, enabled_for
from .documents import DocumentStore
from .engine_host import EngineHost, Job
from .scheduler import Scheduler, Superseded

Position = tuple[int, int]
_ids = itertools.count(1)


@dataclass(frozen=True)
class Request:
    uri: str
    line: int
    character: int
    invoked: bool
    method: str = "inline"
    request_id: Any = None
    selected: tuple[Position, Position, str] | None = None  # selectedCompletionInfo: range, text
    seen: tuple[Any, int, Any] | None = None  # (document, revision, line index) as the request arrived


@dataclass(frozen=True)
class Suggestion:
    id: str
    text: str  # replaces [start, end)
    start: Position
    end: Position
    word_start: Position  # start of the identifier the cursor is in (for completion menus)
    word: str  # that identifier's text up to `start`


@dataclass
class Trace:
    """Fields and stage timings of one request, logged once when it ends."""

    fields: dict
    t0: float = field(default_factory=time.perf_counter)
    marks: dict = field(default_factory=dict)
    last: float = 0.0

    def __post_init__(self) -> None:
        self.last = self.t0

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.marks[stage] = round((now - self.last) * 1000, 3)
        self.last = now

    def done(self, outcome: str, **extra: Any) -> None:
        total = round((time.perf_counter() - self.t0) * 1000, 3)
        telemetry.completion(**{**self.fields, **extra, "outcome": outcome,
                                "timings_ms": {**self.marks, "total": total}})


@dataclass
class _Shared:
    """Model work in flight and how many requests wait for it."""

    work: asyncio.Future
    waiting: int = 0


def _word_before(text: str) -> str:
    i = len(text)
    while i > 0 and trigger.is_word(text[i - 1]):
        i -= 1
    return text[i:]


class Completer:
    def __init__(self, store: DocumentStore, cache: SuggestionCache, host: EngineHost,
                 scheduler: Scheduler, config: Callable[[], ServerConfig]) -> None:
        self.store, self.cache, self.host, self.scheduler, self.config = store, cache, host, scheduler, config
        self.on_model_error: Callable[[str], None] = lambda message: None
        self._in_flight: dict[tuple, _Shared] = {}  # see `_infill`

    def arrived(self, req: Request) -> Request:
        """`req` with the document as it is now, when the request is read: its position is in that text,
        and edits read after it (the client sent them later) count as typed while the model ran."""
        doc = self.store.get(req.uri)
        return req if doc is None else replace(req, seen=(doc, doc.revision, doc.index))

    async def suggest(self, req: Request) -> list[Suggestion]:
        trace = Trace({"request_id": req.request_id, "method": req.method, "uri": req.uri,
                       "trigger": "invoked" if req.invoked else "automatic"})
        try:
            return await self._suggest(req, trace)
        except asyncio.CancelledError:
            trace.done("cancelled")
            raise
        except Exception as exc:  # a bug must cost one suggestion, never the session
            telemetry.get().exception("completion.failed", request_id=req.request_id)
            trace.done("error", error=describe(exc))
            return []

    async def _infill(self, uri: str, same: tuple | None, job: Job, cfg: ServerConfig) -> list:
        """The model's results for `job`, the newest request of its document. A request `same` as one in
        flight (the same text, place, mode and number of suggestions: VS Code asks for the inline and
        the menu completion together) waits for that one instead of replacing it; the model work stops
        only when every request waiting for it is cancelled (or a newer one replaces them)."""
        shared = self._in_flight.get(same) if same is not None else None
        if shared is None:
            work = asyncio.ensure_future(self.scheduler.run(uri, lambda tok: self.host.infill(job, tok, cfg.sampler),
                                                            debounce_s=cfg.debounce_ms / 1000))
            work.add_done_callback(lambda done: done.cancelled() or done.exception())  # read, though none may wait
            shared = _Shared(work)
            if same is not None:
                self._in_flight[same] = shared
                work.add_done_callback(lambda _: self._in_flight.get(same) is shared and self._in_flight.pop(same))
        shared.waiting += 1
        try:
            return await asyncio.shield(shared.work)
        except asyncio.CancelledError:
            if shared.waiting == 1:  # the last one waiting: the model may stop
                shared.work.cancel()
            raise
        finally:
            shared.waiting -= 1

    @staticmethod
    def skip_reason(cfg: ServerConfig, doc: Any, req: Request, index: Any = None) -> str | None:
        """Why this request gets nothing without looking at the text (`index`, else the document's), if it does."""
        if doc is None:
            return "unknown-document"
        if not cfg.enabled:
            return "disabled"
        if not enabled_for(cfg, doc.language):
            return "language-disabled"
        index = index or doc.index
        if len(index.text) > cfg.max_document_chars:
            return "document-too-large"
        if doc.binary:
            return "binary-document"
        if not 0 <= req.line < index.line_count or req.character < 0:
            return "position-outside-document"  # a column past the line's end is clamped, as LSP says
        return None

    async def _suggest(self, req: Request, trace: Trace) -> list[Suggestion]:
        cfg = self.config()
        doc = self.store.get(req.uri)
        revision, index = req.seen[1:] if req.seen is not None and req.seen[0] is doc else (
            getattr(doc, "revision", None), getattr(doc, "index", None))
        if skip := self.skip_reason(cfg, doc, req, index):
            trace.done("empty", reason=skip)
            return []
        trace.fields["language"] = doc.language
        text = index.text
        offset = index.offset_at(req.line, req.character)
        ctx = window.build(text, offset, cfg.prefix_tokens, cfg.suffix_tokens)
        replace_from, replace_to, lead = offset, offset, ""
        if req.selected is not None:  # the menu's selected item, on the cursor's line around it (`convert.py`)
            (sl, sc), (el, ec), lead = req.selected
            replace_from, replace_to = min(index.offset_at(sl, sc), offset), max(index.offset_at(el, ec), offset)
            ctx = window.with_selection(ctx, offset - replace_from, lead, replace_to - offset)
        decision = trigger.decide(ctx.line_prefix, ctx.line_suffix, ctx.prev_line, ctx.next_line,
                                  invoked=req.invoked, mode=cfg.mode, max_line=cfg.max_line_chars)
        trace.fields.update(mode=decision.mode, reason=decision.reason)
        trace.mark("context")
        if decision.mode is None:
            trace.done("empty")
            return []
        alternatives = cfg.alternatives if req.invoked and req.method == "inline" else 1
        hit = self.cache.get(req.uri, text, offset) if req.selected is None else None
        if hit is not None and len(hit) >= min(alternatives, 2):
            trace.mark("cache")
            out = self._anchor(req, doc, revision, offset, (replace_from, replace_to), "", hit, ctx)
            trace.done("served" if out else "stale", cached=True, model_calls=0, suggestions=len(out))
            return out
        if not self.host.ready and self.host.error and not self.host.reconnect_due():
            trace.done("empty", reason="model-unavailable", error=self.host.error)
            return []
        job = Job.at(ctx, doc, decision.mode, cfg, alternatives)
        same = (req.uri, revision, offset, decision.mode, alternatives) if req.selected is None else None
        try:
            results = await self._infill(req.uri, same, job, cfg)
        except Superseded:
            trace.mark("model")
            trace.done("superseded")
            return []
        except Exception as exc:
            trace.mark("model")
            message = describe(exc)
            telemetry.get().error("model.failed", request_id=req.request_id, error=message)
            self.on_model_error(message)
            trace.done("error", error=message, model_calls=1)
            return []
        trace.mark("model")
        stats = [s for _, s in results]
        trace.fields.update(model_calls=len(results), nfe=sum(s.nfe for s in stats),
                            steps=sum(s.steps for s in stats),
                            engine_ms=round(sum(s.timings_ms.get("total", 0.0) for s in stats), 3))
        texts = postprocess.suggestions([raw for raw, _ in results], ctx, mode=decision.mode, eol=doc.eol,
                                        max_lines=cfg.max_lines)
        if len(texts) > 1 and (check := getattr(job.constraint, "scope", None)) is not None:  # the engine's
            texts = resolved_first(texts, ctx.prefix, ctx.suffix, check)  # one using an unresolved name goes last
        if req.selected is None:
            self.cache.put(req.uri, text, offset, texts)
        trace.mark("post")
        current = self.store.get(req.uri)  # closed (or closed and reopened) meanwhile: stale
        replaced = (replace_from, replace_to)
        out = self._anchor(req, doc, revision, offset, replaced, lead, texts, ctx) if current is doc else []
        trace.done("served" if out else ("stale" if texts else "empty"), suggestions=len(out),
                   chars=len(out[0].text) if out else 0)
        return out

    def _anchor(self, req: Request, doc: Any, revision: int, offset: int, replaced: tuple[int, int], lead: str,
                texts: list[str], ctx: window.Window) -> list[Suggestion]:
        """Suggestions placed on the document as it is now, or [] if it changed elsewhere; each replaces
        `replaced` (the selected item's range, else the cursor) and what was typed at the cursor since."""
        replace_from, replace_to = replaced
        typed = doc.typed_since(revision, offset)
        if typed is None:
            return []
        index = doc.index
        texts = [t for t in texts if t.startswith(typed) and len(t) > len(typed)]
        if "\n" in typed or "\r" in typed:  # a line break typed meanwhile: editors take a range on one
            if lead:                        # line only, so the rest goes in at the cursor as it is now
                return []
            here = index.position_at(offset + len(typed))
            return [Suggestion(f"{req.request_id}:{next(_ids)}", t[len(typed):], here, here, here, "") for t in texts]
        start = index.position_at(replace_from)
        end = index.position_at(replace_to + len(typed))
        word = _word_before(ctx.line_prefix[: len(ctx.line_prefix) - len(lead)] if lead else ctx.line_prefix)
        word_start = index.position_at(replace_from - len(word))
        return [Suggestion(f"{req.request_id}:{next(_ids)}", lead + t, start, end, word_start, word) for t in texts]
