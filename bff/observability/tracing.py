"""OpenTelemetry traces: a server span per request, and its context handed to the runtime.

BFF_OTEL_EXPORTER picks where spans go: `none` (default: no SDK is installed; an incoming
`traceparent` is still passed on), `console` (JSON on stdout) or `otlp` (OTLP over HTTP,
configured by the standard `OTEL_EXPORTER_OTLP_*` variables). The provider is the process-wide
OpenTelemetry one (`trace.set_tracer_provider`), as every OpenTelemetry instrumentation expects.

FastAPI (0.16x) opens the SERVER span of every request itself (native OpenTelemetry: it
extracts the client's `traceparent`), so the BFF does not open another. Work started from the
request (the run's leg task) copies its context; `bff.upstream` opens an `invoke_agent_runtime`
CLIENT span there and passes `invoke_trace_kwargs()`: botocore sends the `traceParent` /
`traceState` members as the `traceparent` / `tracestate` headers, which AgentCore (and
`agentcore_local`) hand to the runtime, whose spans (agent_runtime/tracing.py) then nest under
the BFF's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanProcessor

TRACER_NAME: Final = "bff"
EXPORTERS: Final = frozenset({"none", "console", "otlp"})


class TracingConfigError(RuntimeError):
    pass


def span_processor(exporter: str) -> SpanProcessor | None:
    kind = exporter.strip().lower()
    if kind not in EXPORTERS:
        raise TracingConfigError(f"BFF_OTEL_EXPORTER must be one of {sorted(EXPORTERS)}, not {exporter!r}")
    if kind == "console":
        return BatchSpanProcessor(ConsoleSpanExporter())
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return BatchSpanProcessor(OTLPSpanExporter())
    return None


_installed: set[str] = set()  # exporters already on the process-wide provider


def setup_tracing(exporter: str, *, service_name: str = "bff") -> TracerProvider | None:
    """Install the exporter on the process-wide provider (creating it if needed), once per
    process however many apps are built. Returns the SDK provider, or None when export is off."""
    kind = exporter.strip().lower()
    processor = span_processor(kind)
    current = trace.get_tracer_provider()
    if processor is None:
        return None
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
    if kind not in _installed:
        _installed.add(kind)
        provider.add_span_processor(processor)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def extract(headers: Mapping[str, str]) -> Context:
    """The trace context a client sent (`traceparent`, `tracestate`), if any."""
    return propagate.extract(dict(headers))


def current_trace_headers() -> dict[str, str]:
    """W3C `traceparent` (and `tracestate`) for the current span, empty when there is none."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def invoke_trace_kwargs() -> dict[str, Any]:
    """Keyword arguments for `invoke_agent_runtime` carrying the current trace context."""
    headers = current_trace_headers()
    kwargs: dict[str, Any] = {}
    if "traceparent" in headers:
        kwargs["traceParent"] = headers["traceparent"]
        if headers.get("tracestate"):
            kwargs["traceState"] = headers["tracestate"]
    return kwargs
