"""The real runtime process (`python -m agent_runtime`) on a free loopback port."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from runtime_helpers import SESSION, RuntimeProcess

pytestmark = pytest.mark.slow

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"


def _stream(
    runtime: RuntimeProcess, payload: dict[str, Any], session: str = SESSION
) -> list[tuple[float, dict[str, Any]]]:
    """Every event with its arrival time."""
    arrivals = []
    with httpx.stream(
        "POST", f"{runtime.url}/invocations", json=payload, headers={SESSION_HEADER: session}, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic(), json.loads(line[6:])))
    return arrivals


RUNTIME_ENV = {
    "AGENT_DATASET_STEP_S": "0.3",
    "AGENT_DATASET_STEPS": "8",
    "AGENT_OFFLINE_TOKEN_DELAY_S": "0.005",
}


@pytest.fixture
def runtime(module_runtime: RuntimeProcess) -> RuntimeProcess:
    return module_runtime


def test_streams_events_as_they_happen_with_the_session_header(runtime: RuntimeProcess) -> None:
    arrivals = _stream(runtime, {"prompt": "Analyse a sample data set and report its statistics."})
    events = [event for _, event in arrivals]
    assert events[0]["type"] == "AGENT_START" and events[-1]["type"] == "AGENT_END"
    assert {e["session_id"] for e in events} == {SESSION}
    progress_times = [t for t, e in arrivals if e["type"] == "TOOL_PROGRESS"]
    assert len(progress_times) >= 5
    # six steps of 0.3 s: the events arrive spread over the run, not in one flush at the end
    assert progress_times[-1] - progress_times[0] > 0.75


def test_a_session_is_a_conversation_across_invocations(runtime: RuntimeProcess) -> None:
    _stream(runtime, {"prompt": "What is 5+5?"})
    events = [event for _, event in _stream(runtime, {"prompt": "Multiply that by 3"})]
    assert events[-1]["output"] == "10*3 = 30."


def test_payload_session_id_is_used_without_the_header(runtime: RuntimeProcess) -> None:
    response = httpx.post(
        f"{runtime.url}/invocations",
        json={"prompt": "What is 1+1?", "session_id": "from-payload", "stream": False},
    )
    assert response.status_code == 200
    assert response.json()["session_id"] == "from-payload"


def test_stream_false_answers_one_json_object(runtime: RuntimeProcess) -> None:
    response = httpx.post(
        f"{runtime.url}/invocations",
        json={"prompt": "What is 6*7?", "stream": False},
        headers={SESSION_HEADER: SESSION},
        timeout=30,
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["output"] == "6*7 = 42."
    assert body["status"] == "complete" and body["session_id"] == SESSION
    assert set(body["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    assert set(body["node_timings_ms"]) == {"agent", "tools"}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "missing_prompt"),
        ({"prompt": 5}, "invalid_prompt"),
        ({"prompt": "   "}, "empty_prompt"),
        ({"prompt": "hi", "stream": "yes"}, "invalid_stream"),
        ({"prompt": "hi", "session_id": 12}, "invalid_session_id"),
        ([1, 2], "invalid_payload"),
        ("just a string", "invalid_payload"),
        ({"action": "delete"}, "unknown_action"),
        ({"resume": {"approval_id": "x", "decision": "maybe"}}, "invalid_resume"),
    ],
)
def test_bad_payloads_get_a_json_400_with_a_code(runtime: RuntimeProcess, payload: Any, code: str) -> None:
    response = httpx.post(f"{runtime.url}/invocations", json=payload)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text


def test_ping_stays_responsive_while_the_long_tool_runs(runtime: RuntimeProcess) -> None:
    statuses: list[str] = []
    progress_after_pings = 0
    url = f"{runtime.url}/invocations"
    with httpx.stream(
        "POST",
        url,
        json={"prompt": "Analyse a sample data set"},
        headers={SESSION_HEADER: SESSION},
        timeout=30,
    ) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "TOOL_PROGRESS":
                if not statuses:
                    for _ in range(3):
                        ping = httpx.get(f"{runtime.url}/ping", timeout=1.0)
                        assert ping.status_code == 200
                        statuses.append(ping.json()["status"])
                else:
                    progress_after_pings += 1
    assert statuses == ["HealthyBusy"] * 3
    assert progress_after_pings >= 3  # the pings were answered while the run was still going
    assert httpx.get(f"{runtime.url}/ping").json()["status"] == "Healthy"


def test_a_client_disconnect_stops_the_long_tool(runtime: RuntimeProcess) -> None:
    url = f"{runtime.url}/invocations"
    mark = len(runtime.lines)
    with httpx.stream(
        "POST",
        url,
        json={"prompt": "Analyse a sample data set"},
        headers={SESSION_HEADER: SESSION},
        timeout=30,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:])["type"] == "TOOL_PROGRESS":
                break  # leaving the block closes the connection
    first_step = runtime.wait_for_line(r"analyze_dataset call_id=\S+ step 1/8", after=mark)
    call_id = re.search(r"call_id=(\S+)", first_step).group(1)  # type: ignore[union-attr]
    cancelled = runtime.wait_for_line(rf"analyze_dataset call_id={call_id} cancelled after step", after=mark)
    step = int(re.search(r"after step (\d+)/8", cancelled).group(1))  # type: ignore[union-attr]
    assert step <= 2  # it stopped within a step of the disconnect, far from the 8 steps
    # The SDK logs the busy task's end once our generator is done, i.e. after the run was torn down.
    runtime.wait_for_line(r"Async task completed: agent_run", after=runtime.lines.index(cancelled))
    assert httpx.get(f"{runtime.url}/ping").json()["status"] == "Healthy"
    after = runtime.lines[runtime.lines.index(cancelled) + 1 :]
    assert not [line for line in after if re.search(rf"call_id={call_id} (step|completed)", line)]
