"""A small client of the BFF's native stream for the end-to-end tests: events with arrival times."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bff.sse import SSEDecoder

# The long tool: a few short steps, so progress is visible and the suite stays fast.
FAST_TOOL_ENV = {
    "AGENT_DATASET_STEPS": "5",
    "AGENT_DATASET_STEP_S": "0.4",
    "AGENT_OFFLINE_TOKEN_DELAY_S": "0.005",
}


@dataclass
class Received:
    type: str
    id: int
    data: dict[str, Any]
    at: float  # time.monotonic() when the client had it


@dataclass
class StreamResult:
    status: int
    headers: httpx.Headers
    events: list[Received] = field(default_factory=list)
    body: dict[str, Any] | None = None  # the JSON error body when the stream did not open

    def of(self, type_: str) -> list[Received]:
        return [e for e in self.events if e.type == type_]

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def first(self, type_: str) -> Received:
        return self.of(type_)[0]


class EventReader:
    """Reads a native stream's events as they arrive; can stop after a type and go on later."""

    def __init__(self, response: httpx.Response, result: StreamResult) -> None:
        self._chunks = response.iter_raw()
        self._decoder = SSEDecoder()
        self._result = result

    def read(self, stop_after: str | None = None) -> None:
        for chunk in self._chunks:
            now = time.monotonic()
            stop = False
            for sse in self._decoder.feed(chunk):
                data = json.loads(sse.data)
                assert sse.id is not None, "every native event carries an id"
                self._result.events.append(Received(sse.event, int(sse.id), data, now))
                stop = stop or (stop_after is not None and sse.event == stop_after)
            if stop:
                return


def chat_stream(
    base_url: str,
    body: dict[str, Any] | bytes,
    *,
    params: dict[str, str] | None = None,
    stop_after: str | None = None,
    timeout: float = 60.0,
) -> StreamResult:
    """POST /v1/chat/stream and read the whole stream (or until `stop_after`, then disconnect)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with (
        httpx.Client(base_url=base_url, timeout=timeout) as client,
        client.stream(
            "POST",
            "/v1/chat/stream",
            content=content,
            params=params,
            headers={"content-type": "application/json"},
        ) as response,
    ):
        result = StreamResult(response.status_code, response.headers)
        if response.status_code != 200:
            result.body = json.loads(response.read())
            return result
        assert response.headers["content-type"].startswith("text/event-stream")
        EventReader(response, result).read(stop_after)
    return result


def wait_until(condition: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll another process's state (nothing to await across processes) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
