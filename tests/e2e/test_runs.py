"""Runs end to end, through real processes (scripts/devstack.py): exact resume on both event-log
backends and across two BFF processes sharing Redis, a Stop that stops the tool inside the
runtime, disconnect policies, and a silent tool longer than the upstream read timeout."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.sse import SSEDecoder
from scripts.devstack import Ports, Process, Stack, free_port, start_stack
from tests.e2e.client import FAST_TOOL_ENV, chat_stream, wait_until

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/0"
LONG_TASK = {"message": "Analyse the data set"}


def events_of(response: httpx.Response, limit: int | None = None) -> list[dict[str, Any]]:
    """Native events of an open stream, as they arrive; stop after `limit` (then the caller leaves)."""
    decoder = SSEDecoder()
    got: list[dict[str, Any]] = []
    for chunk in response.iter_raw():
        for sse in decoder.feed(chunk):
            body = json.loads(sse.data)
            assert sse.id == str(body["seq"])
            got.append(body)
            if body["type"] == "done" or (limit is not None and len(got) >= limit):
                return got
    return got


def resume_until_done(
    first_url: str, urls: list[str], rng: random.Random
) -> tuple[str, list[dict[str, Any]]]:
    """Start a long run, then keep dropping the connection after a few events and reconnecting
    (to any of `urls`) with the last id seen, until `done`. Returns the run id and all events."""
    received: list[dict[str, Any]] = []
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", first_url + "/v1/chat/stream", json=LONG_TASK) as response:
            assert response.status_code == 200
            run_id = response.headers["x-run-id"]
            received += events_of(response, limit=rng.randint(1, 6))
        reconnects = 0
        while received[-1]["type"] != "done":
            url = rng.choice(urls)
            headers = {"Last-Event-ID": str(received[-1]["seq"])}
            with client.stream("GET", f"{url}/v1/runs/{run_id}/stream", headers=headers) as response:
                assert response.status_code == 200, response.read()
                received += events_of(response, limit=rng.randint(1, 8))
            reconnects += 1
        assert reconnects >= 3
    return run_id, received


def full_replay(url: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/v1/runs/{run_id}/stream", timeout=30)
    decoder = SSEDecoder()
    return [json.loads(e.data) for e in decoder.feed(response.content) + decoder.flush()]


def assert_exact(received: list[dict[str, Any]], replay: list[dict[str, Any]]) -> None:
    assert [e["seq"] for e in received] == list(range(1, len(received) + 1)), "nothing lost, nothing repeated"
    assert received == replay
    assert replay[0]["type"] == "start" and replay[-1]["type"] == "done"
    assert replay[-1]["status"] == "complete"


@pytest.mark.parametrize("seed", [1, 2])
def test_resume_after_random_disconnects_is_exact_with_the_memory_log(stack: Stack, seed: int) -> None:
    bff = stack.url("bff")
    run_id, received = resume_until_done(bff, [bff], random.Random(seed))
    assert_exact(received, full_replay(bff, run_id))


@pytest.fixture(scope="module")
def redis_stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    """A stack whose BFF keeps runs in Redis, and a second BFF process on the same Redis and runtime."""
    with start_stack(Ports.free(), env=FAST_TOOL_ENV | {"BFF_REDIS_URL": REDIS_URL}) as running:
        first = running.processes["bff"]
        port = free_port()
        env = first.env | {"BFF_PORT": str(port)}
        log_path = Path(tmp_path_factory.mktemp("bff2")) / "bff2.log"
        second = Process("bff2", first.argv, env, port, "/healthz", log_path, echo=False)
        second.start()
        try:
            second.wait_healthy()
            yield running, second.url
        finally:
            second.stop()


@pytest.mark.parametrize("seed", [3, 4])
def test_two_bff_processes_sharing_redis_resume_each_others_runs_exactly(
    redis_stacks: tuple[Stack, str], seed: int
) -> None:
    running, other = redis_stacks
    bff = running.url("bff")
    run_id, received = resume_until_done(bff, [other, bff, other], random.Random(seed))
    assert_exact(received, full_replay(other, run_id))
    assert httpx.get(f"{other}/v1/runs/{run_id}").json()["status"] == "done"


def test_a_cancel_through_the_other_replica_stops_the_tool_in_the_runtime(
    redis_stacks: tuple[Stack, str],
) -> None:
    running, other = redis_stacks
    started = chat_stream(running.url("bff"), LONG_TASK, stop_after="tool_progress")
    run_id, call_id = started.headers["x-run-id"], started.first("tool_progress").data["call_id"]
    assert httpx.post(f"{other}/v1/runs/{run_id}/cancel", timeout=30).json()["status"] == "cancelled"
    wait_until(lambda: f"call_id={call_id} cancelled" in running.output("runtime"), timeout=5)
    replay = full_replay(other, run_id)
    assert [e["type"] for e in replay][-2:] == ["cancelled", "done"]


def progress_lines(stack: Stack, call_id: str) -> int:
    return sum(f"call_id={call_id} step" in line for line in stack.output("runtime").splitlines())


def test_cancel_stops_the_long_tool_inside_the_runtime_within_a_second(stack: Stack) -> None:
    with (
        httpx.Client(base_url=stack.url("bff"), timeout=60) as client,
        client.stream("POST", "/v1/chat/stream", json=LONG_TASK) as response,
    ):
        events: list[dict[str, Any]] = []
        decoder = SSEDecoder()
        chunks = response.iter_raw()
        while not any(e["type"] == "tool_progress" for e in events):
            events += [json.loads(s.data) for s in decoder.feed(next(chunks))]
        run_id = response.headers["x-run-id"]
        call_id = next(e for e in events if e["type"] == "tool_progress")["call_id"]
        cancel = client.post(f"/v1/runs/{run_id}/cancel")
        cancelled_at = time.monotonic()
        assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
        for chunk in chunks:
            events += [json.loads(s.data) for s in decoder.feed(chunk)]
    # The stream ended with the cancel, then done ...
    assert [e["type"] for e in events][-2:] == ["cancelled", "done"]
    assert events[-1]["status"] == "cancelled"
    # ... and the tool itself stopped inside the runtime within a second of the cancel ...
    wait_until(lambda: f"call_id={call_id} cancelled" in stack.output("runtime"), timeout=1.0)
    assert time.monotonic() - cancelled_at < 1.5
    steps_at_stop = progress_lines(stack, call_id)
    # ... and made no progress after that: wait longer than two of its steps (0.4 s each), no new line.
    time.sleep(1.0)
    assert progress_lines(stack, call_id) == steps_at_stop < 5
    assert f"call_id={call_id} completed" not in stack.output("runtime")
    assert httpx.get(f"{stack.url('agentcore')}/ping").json()["active_streams"] == 0


def test_a_client_that_leaves_lets_the_run_finish_by_default(stack: Stack) -> None:
    started = chat_stream(stack.url("bff"), LONG_TASK, stop_after="tool_progress")
    run_id, call_id = started.headers["x-run-id"], started.first("tool_progress").data["call_id"]
    # Follow the rest of the run from where the client left (no polling of the status).
    rest = full_replay(stack.url("bff"), run_id)
    assert rest[-1]["type"] == "done" and rest[-1]["status"] == "complete"
    assert f"call_id={call_id} completed" in stack.output("runtime")
    assert f"call_id={call_id} cancelled" not in stack.output("runtime")
    status = httpx.get(f"{stack.url('bff')}/v1/runs/{run_id}").json()
    assert status["status"] == "done" and status["output"]


def test_a_tool_silent_longer_than_the_read_timeout_does_not_break_the_stream() -> None:
    """The BFF's upstream read timeout is 1.5 s; the tool's steps are 2.5 s of silence each. The
    runtime's heartbeats keep the upstream socket busy (and the BFF's keep the client's)."""
    env = FAST_TOOL_ENV | {
        "BFF_READ_TIMEOUT_S": "1.5",
        "BFF_HEARTBEAT_INTERVAL_S": "0.5",
        "AGENT_HEARTBEAT_INTERVAL_S": "0.3",
        "AGENT_DATASET_STEPS": "5",
        "AGENT_DATASET_STEP_S": "2.5",
    }
    with start_stack(Ports.free(), env=env) as own:
        raw = b""
        with (
            httpx.Client(base_url=own.url("bff"), timeout=60) as client,
            client.stream("POST", "/v1/chat/stream", json=LONG_TASK) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_raw():
                raw += chunk
        decoder = SSEDecoder()
        events = [json.loads(e.data) for e in decoder.feed(raw) + decoder.flush()]
        types = [e["type"] for e in events]
        assert types[-1] == "done" and events[-1]["status"] == "complete", events[-3:]
        assert "error" not in types
        assert next(e for e in events if e["type"] == "tool_end")["status"] == "success"
        assert raw.count(b": heartbeat\n\n") >= 5  # the client saw the silence filled
