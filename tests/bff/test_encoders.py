"""Each wire format, checked with that format's own models or grammar, not with strings we wrote.

- native: every `data:` validates against bff/schema/native-events.schema.json;
- AG-UI: every `data:` parses as an `ag_ui.core` event (the package's discriminated union), and
  the sequence obeys the protocol's ordering rules (RUN_STARTED first, RUN_FINISHED/RUN_ERROR
  last, start/content/end triples with matching ids, results after their calls);
- AI SDK: every part validates against the UI message chunk schema of `ai` (transcribed below
  from vercel/ai packages/ai/src/ui-message-stream/ui-message-chunks.ts, strict objects as there),
  in the order its stream processor accepts, ending with `data: [DONE]`.

The event streams come from the real normaliser fed with the scripted runtime events.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from ag_ui.core import Event as AgUiEvent
from pydantic import TypeAdapter
from test_runs_fakes import script_for

from bff import events as ev
from bff.encoders import AG_UI, AI_SDK, NATIVE, create_encoder, negotiate
from bff.events import Event
from bff.exceptions import ValidationFailed
from bff.normalize import RuntimeEventMapper
from bff.schema import native_events_schema
from bff.sse import decode_all

SESSION = "sess_" + "b" * 32
RUN = "run_test"
PROMPTS = ["hello", "tool", "think", "long 5", "fail mid", "runtime error", "truncated", "cancel"]

NATIVE_VALIDATOR = jsonschema.Draft202012Validator(native_events_schema())
AGUI_EVENT = TypeAdapter(AgUiEvent)

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


def native_events(prompt: str) -> list[Event]:
    """What a run logs for `prompt`: start, the mapper's pairs (or a cancel), seq from 1."""
    mapper = RuntimeEventMapper()
    pairs: list[tuple[str, dict[str, Any]]] = [(ev.START, {"schema_version": "1", "protocol": "native"})]
    if prompt == "cancel":
        for raw in script_for("tool")[:6]:
            pairs += mapper.feed(raw)
        pairs += [
            (ev.CANCELLED, {"reason": "requested"}),
            (
                ev.DONE,
                {
                    "status": "cancelled",
                    "output": "",
                    "usage": None,
                    "node_timings_ms": {},
                    "duration_ms": 1.0,
                },
            ),
        ]
    else:
        for step in script_for(prompt):
            if isinstance(step, dict):
                pairs += mapper.feed(step)
            elif step[0] == "raise":
                pairs += mapper.fail(step[1].code, step[1].message)
        pairs += mapper.finish()
    return [
        Event(kind, RUN, SESSION, payload, seq, 1763790000.0 + seq)
        for seq, (kind, payload) in enumerate(pairs, 1)
    ]


def encode_all(protocol: str, events: list[Event]) -> bytes:
    encoder = create_encoder(protocol)
    return b"".join(encoder.encode(e) for e in events) + encoder.end()


# --- native --------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", PROMPTS)
def test_native_frames_carry_id_and_event_and_validate_against_the_schema(prompt: str) -> None:
    frames = decode_all(encode_all(NATIVE, native_events(prompt)))
    assert frames
    for number, frame in enumerate(frames, 1):
        body = json.loads(frame.data)
        NATIVE_VALIDATOR.validate(body)
        assert frame.id == str(body["seq"]) == str(number)
        assert frame.event == body["type"]
    assert json.loads(frames[0].data)["type"] == "start" and json.loads(frames[-1].data)["type"] == "done"


