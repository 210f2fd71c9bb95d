"""The HTTP side of every answer: JSON as llama.cpp writes it, its error shape, server-sent events,
and a request body read as a schema whatever its Content-Type."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.responses import Response, StreamingResponse

from . import api
from .api import BadRequest


def dumps(body: Any) -> str:
    """JSON as llama.cpp writes it: no spaces (llama.vim matches `"content":"`), UTF-8, never NaN."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compact(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")


def failure(status: int, message: str, kind: str = "invalid_request_error") -> Response:
    return compact(api.error_body(status, message, kind), status)


def sse(events) -> StreamingResponse:
    async def lines():
        for event in events:
            yield "data: " + (event if isinstance(event, str) else dumps(event)) + "\n\n"
    return StreamingResponse(lines(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


async def parse(request: Request, schema):
    """The request's JSON body as `schema` (whatever its Content-Type, as llama.cpp); BadRequest if it
    is not one, or asks for something it would mislead to ignore."""
    raw = await request.body()
    try:
        body = schema.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise BadRequest("invalid JSON body") from None
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}") from None
    if why := body.misleading():
        raise BadRequest(why)
    return body
