"""A plain browser `EventSource` on `GET /v1/runs/{run_id}/stream`, reconnects included.

Headless Chromium's own EventSource against the real stack (runtime, local AgentCore endpoint,
BFF on free ports). The page is served on the BFF's origin by Playwright (`page.route`), so no
CORS is involved. The first connection is cut after a few events, as a proxy would cut it: its
bytes are the BFF's own, read by the test, then the connection ends. From there on the browser
is on its own: it reconnects with the `Last-Event-ID` header it kept, gets exactly the rest, and
after `done` its next reconnect is answered 204, which makes an EventSource stop for good.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Request, Response, Route

from scripts.devstack import Ports, Stack, start_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# A tool of about 8 s: the browser's reconnect (Chromium waits 3 s) lands while the run is live.
STACK_ENV = {"AGENT_DATASET_STEPS": "32", "AGENT_DATASET_STEP_S": "0.25"}
SAMPLE = "Analyse a sample data set and report its statistics."
CUT_AFTER = 5  # events the first connection delivers before it is cut
NATIVE_TYPES = [
    "start", "agent_start", "node_start", "node_end", "thinking", "token", "tool_start",
    "tool_progress", "tool_end", "message", "error", "approval_required", "approval_expired",
    "cancelled", "interrupted", "done",
]  # fmt: skip
PAGE = """<!doctype html><meta charset="utf-8"><title>EventSource</title><script>
window.got = [];
window.es = new EventSource(%s);
for (const type of %s) {
  window.es.addEventListener(type, (e) => {
    window.got.push({id: e.lastEventId, type: e.type, data: JSON.parse(e.data)});
  });
}
</script>"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with start_stack(ports=Ports.free(), env=STACK_ENV) as running:
        yield running


def first_frames(url: str, headers: dict[str, str], count: int) -> bytes:
    """The BFF's bytes up to the end of its `count`-th event (heartbeat comments included)."""
    raw = b""
    with httpx.Client(timeout=30) as http, http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            raw += chunk
            end = seen = 0
            for frame in raw.split(b"\n\n")[:-1]:
                end += len(frame) + 2
                if any(line.startswith(b"data:") for line in frame.split(b"\n")):
                    seen += 1
                    if seen == count:
                        return raw[:end]
    raise AssertionError(f"the stream ended before {count} events")


def test_a_browser_eventsource_follows_a_run_and_resumes_exactly_after_a_cut(
    stack: Stack, browser: Browser
) -> None:
    bff = stack.url("bff")
    started = httpx.post(f"{bff}/v1/runs", json={"message": SAMPLE}, timeout=30)
    assert started.status_code == 202
    stream_url = bff + started.json()["stream_url"]

    requests: list[dict[str, str]] = []
    statuses: list[int] = []
    run_status_at_reconnect: list[str] = []

    def stream_route(route: Route, request: Request) -> None:
        headers = request.all_headers()
        requests.append(headers)
        if len(requests) == 1:  # the first connection: cut after CUT_AFTER events
            body = first_frames(request.url, {"accept": headers.get("accept", "")}, CUT_AFTER)
            route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=body)
        else:
            if len(requests) == 2:
                status = httpx.get(bff + started.json()["status_url"], timeout=10).json()["status"]
                run_status_at_reconnect.append(status)
            route.continue_()

    def on_response(response: Response) -> None:
        if response.url.startswith(stream_url) and len(requests) > 1:
            statuses.append(response.status)

    context = browser.new_context()
    try:
        page = context.new_page()
        page.route(f"{bff}/eventsource.html", lambda route: route.fulfill(
            status=200, content_type="text/html",
            body=PAGE % (json.dumps(stream_url), json.dumps(NATIVE_TYPES)),
        ))  # fmt: skip
        page.route(f"{stream_url}*", stream_route)
        page.on("response", on_response)
        page.goto(f"{bff}/eventsource.html")
        # done arrives, then the browser reconnects once more, gets 204 and closes (readyState 2)
        page.wait_for_function("window.es.readyState === 2", timeout=90_000)
        got: list[dict[str, Any]] = page.evaluate("window.got")
    finally:
        context.close()

    seqs = [event["data"]["seq"] for event in got]
    assert seqs == list(range(1, len(seqs) + 1)), "every event once, in order, across the reconnect"
    assert [event["id"] for event in got] == [str(s) for s in seqs]
    assert got[0]["type"] == "start" and got[-1]["type"] == "done"
    assert got[-1]["data"]["status"] == "complete"
    assert {event["data"]["run_id"] for event in got} == {started.json()["run_id"]}
    assert any(event["type"] == "tool_progress" for event in got[CUT_AFTER:])

    # The browser's own requests: GET with Accept: text/event-stream, three times (first, after the
    # cut, after done). Chromium adds Last-Event-ID below what Playwright shows, so it is proven by
    # the BFF's answers: without it the second would replay from 1 (repeats above) and the third
    # would not be a 204.
    assert len(requests) == 3 and all(r.get("accept") == "text/event-stream" for r in requests)
    assert statuses == [200, 204]
    assert run_status_at_reconnect == ["running"]  # the resume replayed, then followed it live
