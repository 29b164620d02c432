"""The grammars the wire-format tests check output against (shared with tests/e2e/test_formats.py).

- native: bff/schema/native-events.schema.json;
- AG-UI: the `ag_ui.core` event union, plus the protocol's ordering rules;
- AI SDK: the UI message chunk schema of `ai` 5.x (transcribed from vercel/ai
  packages/ai/src/ui-message-stream/ui-message-chunks.ts, strict objects as there), plus the
  order its stream processor accepts.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from ag_ui.core import Event as AgUiEvent
from pydantic import TypeAdapter

from bff.schema import native_events_schema

NATIVE_VALIDATOR = jsonschema.Draft202012Validator(native_events_schema())
AGUI_EVENT: TypeAdapter[Any] = TypeAdapter(AgUiEvent)

# --- the AI SDK's UI message chunk schema (ai 5.x, `uiMessageChunkSchema`), as JSON Schema ----
_S = {"type": "string"}
_B = {"type": "boolean"}
_ANY: dict[str, Any] = {}
_META = {"type": "object"}


def _strict(type_: str, required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {"type": {"const": type_}, **required, **(optional or {})}
    return {
        "type": "object",
        "properties": props,
        "required": ["type", *required],
        "additionalProperties": False,
    }


AISDK_CHUNK_SCHEMA = {
    "oneOf": [
        _strict("text-start", {"id": _S}, {"providerMetadata": _META}),
        _strict("text-delta", {"id": _S, "delta": _S}, {"providerMetadata": _META}),
        _strict("text-end", {"id": _S}, {"providerMetadata": _META}),
        _strict("error", {"errorText": _S}),
        _strict(
            "tool-input-start",
            {"toolCallId": _S, "toolName": _S},
            {"providerExecuted": _B, "providerMetadata": _META, "dynamic": _B},
        ),
        _strict("tool-input-delta", {"toolCallId": _S, "inputTextDelta": _S}),
        _strict(
            "tool-input-available",
            {"toolCallId": _S, "toolName": _S, "input": _ANY},
            {"providerExecuted": _B, "providerMetadata": _META, "dynamic": _B},
        ),
        _strict(
            "tool-output-available",
            {"toolCallId": _S, "output": _ANY},
            {"providerExecuted": _B, "dynamic": _B, "preliminary": _B},
        ),
        _strict(
            "tool-output-error", {"toolCallId": _S, "errorText": _S}, {"providerExecuted": _B, "dynamic": _B}
        ),
        _strict("reasoning-start", {"id": _S}, {"providerMetadata": _META}),
        _strict("reasoning-delta", {"id": _S, "delta": _S}, {"providerMetadata": _META}),
        _strict("reasoning-end", {"id": _S}, {"providerMetadata": _META}),
        {
            "type": "object",
            "properties": {
                "type": {"type": "string", "pattern": "^data-"},
                "id": _S,
                "data": _ANY,
                "transient": _B,
            },
            "required": ["type", "data"],
            "additionalProperties": False,
        },
        _strict("start-step", {}),
        _strict("finish-step", {}),
        _strict("start", {}, {"messageId": _S, "messageMetadata": _ANY}),
        _strict("finish", {}, {"messageMetadata": _ANY}),
        _strict("abort", {}, {"reason": _S}),
        _strict("message-metadata", {"messageMetadata": _ANY}),
    ]
}
AISDK_VALIDATOR = jsonschema.Draft202012Validator(AISDK_CHUNK_SCHEMA)


def check_agui_order(events: list[Any]) -> None:
    types = [e.type.value for e in events]
    assert types[0] == "RUN_STARTED"
    assert types[-1] in ("RUN_FINISHED", "RUN_ERROR")
    assert sum(t in ("RUN_FINISHED", "RUN_ERROR") for t in types) == 1
    text: str | None = None
    reasoning: str | None = None
    reasoning_message: str | None = None
    open_calls: set[str] = set()
    ended_calls: set[str] = set()
    steps: list[str] = []
    for e in events:
        t = e.type.value
        if t == "TEXT_MESSAGE_START":
            assert text is None, "text messages do not nest"
            text = e.message_id
        elif t == "TEXT_MESSAGE_CONTENT":
            assert text == e.message_id and e.delta
        elif t == "TEXT_MESSAGE_END":
            assert text == e.message_id
            text = None
        elif t == "REASONING_START":
            assert reasoning is None
            reasoning = e.message_id
        elif t == "REASONING_MESSAGE_START":
            assert reasoning is not None and reasoning_message is None
            reasoning_message = e.message_id
        elif t == "REASONING_MESSAGE_CONTENT":
            assert reasoning_message == e.message_id
        elif t == "REASONING_MESSAGE_END":
            assert reasoning_message == e.message_id
            reasoning_message = None
        elif t == "REASONING_END":
            assert reasoning == e.message_id and reasoning_message is None
            reasoning = None
        elif t == "TOOL_CALL_START":
            assert e.tool_call_id not in open_calls | ended_calls
            open_calls.add(e.tool_call_id)
        elif t == "TOOL_CALL_ARGS":
            assert e.tool_call_id in open_calls
            json.loads(e.delta)
        elif t == "TOOL_CALL_END":
            open_calls.remove(e.tool_call_id)
            ended_calls.add(e.tool_call_id)
        elif t == "TOOL_CALL_RESULT":
            assert e.tool_call_id in ended_calls
        elif t == "STEP_STARTED":
            steps.append(e.step_name)
        elif t == "STEP_FINISHED":
            assert e.step_name in steps
            steps.remove(e.step_name)
        elif t in ("RUN_FINISHED", "RUN_ERROR"):
            assert text is None and reasoning is None and not open_calls and not steps


def check_aisdk_order(parts: list[dict[str, Any]]) -> None:
    assert parts[0]["type"] == "start" and parts[-1]["type"] == "finish"
    open_text: set[str] = set()
    open_reasoning: set[str] = set()
    inputs: set[str] = set()
    started_inputs: set[str] = set()
    step_open = False
    for part in parts:
        t = part["type"]
        if t == "text-start":
            open_text.add(part["id"])
        elif t == "text-delta":
            assert part["id"] in open_text, "text-delta before its text-start"
        elif t == "text-end":
            open_text.remove(part["id"])
        elif t == "reasoning-start":
            open_reasoning.add(part["id"])
        elif t == "reasoning-delta":
            assert part["id"] in open_reasoning
        elif t == "reasoning-end":
            open_reasoning.remove(part["id"])
        elif t == "tool-input-start":
            started_inputs.add(part["toolCallId"])
        elif t == "tool-input-available":
            assert part["toolCallId"] in started_inputs
            inputs.add(part["toolCallId"])
        elif t in ("tool-output-available", "tool-output-error"):
            assert part["toolCallId"] in inputs, "tool output before tool-input-available"
        elif t == "start-step":
            assert not step_open
            step_open = True
        elif t == "finish-step":
            assert step_open
            step_open = False
        elif t == "finish":
            assert not open_text and not open_reasoning and not step_open
