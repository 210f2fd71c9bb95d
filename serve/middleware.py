"""The team server's ASGI middlewares (pure ASGI, so that a client's disconnect still reaches the route,
which cancels on it; Starlette's BaseHTTPMiddleware hides it): a cap on the body's size, and the gate
(API key, 503 until the model is loaded, each request's status and latency into the metrics)."""

from __future__ import annotations

import asyncio
import hmac
import time

from .api import BadRequest
from .metrics import Metrics
from .model import Model
from .wire import failure

PUBLIC = ("/health", "/v1/health")  # no API key needed (as llama.cpp)


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 before it is read any further."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await failure(413, f"request body over {self.limit} bytes", "invalid_request_error")(
                scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BadRequest(f"request body over {self.limit} bytes", 413)
            return message
        return await self.app(scope, counted, send)


class Gate:
    """ASGI middleware: the API key (all routes but /health), 503 while the model loads, and each
    request's status and latency into the metrics. (Pure ASGI: a request's disconnect still reaches
    the route, which cancels on it.)"""

    def __init__(self, app, api_key: str | None, model: Model, metrics: Metrics) -> None:
        self.app, self.api_key, self.model, self.metrics = app, api_key, model, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, headers = scope["path"], dict(scope.get("headers") or [])
        key = self.api_key
        if path not in PUBLIC and key:
            scheme, _, token = headers.get(b"authorization", b"").strip().partition(b" ")
            bearer = token.strip() if scheme.lower() == b"bearer" else scheme  # the scheme's case is free; a bare key
            given = bearer or headers.get(b"x-api-key", b"").strip()
            if not hmac.compare_digest(given, key.encode()):
                self.metrics.request(path, 401, 0.0)
                return await failure(401, "Invalid API Key", "authentication_error")(scope, receive, send)
        t0, answered = time.perf_counter(), {}
        if path not in (*PUBLIC, "/metrics") and self.model.status != "ok":
            self.metrics.request(path, 503, 0.0)
            return await failure(503, self.model.unavailable(), "unavailable_error")(scope, receive, send)

        async def sent(message):
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, sent)
        except asyncio.CancelledError:  # the client went away (Ray Serve cancels the handler)
            answered.setdefault("status", 499)
            raise
        finally:
            self.metrics.request(path, answered.get("status", 500), time.perf_counter() - t0)
