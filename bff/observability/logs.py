"""Structured JSON logs (structlog), one object per line on stdout.

Every line carries what is bound in the current context: `request_id` (set per request by
`bff.observability.http.ObservabilityMiddleware`), `principal` (bound by `bff.auth`), and
`run_id` / `session_id` where a run is known (`bind_run`). Tasks started while handling a request
copy the context, so a run's producer logs with the request that started it.

No message content unless BFF_LOG_CONTENT is on: the values of `CONTENT_KEYS` (what a user typed,
what the model answered, tool arguments and results) are replaced by their length. Inside a
traced request, lines also carry `trace_id` and `span_id`. Log errors
under `error`, never under one of these keys. Standard-library loggers (uvicorn, botocore) go
through the same JSON renderer.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

import structlog
from opentelemetry import trace

CONTENT_KEYS: Final = frozenset(
    {
        "prompt",
        "message",
        "messages",
        "content",
        "delta",
        "output",
        "input",
        "args",
        "edited_args",
        "result",
        "text",
    }
)

_shared_content_flag = {"log_content": False}


def redact_content(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: content values become `{"redacted": true, "chars": n}`."""
    if _shared_content_flag["log_content"]:
        return event_dict
    for key in CONTENT_KEYS.intersection(event_dict):
        value = event_dict[key]
        size = len(value) if isinstance(value, str | list | dict) else None
        event_dict[key] = {"redacted": True, "chars": size}
    return event_dict


def add_trace_ids(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: the current span's `trace_id` / `span_id`, to find a line's trace."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_content,
        structlog.processors.format_exc_info,
    ]


def configure_logging(level: str = "info", *, log_content: bool = False, stream: Any = None) -> None:
    """Configure structlog and the root logger for JSON lines. Safe to call again (tests do)."""
    _shared_content_flag["log_content"] = log_content
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    shared = _processors()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    handler.set_name("bff-json")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "bff-json"]
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def get_logger(name: str = "bff") -> Any:
    return structlog.stdlib.get_logger(name)


def bind_run(*, run_id: str | None = None, session_id: str | None = None) -> None:
    """Bind a run's ids to the current context (and tasks started from it)."""
    values = {k: v for k, v in {"run_id": run_id, "session_id": session_id}.items() if v is not None}
    structlog.contextvars.bind_contextvars(**values)


def bind_principal(principal_id: str) -> None:
    structlog.contextvars.bind_contextvars(principal=principal_id)
