"""Local telemetry: structlog JSON lines to stderr or a file, never stdout (the LSP channel).

Owns the logging setup (structlog for our events, the standard library's warnings from pygls
routed to the same stream as JSON) and the shape of the events: one `completion` event per request
(request id, trigger, decision, stage timings, model calls, outcome) and one `suggestion` event per
`dllm/shown`, `dllm/accepted`, `dllm/rejected` notification. Nothing is sent anywhere else.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

import structlog

_MAX_STR = 200


class _Stderr:
    """`sys.stderr` as it is at each write: whoever replaces it later (a test's capture, a daemon's
    redirect) gets the lines, and a closed earlier one is never written to."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_stream: TextIO | _Stderr = _Stderr()


def configure(log_file: str | None = None, level: str = "info") -> None:
    """Send every log line to `log_file` (appended) or stderr, as JSON."""
    global _stream
    _stream = _Stderr()
    if log_file:
        try:
            _stream = open(log_file, "a", buffering=1, encoding="utf-8")
        except OSError as exc:
            program = os.path.basename(sys.argv[0]) or "dllm"  # dllm-lsp, dllm-serve, dllm-complete
            print(f"{program}: cannot write logs to {log_file} ({exc}); logging to stderr", file=sys.stderr)
    shared = [structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
              structlog.processors.TimeStamper(fmt="iso", utc=True)]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=_stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=structlog.processors.JSONRenderer(), foreign_pre_chain=shared))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def get() -> Any:
    return structlog.get_logger("dllm.lsp")


def plain(value: Any, depth: int = 0) -> Any:
    """JSON-ready copy of notification params (pygls hands them over as namedtuples), bounded."""
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, str):
        return value if len(value) <= _MAX_STR else value[:_MAX_STR] + "…"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= 3:
        return plain(repr(value), depth)
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in list(value.items())[:32]}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value[:32]]
    return plain(repr(value), depth)


_RESERVED = {"event", "level", "timestamp", "logger"}  # keys of every log line, which a client's cannot replace


def feedback(kind: str, params: Any) -> dict:
    """Log a shown / accepted / rejected notification; returns the logged fields."""
    fields = plain(params)
    if not isinstance(fields, dict):
        fields = {"params": fields}
    fields.pop("feedback", None)
    fields = {f"client_{key}" if key in _RESERVED else key: value for key, value in fields.items()}
    get().info("suggestion", feedback=kind, **fields)
    return fields


def completion(**fields: Any) -> None:
    get().info("completion", **fields)
