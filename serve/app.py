"""The team server's ASGI app (FastAPI): the routes, limits per client, cancellation when a client
goes away (the model is `model.py`'s, the key and the body cap `middleware.py`'s).

Routes: `POST /infill` and `POST /completion` (llama.cpp; also `/completions`, as llama.cpp), `POST
/v1/completions` and `GET /v1/models` (OpenAI; also `/models`, and `/v1/fim/completions` for Continue), `POST /dllm/infill`
(ours, for `dllm-lsp --remote`), `GET|HEAD /health` (llama.cpp's: 503 while loading, 200
`{"status": "ok"}`; also `/v1/health`), `GET /metrics` (Prometheus). Every refused request gets a 4xx JSON error
in llama.cpp's shape; source text is never logged unless `log_text`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import msgspec
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from dllm_complete.dllm.contract import Cancelled, CancelToken, SamplerConfig, unread, unread_reason
from dllm_complete.lsp_server import telemetry

from . import api
from .api import BadRequest, Limits
from .fill import Answer, Fill, complete, samplers
from .metrics import Metrics
from .middleware import BodyLimit, Gate
from .model import Model
from .wire import compact, failure, parse, sse


@dataclasses.dataclass(frozen=True)
class Settings:
    model: str | None = None
    device: str | None = None
    max_batch: int = 16  # 1: one infill at a time
    api_key: str | None = None
    language: str | None = None  # for requests that name none (None: no syntax constraint)
    log_text: bool = False
    scope: bool = False  # requests that do not say re-mask names that resolve to nothing (whole files only)
    limits: Limits = Limits()


class Clients:
    """Requests in flight per client (a cap; a client is its address and `X-Client-Id`) and in all (a cap:
    a client may send any id), and the newest
    request per client id (a newer one cancels the older, as an editor that typed on would)."""

    def __init__(self, cap: int, total: int) -> None:
        self.cap, self.total = cap, total
        self.in_flight: dict[str, int] = {}
        self.latest: dict[str, CancelToken] = {}

    def enter(self, client: str, client_id: str | None) -> CancelToken:
        if self.in_flight.get(client, 0) >= self.cap:
            raise BadRequest(f"too many requests in flight from this client (limit {self.cap})", 429,
                             "rate_limit_error")
        if sum(self.in_flight.values()) >= self.total:
            raise BadRequest(f"the server is busy: {self.total} requests in flight; try again", 503, "unavailable_error")
        self.in_flight[client] = self.in_flight.get(client, 0) + 1
        token = CancelToken()
        if client_id:
            older = self.latest.get(client_id)
            if older is not None:
                older.cancel()
            self.latest[client_id] = token
        return token

    def leave(self, client: str, client_id: str | None, token: CancelToken) -> None:
        self.in_flight[client] -= 1
        if not self.in_flight[client]:
            del self.in_flight[client]
        if client_id and self.latest.get(client_id) is token:
            del self.latest[client_id]


async def disconnected(request: Request) -> None:
    """Returns once the client has gone: the ASGI server's `http.disconnect`, awaited rather than polled
    (polling every 50 ms per waiting request cost the batched server ~9% of its throughput at 16 clients)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def create_app(settings: Settings = Settings(), load=None) -> FastAPI:
    """The app; the model starts loading when the app starts (`load`: a `dllm.load`-like factory)."""
    model = Model(settings.model, settings.device, settings.max_batch, load)
    metrics = Metrics(lambda: model.batcher.depth if model.batcher is not None else (0, 0))
    model.observe = metrics.observe_round
    clients = Clients(settings.limits.per_client, settings.limits.in_flight)
    log = telemetry.get()

    async def lifespan(app):
        model.thread.start()
        yield
        await asyncio.to_thread(model.close)

    app = FastAPI(title="dllm-serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.model = model

    @app.exception_handler(BadRequest)
    async def refused(request: Request, exc: BadRequest):
        return failure(exc.status, str(exc), exc.kind)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug: still one JSON line, and logged
        log.error("server_error", path=request.url.path, error=f"{type(exc).__name__}: {exc}"[:300])
        return failure(500, f"internal error: {type(exc).__name__}", "server_error")

    @app.exception_handler(HTTPException)
    async def routing(request: Request, exc: HTTPException):  # no such route, wrong method (with `Allow`)
        answer = failure(exc.status_code, str(exc.detail), "not_found_error" if exc.status_code == 404 else
                         "invalid_request_error")
        answer.headers.update(exc.headers or {})
        return answer

    async def run(request: Request, fill: Fill, base: SamplerConfig | None = None) -> Answer:
        """The fill through the batcher, cancelled if the client goes away (or sends a newer request) first."""
        settings.limits.check(fill)
        client_id = request.headers.get("x-client-id")
        address = request.client.host if request.client else "local"
        client = f"{address} {client_id}" if client_id else address
        token = clients.enter(client, client_id and client)
        task = asyncio.ensure_future(complete(model.batcher, base or model.base, fill, token, settings.limits.max_tokens))
        gone = asyncio.ensure_future(disconnected(request))
        try:
            await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():  # the client went away: its infill stops at its next step
                token.cancel()
            return await task
        except ValueError as exc:  # a bad setting (mode, temperature, ...)
            raise BadRequest(str(exc)) from None
        except asyncio.CancelledError:  # Ray Serve cancels the handler when its client goes away
            token.cancel()
            task.cancel()
            metrics.cancelled.inc()
            raise
        except Cancelled:
            metrics.cancelled.inc()
            raise BadRequest("cancelled: the client went away or sent a newer request", 499,
                             "cancelled") from None
        finally:
            gone.cancel()
            clients.leave(client, client_id and client, token)
            if task.done() and not task.cancelled() and task.exception() is None:
                answer = task.result()
                metrics.completed(answer.stats)
                log.info("request", path=request.url.path, mode=answer.mode, n=fill.n,
                         prefix_chars=len(fill.prefix), suffix_chars=len(fill.suffix),
                         **({"prefix": fill.prefix[-200:], "texts": answer.texts} if settings.log_text else {}))

    def generation_settings(fill: Fill) -> list[dict]:
        """Each alternative's: the request's settings, then the sampled ones (`fill.samplers`)."""
        info = model.batcher.info
        common = {"n_ctx": model.base.context_tokens or model.batcher.engine.context_tokens,
                  "n_predict": -1 if fill.max_tokens is None else fill.max_tokens, "stop": list(fill.stop),
                  "max_batch": info.get("max_batch", 1), "model": info.get("model", "")}
        try:
            configs = samplers(model.base, fill)
        except ValueError as exc:  # a bad setting in a request that generates nothing (n_predict 0)
            raise BadRequest(str(exc)) from None
        return [{**common, "temperature": c.temperature, "seed": c.seed} for c in configs]

    @app.api_route("/health", methods=["GET", "HEAD"])
    @app.api_route("/v1/health", methods=["GET", "HEAD"])
    async def health():
        if model.status == "ok":
            return compact({"status": "ok"})
        return failure(503 if model.status == "loading" else 500, model.unavailable(),
                       "unavailable_error" if model.status == "loading" else "server_error")

    @app.get("/metrics")
    async def prometheus():
        return Response(metrics.text(), media_type=metrics.content_type)

    @app.post("/infill")
    async def infill(request: Request):
        return await llama(request, await parse(request, api.InfillRequest))

    @app.post("/completion")
    @app.post("/completions")
    async def llama_completion(request: Request):  # a prompt only, perhaps a fill-in-the-middle template
        body = await parse(request, api.LlamaCompletionRequest)
        prefix, suffix = api.split_fim(body.prompt) or (body.prompt, "")
        return await llama(request, body.model_copy(update={"input_prefix": prefix, "prompt": "",
                                                            "input_suffix": suffix}))

    async def llama(request: Request, body: api.InfillRequest):
        """llama.cpp's answer to an infill: one result object, or an array of `n_cmpl`, or their stream."""
        fill = api.infill_fill(body, settings.language, settings.scope, settings.limits.max_tokens)
        if fill.max_tokens == 0:  # a client warming its cache: nothing to generate
            settings.limits.check(dataclasses.replace(fill, max_tokens=None))
            answer = None
        else:
            answer = await run(request, fill)
        results = api.infill_results(answer, fill, model.batcher.info, generation_settings(fill))
        if body.response_fields:
            results = [api.pick_fields(r, body.response_fields) for r in results]
        if body.stream:
            finals = [{**r, "content": "", "stop": True} for r in results]  # a stream's end, even past response_fields
            return sse([{**r, "stop": False} for r in results] + finals)
        return compact(results[0] if len(results) == 1 else results)

    @app.post("/v1/completions")
    @app.post("/v1/fim/completions")
    async def completions(request: Request):
        body = await parse(request, api.CompletionRequest)
        fill = api.completion_fill(body, settings.language, settings.scope)
        answer = await run(request, fill)
        name = model.batcher.info.get("model", "")
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                "model": name}
        choices = [{"text": text, "index": i, "logprobs": None,
                    "finish_reason": "length" if stats.capped and stopped is None else "stop"}
                   for i, (text, stats, stopped) in enumerate(zip(answer.texts, answer.stats, answer.stopped))]
        used = answer.stats[0].context_tokens
        usage = {"prompt_tokens": used, "completion_tokens": sum(s.tokens for s in answer.stats),
                 "total_tokens": used + sum(s.tokens for s in answer.stats)}
        if body.stream:  # the whole span is ready at once: a chunk of text per choice, then its end
            chunks = [{**head, "choices": [{**c, "finish_reason": None}]} for c in choices]
            ends = [{**head, "choices": [{**c, "text": ""}]} for c in choices]
            counted = [{**head, "choices": [], "usage": usage}] if body.stream_options and body.stream_options.include_usage else []
            return sse(chunks + ends + counted + ["[DONE]"])
        return compact({**head, "choices": choices, "usage": usage})

    def described() -> dict:
        info = model.batcher.info
        return {"id": info.get("model", ""), "object": "model", "created": 0, "owned_by": "dllm-complete", "meta": info}

    @app.get("/v1/models")
    @app.get("/models")
    async def models():
        return compact({"object": "list", "data": [described()]})

    @app.get("/v1/models/{name:path}")
    async def one_model(name: str):
        if name != described()["id"]:
            raise BadRequest(f"model {name!r} does not exist; this server has {described()['id']!r}", 404,
                             "not_found_error")
        return compact(described())

    @app.post("/dllm/infill")
    async def native(request: Request):
        body = await parse(request, api.NativeRequest)
        try:
            base = model.base.with_overrides(body.sampler)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        kind = model.batcher.info.get("kind")
        if bad := unread(body.sampler, kind):
            raise BadRequest(f"sampler: {unread_reason(bad, kind)}")
        most = model.batcher.engine.context_tokens
        if base.context_tokens > most:
            raise BadRequest(f"context_tokens: at most {most} (the model's context), got {base.context_tokens}")
        fill = Fill(body.prefix, body.suffix, body.language, body.mode, body.max_tokens, syntax=body.syntax,
                    scope=settings.scope if body.scope is None else body.scope, document=body.document, whole=True)
        answer = await run(request, fill, base)
        return compact({"text": answer.raws[0], "stats": msgspec.to_builtins(answer.stats[0]),
                        "model": model.batcher.info})

    metrics.routes = {route.path for route in app.routes}
    app.add_middleware(BodyLimit, limit=settings.limits.body_bytes)
    app.add_middleware(Gate, api_key=settings.api_key, model=model, metrics=metrics)  # outermost: the key first
    return app
