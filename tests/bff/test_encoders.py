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

from bff import events as ev
from bff.encoders import AG_UI, AI_SDK, NATIVE, create_encoder, negotiate
from bff.events import Event
from bff.exceptions import ValidationFailed
from bff.normalize import RuntimeEventMapper
from bff.sse import decode_all
from tests.bff.test_encoders_grammar import (
    AGUI_EVENT,
    AISDK_VALIDATOR,
    NATIVE_VALIDATOR,
    check_agui_order,
    check_aisdk_order,
)
from tests.bff.test_runs_fakes import script_for

SESSION = "sess_" + "b" * 32
RUN = "run_test"
PROMPTS = ["hello", "tool", "think", "long 5", "fail mid", "runtime error", "truncated", "cancel"]


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
