"""The HTTP side of every answer: JSON as llama.cpp writes it, its error shape, server-sent events,
and a request body read as a schema whatever its Content-Type."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.requests import ClientDisconnect
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
    try:
        raw = await request.body()
    except ClientDisconnect:
        raise BadRequest("the client went away while sending its request", 499, "cancelled") from None
    try:
        body = schema.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise BadRequest(f"invalid JSON body: {first['msg'].removeprefix('Invalid JSON: ')}") from None
        raise BadRequest(f"{_where(first['loc'])}: {first['msg']}") from None
    if why := body.misleading():
        raise BadRequest(why)
    return body


def _where(loc: tuple) -> str:
    """A field's path as the client wrote it: `input_extra.0.text`, without pydantic's union branches
    (`prompt.list[str].0` is `prompt.0`)."""
    branch = ("str", "int", "float", "bool", "none")
    return ".".join(str(p) for p in loc if isinstance(p, int) or (p not in branch and "[" not in p)) or "body"
