"""Prometheus metrics, served at `/metrics` (docs/observability.md lists them).

One `Metrics` per app, on its own `CollectorRegistry` (so two apps in one test process never
share counters); `create_app` keeps it in `app.state.metrics`. A response stream reports through
a `StreamObserver` (`metrics.stream(protocol)`): events sent by type, time to the first event
after `start`, the gaps between events, and how the stream finished.

    outcome of a stream   complete | error | cancelled | interrupted (a run's `done` status)
                          disconnected (the client left before `done`)
"""

from __future__ import annotations

import time
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Seconds; streams wait on models: first events take seconds, gaps between tokens milliseconds.
FIRST_EVENT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
GAP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

METRICS_CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text exposition of the app's registry (unauthenticated: scrape it privately)."""
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.streams_started = Counter(
            "bff_streams_started", "Response streams opened", ["protocol"], registry=r
        )
        self.streams_active = Gauge("bff_streams_active", "Response streams open now", registry=r)
        self.streams_finished = Counter(
            "bff_streams_finished", "Response streams closed, by outcome", ["outcome"], registry=r
        )
        self.events_sent = Counter("bff_events_sent", "Events sent to clients, by type", ["type"], registry=r)
        self.time_to_first_event = Histogram(
            "bff_time_to_first_event_seconds",
            "From a stream opening to its first event after `start`",
            buckets=FIRST_EVENT_BUCKETS,
            registry=r,
        )
        self.event_gap = Histogram(
            "bff_event_gap_seconds", "Time between two events of one stream", buckets=GAP_BUCKETS, registry=r
        )
        self.upstream_errors = Counter(
            "bff_upstream_errors", "Upstream failures, by error class", ["error_class"], registry=r
        )
        self.upstream_retries = Counter(
            "bff_upstream_retries",
            "Upstream calls retried before the first byte",
            ["error_class"],
            registry=r,
        )
        self.resumes = Counter("bff_resumes", "Streams resumed from an event id (Last-Event-ID)", registry=r)
        self.cancels = Counter("bff_cancels", "Runs cancelled on request", registry=r)
        self.queue_depth = Gauge(
            "bff_queue_depth", "Upstream events waiting in producer->consumer queues", registry=r
        )
        self.rejected = Counter(
            "bff_requests_rejected", "Requests refused by auth or limits, by code", ["code"], registry=r
        )
        self.http_requests = Counter(
            "bff_http_requests",
            "HTTP requests, by method, route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "bff_http_request_duration_seconds",
            "Time to the response headers",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        # Label children bound once per label value, so the per-event path never calls `labels()`
        # (a lock and a tuple lookup per call; ~6% of the BFF's CPU relaying flat out).
        self._events_sent_by_type: dict[str, Any] = {}

    def events_sent_child(self, event_type: str) -> Any:
        """The `bff_events_sent{type=...}` child, bound on first use and kept."""
        child = self._events_sent_by_type.get(event_type)
        if child is None:
            child = self._events_sent_by_type[event_type] = self.events_sent.labels(type=event_type)
        return child

    def stream(self, protocol: str = "native") -> StreamObserver:
        """Count a response stream as started and active; finish it with `.finish(outcome)`."""
        self.streams_started.labels(protocol=protocol).inc()
        self.streams_active.inc()
        return StreamObserver(self)

    def upstream_error(self, error_class: str) -> None:
        self.upstream_errors.labels(error_class=error_class).inc()

    def upstream_retry(self, error_class: str) -> None:
        self.upstream_retries.labels(error_class=error_class).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StreamObserver:
    """One response stream's view: call `event(type)` per event sent, `finish(outcome)` once."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._sent = metrics._events_sent_by_type
        self._gap = metrics.event_gap
        self._opened = time.monotonic()
        self._last: float | None = None
        self._first_seen = False
        self.outcome: str | None = None

    def event(self, event_type: str) -> None:
        now = time.monotonic()
        child = self._sent.get(event_type)
        if child is None:
            child = self._metrics.events_sent_child(event_type)
        child.inc()
        if self._last is not None:
            self._gap.observe(now - self._last)
        self._last = now
        if not self._first_seen and event_type != "start":
            self._first_seen = True
            self._metrics.time_to_first_event.observe(now - self._opened)

    def finish(self, outcome: str) -> None:
        """Idempotent: the first outcome wins."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        self._metrics.streams_active.dec()
        self._metrics.streams_finished.labels(outcome=outcome).inc()
