"""Conversations outlive the process: PostgreSQL (real server) and AgentCore Memory (moto).

A new `AgentService` on the same store is what a restarted runtime sees; the last test restarts a
real `python -m agent_runtime` process (killed with SIGKILL) between turns and during an approval.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from moto import mock_aws
from runtime_helpers import RuntimeProcess

from agent_runtime.app import create_app
from agent_runtime.exceptions import ConfigurationError, StoreUnavailable
from agent_runtime.payloads import Resume, Turn
from agent_runtime.service import AgentService
from agent_runtime.settings import Settings

POSTGRES_URL = os.environ.get("AGENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SAVE = "Save a note titled groceries with the text milk and eggs."


def _session() -> str:
    return f"test-{uuid.uuid4().hex}"  # unique: the database outlives the test run


async def _run(settings: Settings, request: Turn | Resume, session: str) -> list[dict[str, Any]]:
    """One invocation on a freshly opened service, closed afterwards: a process lifetime."""
    agent = await AgentService.open(settings)
    try:
        return [event async for event in agent.events(request, session)]
    finally:
        await agent.aclose()


async def _survives_restarts(settings: Settings, workspace: Path) -> None:
    session = _session()
    assert (await _run(settings, Turn("What is 5+5?", None, True), session))[-1]["output"] == "5+5 = 10."
    assert (await _run(settings, Turn("Multiply that by 3", None, True), session))[-1][
        "output"
    ] == "10*3 = 30."
    asked = await _run(settings, Turn(SAVE, None, True), session)
    approval_id = next(e for e in asked if e["type"] == "APPROVAL_REQUIRED")["approval_id"]
    resumed = await _run(settings, Resume(approval_id, "approve", None, None, True), session)
    assert resumed[-1]["status"] == "complete"
    assert (workspace / "groceries.md").exists()
    agent = await AgentService.open(settings)
    try:
        history = await agent.history(session)
    finally:
        await agent.aclose()
    assert [m["role"] for m in history["messages"]].count("user") == 3
    assert history["pending_approvals"] == []


async def test_postgres_keeps_conversations_and_approvals_across_restarts(tmp_path: Path) -> None:
    settings = Settings(
        offline_token_delay_s=0, checkpointer="postgres", postgres_url=POSTGRES_URL, workspace_dir=tmp_path
    )
    await _survives_restarts(settings, tmp_path)


@pytest.fixture
def aws() -> Iterator[None]:
    keys = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        with mock_aws():
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def test_agentcore_memory_keeps_conversations_and_approvals_across_restarts(
    aws: None, tmp_path: Path
) -> None:
    settings = Settings(
        offline_token_delay_s=0,
        checkpointer="agentcore-memory",
        memory_id="memtest-0123456789",
        aws_region="us-east-1",
        workspace_dir=tmp_path,
    )
    await _survives_restarts(settings, tmp_path)


async def test_sessions_do_not_see_each_other_in_postgres(tmp_path: Path) -> None:
    settings = Settings(
        offline_token_delay_s=0, checkpointer="postgres", postgres_url=POSTGRES_URL, workspace_dir=tmp_path
    )
    first, second = _session(), _session()
    await _run(settings, Turn("What is 5+5?", None, True), first)
    other = await _run(settings, Turn("Multiply that by 3", None, True), second)
    assert "offline rules model" in other[-1]["output"]


async def test_an_unreachable_postgres_fails_at_once_and_the_entrypoint_answers_503() -> None:
    settings = replace(
        Settings(), checkpointer="postgres", postgres_url="postgresql://postgres@127.0.0.1:1/test"
    )
    with pytest.raises(StoreUnavailable, match="PostgreSQL cannot be reached"):
        await AgentService.open(settings)
    entrypoint = create_app(settings).handlers["main"]
    response = await entrypoint({"prompt": "hi"}, SimpleNamespace(session_id="s", request=None))
    assert response.status_code == 503
    assert json.loads(response.body) == {
        "error": {
            "code": "state_unavailable",
            "message": "The agent cannot start: its conversation store is not available.",
        }
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AGENT_CHECKPOINTER": "redis"}, "AGENT_CHECKPOINTER must be one of"),
        ({"AGENT_CHECKPOINTER": "postgres"}, "needs AGENT_POSTGRES_URL"),
        ({"AGENT_CHECKPOINTER": "agentcore-memory"}, "needs AGENT_MEMORY_ID"),
        ({"AGENT_PORT": "eighty"}, "AGENT_PORT must be a number"),
        ({"AGENT_DATASET_STEPS": "2"}, "AGENT_DATASET_STEPS must be at least 5"),
        ({"AGENT_HEARTBEAT_INTERVAL_S": "0"}, "AGENT_HEARTBEAT_INTERVAL_S must be at least"),
    ],
)
def test_bad_settings_fail_fast_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_settings_read_the_environment() -> None:
    settings = Settings.from_env(
        {
            "AGENT_HOST": "0.0.0.0",
            "AGENT_PORT": "9000",
            "AGENT_MODEL_ID": "anthropic.claude",
            "AGENT_CHECKPOINTER": "postgres",
            "AGENT_POSTGRES_URL": POSTGRES_URL,
            "AGENT_HEARTBEAT_INTERVAL_S": "2.5",
        }
    )
    assert (settings.host, settings.port, settings.model_name) == ("0.0.0.0", 9000, "anthropic.claude")
    assert (settings.checkpointer, settings.heartbeat_interval_s) == ("postgres", 2.5)
    assert Settings.from_env({}).model_name == "offline-rules"


def _invoke(runtime: RuntimeProcess, payload: dict[str, Any], session: str) -> list[dict[str, Any]]:
    headers = {"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session}
    with httpx.stream(
        "POST", f"{runtime.url}/invocations", json=payload, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


@pytest.mark.slow
def test_a_killed_runtime_process_loses_nothing_with_postgres(tmp_path: Path) -> None:
    env = {
        "AGENT_CHECKPOINTER": "postgres",
        "AGENT_POSTGRES_URL": POSTGRES_URL,
        "AGENT_WORKSPACE_DIR": str(tmp_path),
    }
    session = _session() + "-process"
    first = RuntimeProcess(env)
    try:
        first.wait_healthy()
        assert _invoke(first, {"prompt": "What is 5+5?"}, session)[-1]["output"] == "5+5 = 10."
        asked = _invoke(first, {"prompt": SAVE}, session)
        assert asked[-1]["status"] == "interrupted"
        approval_id = asked[-2]["approval_id"]
    finally:
        first.proc.kill()  # no graceful shutdown: whatever was not stored is lost
        first.stop()
    second = RuntimeProcess(env)
    try:
        second.wait_healthy()
        resumed = _invoke(second, {"resume": {"approval_id": approval_id, "decision": "approve"}}, session)
        assert next(e for e in resumed if e["type"] == "TOOL_RESULT")["status"] == "success"
        assert (tmp_path / "groceries.md").read_text() == "# groceries\n\nmilk and eggs\n"
        assert _invoke(second, {"prompt": "Multiply that by 3"}, session)[-1]["output"] == "10*3 = 30."
        history = httpx.post(
            f"{second.url}/invocations",
            json={"action": "history"},
            headers={"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session},
        ).json()
        assert history["session_id"] == session
        assert [m["content"] for m in history["messages"] if m["role"] == "user"] == [
            "What is 5+5?",
            SAVE,
            "Multiply that by 3",
        ]
    finally:
        second.stop()