def test_the_schema_refuses_events_that_break_the_contract() -> None:
    good = native_events("hello")[1].to_dict()
    NATIVE_VALIDATOR.validate(good)
    for broken in (
        {**good, "seq": "2"},  # a string id
        {k: v for k, v in good.items() if k != "run_id"},
        {**good, "session_id": "short"},
        {**native_events("tool")[-1].to_dict(), "status": "finished"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            NATIVE_VALIDATOR.validate(broken)


# --- AG-UI ---------------------------------------------------------------------------------


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


@pytest.mark.parametrize("prompt", PROMPTS)
def test_agui_stream_parses_as_ag_ui_events_in_a_valid_order(prompt: str) -> None:
    frames = decode_all(encode_all(AG_UI, native_events(prompt)))
    parsed = [AGUI_EVENT.validate_json(frame.data) for frame in frames]
    check_agui_order(parsed)
    assert all(frame.event == "message" for frame in frames)  # data-only frames, as AG-UI's encoder writes
    started = parsed[0]
    assert started.thread_id == SESSION and started.run_id == RUN
    last = parsed[-1]
    if prompt in ("fail mid", "runtime error", "truncated"):
        assert last.type.value == "RUN_ERROR" and last.code
    elif prompt == "cancel":
        assert last.type.value == "RUN_FINISHED" and last.outcome.type == "cancelled"
    else:
        assert last.type.value == "RUN_FINISHED" and last.outcome.type == "success"


def test_agui_tool_calls_are_triples_with_a_result_and_progress_is_custom() -> None:
    parsed = [AGUI_EVENT.validate_json(f.data) for f in decode_all(encode_all(AG_UI, native_events("tool")))]
    types = [e.type.value for e in parsed]
    for call_id in ("tooluse_1", "tooluse_2"):
        mine = [e.type.value for e in parsed if getattr(e, "tool_call_id", None) == call_id]
        assert mine == ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"]
    assert {"STEP_STARTED", "STEP_FINISHED", "CUSTOM"} <= set(types)
    custom = [e for e in parsed if e.type.value == "CUSTOM"]
    assert any(e.name == "tool_progress" and e.value["progress"] == 0.5 for e in custom)
    assert any(e.name == "artifact" and e.value["kind"] == "table" for e in custom)


def test_an_interrupted_run_finishes_the_agui_run_with_an_interrupt_outcome() -> None:
    pause = Event(ev.INTERRUPTED, RUN, SESSION, {"approval_id": "apr_1", "output": ""}, 4, 1.0)
    events = [*native_events("hello")[:3], pause]
    parsed = [AGUI_EVENT.validate_json(f.data) for f in decode_all(encode_all(AG_UI, events))]
    check_agui_order(parsed)
    assert parsed[-1].outcome.type == "interrupt" and parsed[-1].outcome.interrupts[0].id == "apr_1"


# --- AI SDK --------------------------------------------------------------------------------


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


@pytest.mark.parametrize("prompt", PROMPTS)
def test_aisdk_stream_is_a_valid_ui_message_stream_ending_with_done(prompt: str) -> None:
    frames = decode_all(encode_all(AI_SDK, native_events(prompt)))
    assert frames[-1].data == "[DONE]"
    parts = [json.loads(frame.data) for frame in frames[:-1]]
    for part in parts:
        AISDK_VALIDATOR.validate(part)
    check_aisdk_order(parts)
    types = [p["type"] for p in parts]
    if prompt in ("fail mid", "runtime error", "truncated"):
        assert "error" in types
    if prompt == "cancel":
        assert "abort" in types
    if prompt == "tool":
        assert "data-tool-progress" in types and "data-artifact" in types and "tool-output-error" in types
        text = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
        assert text == "LetmecomputeTheansweris10"


# --- resume on stateful formats -------------------------------------------------------------


@pytest.mark.parametrize("protocol", [NATIVE, AG_UI, AI_SDK])
@pytest.mark.parametrize("prompt", ["tool", "think", "cancel"])
def test_a_primed_encoder_continues_exactly_where_a_full_stream_was(protocol: str, prompt: str) -> None:
    events = native_events(prompt)
    full = create_encoder(protocol)
    chunks = [full.encode(e) for e in events]
    for cut in range(len(events)):
        resumed = create_encoder(protocol)
        for e in events[:cut]:
            resumed.prime(e)
        assert b"".join(resumed.encode(e) for e in events[cut:]) == b"".join(chunks[cut:])


@pytest.mark.parametrize("protocol", [AG_UI, AI_SDK])
def test_the_last_frame_of_each_event_carries_its_seq_as_sse_id(protocol: str) -> None:
    encoder = create_encoder(protocol)
    for event in native_events("tool"):
        frames = decode_all(encoder.encode(event))
        if frames:
            assert frames[-1].id == str(event.seq)


# --- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "accept", "expected"),
    [
        (None, None, NATIVE),
        (None, "text/event-stream", NATIVE),
        ("ag-ui", "text/event-stream", AG_UI),
        ("AI-SDK", None, AI_SDK),
        (None, "text/event-stream; protocol=ag-ui", AG_UI),
        (None, "application/json, text/event-stream;protocol=ai-sdk", AI_SDK),
        (None, "application/vnd.ag-ui+event-stream", AG_UI),
        ("native", "text/event-stream; protocol=ag-ui", NATIVE),
    ],
)
def test_the_format_is_chosen_by_query_then_accept(
    protocol: str | None, accept: str | None, expected: str
) -> None:
    assert negotiate(protocol, accept) == expected


def test_an_unknown_protocol_is_a_400() -> None:
    with pytest.raises(ValidationFailed) as info:
        negotiate("grpc", None)
    assert info.value.status == 400 and info.value.code == "invalid_protocol"
