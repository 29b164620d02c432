"""OpenTelemetry for the runtime: its spans nest under the BFF's through `traceparent`.

The BFF passes its span context as `invoke_agent_runtime(traceParent=...)`, which botocore sends
as the `traceparent` header; AgentCore (and `agentcore_local`) hand it to the container, and the
SDK puts it in `context.request_headers` (it is not on the runtime header deny-list). `traced()`
wraps an invocation's event stream in spans built from the events themselves, so nothing inside
the graph needs to know about tracing:

    agent.invoke                  SERVER, child of the caller's traceparent; whole invocation
      agent.node <name>           NODE_START .. NODE_END
      agent.tool <name>           TOOL_CALL .. TOOL_RESULT (status error -> span error)

Spans are parented explicitly (never attached to the context), because the SDK runs the async
generator on its own worker loop and a context attached before a `yield` cannot be detached
after it.

The exporter is off by default. AGENT_OTEL_EXPORTER: `none` | `console` (JSON on stdout) |
`otlp` (OTLP/HTTP, standard `OTEL_EXPORTER_OTLP_*` variables) | `file` (one JSON span per line
appended to AGENT_OTEL_FILE: what the end-to-end test reads back).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import IO, Any, Final

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanProcessor,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agent_runtime.exceptions import ConfigurationError

TRACER_NAME: Final = "agent_runtime"
EXPORTERS: Final = ("none", "console", "otlp", "file")
_PROPAGATED: Final = ("traceparent", "tracestate")


def _one_line(span: ReadableSpan) -> str:
    return json.dumps(json.loads(span.to_json()), separators=(",", ":")) + "\n"


def span_processor(exporter: str, *, path: str | None = None) -> SpanProcessor | None:
    kind = exporter.strip().lower() or "none"
    if kind not in EXPORTERS:
        raise ConfigurationError(
            f"AGENT_OTEL_EXPORTER must be one of {', '.join(EXPORTERS)}, got {exporter!r}"
        )
    if kind == "console":
        return BatchSpanProcessor(ConsoleSpanExporter(formatter=_one_line))
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return BatchSpanProcessor(OTLPSpanExporter())
    if kind == "file":
        if not path:
            raise ConfigurationError("AGENT_OTEL_EXPORTER=file needs AGENT_OTEL_FILE")
        out: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        # Simple (synchronous) so that a span is on disk as soon as it ends.
        return SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_one_line))
    return None


def setup_tracing(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install the configured exporter on the process-wide provider; None when tracing is off."""
    env = os.environ if env is None else env
    processor = span_processor(env.get("AGENT_OTEL_EXPORTER", "none"), path=env.get("AGENT_OTEL_FILE"))
    if processor is None:
        return None
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": "agent-runtime"}))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(processor)
    return provider


def parent_context(context: Any) -> Context:
    """The caller's trace context from the invocation's request headers (any casing)."""
    headers = getattr(context, "request_headers", None) or {}
    carrier = {name.lower(): value for name, value in headers.items() if name.lower() in _PROPAGATED}
    return propagate.extract(carrier)


async def traced(
    events: AsyncIterator[dict[str, Any]], context: Any, *, tracer: trace.Tracer | None = None
) -> AsyncIterator[dict[str, Any]]:
    """`events`, unchanged, with an invocation span and node / tool spans around them."""
    tracer = tracer or trace.get_tracer(TRACER_NAME)
    root = tracer.start_span("agent.invoke", context=parent_context(context), kind=SpanKind.SERVER)
    session_id = getattr(context, "session_id", None)
    if session_id:
        root.set_attribute("session.id", str(session_id))
    inside = trace.set_span_in_context(root)
    open_spans: dict[str, Span] = {}
    try:
        async for event in events:
            _observe(tracer, inside, root, open_spans, event)
            yield event
    except BaseException as exc:
        root.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        for span in open_spans.values():
            span.end()
        root.end()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


def _observe(
    tracer: trace.Tracer, inside: Context, root: Span, open_spans: dict[str, Span], event: Mapping[str, Any]
) -> None:
    kind = event.get("type")
    if kind == "AGENT_START":
        root.set_attribute("agent.model", str(event.get("model", "")))
    elif kind == "NODE_START":
        node = str(event.get("node", ""))
        open_spans[f"node:{node}"] = tracer.start_span(f"agent.node {node}", context=inside)
    elif kind == "NODE_END":
        span = open_spans.pop(f"node:{event.get('node', '')}", None)
        if span is not None:
            span.end()
    elif kind == "TOOL_CALL":
        span = tracer.start_span(f"agent.tool {event.get('tool', '')}", context=inside)
        span.set_attribute("tool.call_id", str(event.get("call_id", "")))
        open_spans[f"tool:{event.get('call_id', '')}"] = span
    elif kind == "TOOL_RESULT":
        span = open_spans.pop(f"tool:{event.get('call_id', '')}", None)
        if span is not None:
            if event.get("status") == "error":
                span.set_status(Status(StatusCode.ERROR, "tool_error"))
            span.end()
    elif kind == "ERROR":
        root.set_status(Status(StatusCode.ERROR, str(event.get("code", "error"))))
    elif kind == "AGENT_END":
        root.set_attribute("agent.status", str(event.get("status", "")))
