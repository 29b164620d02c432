"""bff.observability: metrics of a stream, JSON logs with context and without content, the
per-request middleware (request id, route-labelled metrics, a server span under traceparent)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bff.observability import tracing
from bff.observability.http import ObservabilityMiddleware
from bff.observability.logs import bind_run, configure_logging, get_logger
from bff.observability.metrics import Metrics
from bff.settings import Settings
from tests.spans import captured_spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    yield from captured_spans()


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


# --- metrics ---------------------------------------------------------------------------------


def test_a_stream_counts_started_active_events_and_outcome() -> None:
    metrics = Metrics()
    stream = metrics.stream("ag-ui")
    assert sample(metrics, "bff_streams_started_total", protocol="ag-ui") == 1
    assert sample(metrics, "bff_streams_active") == 1
    for kind in ("start", "agent_start", "token", "token", "done"):
        stream.event(kind)
    stream.finish("complete")
    stream.finish("disconnected")  # only the first outcome counts
    assert sample(metrics, "bff_streams_active") == 0
    assert sample(metrics, "bff_streams_finished_total", outcome="complete") == 1
    assert sample(metrics, "bff_streams_finished_total", outcome="disconnected") == 0
    assert sample(metrics, "bff_events_sent_total", type="token") == 2
    assert sample(metrics, "bff_time_to_first_event_seconds_count") == 1  # `start` does not count
    assert sample(metrics, "bff_event_gap_seconds_count") == 4


def test_metrics_of_two_apps_are_separate_and_render_as_prometheus_text() -> None:
    one, two = Metrics(), Metrics()
    one.upstream_error("ThrottlingException")
    one.upstream_retry("ThrottlingException")
    one.resumes.inc()
    one.cancels.inc()
    one.queue_depth.set(3)
    assert sample(two, "bff_upstream_errors_total", error_class="ThrottlingException") == 0
    text = one.render().decode()
    for line in (
        'bff_upstream_errors_total{error_class="ThrottlingException"} 1.0',
        'bff_upstream_retries_total{error_class="ThrottlingException"} 1.0',
        "bff_resumes_total 1.0",
        "bff_cancels_total 1.0",
        "bff_queue_depth 3.0",
    ):
        assert line in text


# --- logs ------------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("info", stream=out)
    structlog.contextvars.clear_contextvars()
    yield out
    structlog.contextvars.clear_contextvars()
    logging.getLogger().handlers = [h for h in logging.getLogger().handlers if h.get_name() != "bff-json"]


def lines(out: io.StringIO) -> list[dict[str, object]]:
    """The JSON lines of the BFF's loggers (and the stdlib test logger), not httpx's own."""
    parsed = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return [line for line in parsed if not str(line.get("logger", "")).startswith("httpx")]


def test_logs_are_json_with_the_bound_context(log_lines: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-1", principal="alice")
    bind_run(run_id="run_1", session_id="sess_1")
    get_logger("bff.test").info("run_started", model="offline-rules")
    (line,) = lines(log_lines)
    assert line["event"] == "run_started"
    assert (line["request_id"], line["principal"], line["run_id"], line["session_id"]) == (
        "req-1",
        "alice",
        "run_1",
        "sess_1",
    )
    assert line["level"] == "info"
    assert "timestamp" in line


def test_message_content_is_not_logged_by_default(log_lines: io.StringIO) -> None:
    get_logger().info("turn", message="my secret question", delta="tok", args={"a": 1}, chars=18)
    (line,) = lines(log_lines)
    assert "my secret question" not in log_lines.getvalue()
    assert line["message"] == {"redacted": True, "chars": 18}
    assert line["delta"] == {"redacted": True, "chars": 3}
    assert line["chars"] == 18


def test_message_content_is_logged_when_debug_content_logging_is_on() -> None:
    out = io.StringIO()
    configure_logging("debug", log_content=True, stream=out)
    try:
        get_logger().debug("turn", message="my question")
        assert lines(out)[0]["message"] == "my question"
    finally:
        configure_logging("info", stream=io.StringIO())


def test_standard_library_loggers_come_out_as_json(log_lines: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-2")
    logging.getLogger("botocore.test").warning("plain %s", "stdlib")
    (line,) = lines(log_lines)
    assert line["event"] == "plain stdlib"
    assert line["request_id"] == "req-2"


# --- the per-request middleware ---------------------------------------------------------------


def small_app(metrics: Metrics) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/runs/{run_id}")
    async def get_run(run_id: str) -> dict[str, str]:
        get_logger("bff.test").info("inside", run_id=run_id)
        return {"run_id": run_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    return app


async def call(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://bff") as client:
        return await client.get(path, headers=headers)


async def test_request_id_is_generated_and_echoed() -> None:
    response = await call(small_app(Metrics()), "/v1/runs/r1")
    assert len(response.headers["x-request-id"]) == 32
    response = await call(small_app(Metrics()), "/v1/runs/r1", **{"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_an_unsafe_request_id_is_replaced() -> None:
    response = await call(small_app(Metrics()), "/v1/runs/r1", **{"X-Request-Id": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"


async def test_http_metrics_are_labelled_by_route_template_not_path() -> None:
    metrics = Metrics()
    app = small_app(metrics)
    await call(app, "/v1/runs/r1")
    await call(app, "/v1/runs/r2")
    await call(app, "/nowhere")
    assert (
        sample(metrics, "bff_http_requests_total", method="GET", route="/v1/runs/{run_id}", status="200") == 2
    )
    assert sample(metrics, "bff_http_requests_total", method="GET", route="unmatched", status="404") == 1


async def test_an_unhandled_error_is_counted_as_500() -> None:
    metrics = Metrics()
    response = await call(small_app(metrics), "/boom")
    assert response.status_code == 500
    assert sample(metrics, "bff_http_requests_total", method="GET", route="/boom", status="500") == 1


async def test_each_request_logs_with_its_request_id(log_lines: io.StringIO) -> None:
    response = await call(small_app(Metrics()), "/v1/runs/r9", **{"X-Request-Id": "req-9"})
    assert response.status_code == 200
    inside, access = lines(log_lines)
    assert (inside["event"], inside["request_id"], inside["run_id"]) == ("inside", "req-9", "r9")
    assert (access["event"], access["route"], access["status"]) == ("request", "/v1/runs/{run_id}", 200)


async def test_one_server_span_per_request_continues_the_clients_trace(
    spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    await call(small_app(Metrics()), "/v1/runs/r1", traceparent=TRACEPARENT)
    (span,) = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert span.name == "GET /v1/runs/{run_id}"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    inside = lines(log_lines)[0]
    assert inside["trace_id"] == TRACE_ID  # a log line leads to its trace


async def test_trace_kwargs_carry_the_current_span(spans: InMemorySpanExporter) -> None:
    assert tracing.invoke_trace_kwargs() == {}  # no span, nothing to pass on
    with tracing.tracer().start_as_current_span("parent") as parent:
        kwargs = tracing.invoke_trace_kwargs()
    trace_id = format(parent.get_span_context().trace_id, "032x")
    span_id = format(parent.get_span_context().span_id, "016x")
    assert list(kwargs) == ["traceParent"]
    assert kwargs["traceParent"].startswith(f"00-{trace_id}-{span_id}-")


def test_exporter_is_off_by_default_and_unknown_ones_are_refused() -> None:
    assert Settings.model_fields["otel_exporter"].default == "none"  # BFF_OTEL_EXPORTER unset
    assert tracing.setup_tracing("none") is None
    with pytest.raises(tracing.TracingConfigError):
        tracing.setup_tracing("zipkin")
