"""The UI's incremental SSE parser gives the same events whatever the chunking."""

from __future__ import annotations

import json
import random

import pytest

from ui.sse import ServerSentEvent, SSEParser

STREAM = (
    "\ufeff: heartbeat\n\n"
    'id: 1\nevent: start\ndata: {"type": "start", "seq": 1}\n\n'
    'id: 2\r\nevent: token\r\ndata: {"type": "token", "delta": "héllo ✓ 🙂"}\r\n\r\n'
    "id: 3\revent: note\rdata: line one\rdata: line two\r\r"
    ": another comment\n"
    "id: 4\nretry: 1500\ndata:no space\n\n"
).encode()

EXPECTED = [
    ServerSentEvent(data='{"type": "start", "seq": 1}', event="start", id="1"),
    ServerSentEvent(data='{"type": "token", "delta": "héllo ✓ 🙂"}', event="token", id="2"),
    ServerSentEvent(data="line one\nline two", event="note", id="3"),
    ServerSentEvent(data="no space", event="message", id="4", retry=1500),
]


def parse(chunks: list[bytes]) -> list[ServerSentEvent]:
    parser = SSEParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


def test_whole_stream_in_one_chunk() -> None:
    assert parse([STREAM]) == EXPECTED


def test_one_byte_at_a_time_splits_utf8_characters_and_crlf() -> None:
    assert parse([bytes([b]) for b in STREAM]) == EXPECTED


def test_every_two_chunk_split() -> None:
    for cut in range(1, len(STREAM)):
        assert parse([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


@pytest.mark.parametrize("seed", range(50))
def test_random_chunkings(seed: int) -> None:
    rng = random.Random(seed)
    chunks, rest = [], STREAM
    while rest:
        size = rng.randint(1, 12)
        chunks.append(rest[:size])
        rest = rest[size:]
    assert parse(chunks) == EXPECTED


def test_events_come_out_as_soon_as_their_blank_line_arrives() -> None:
    parser = SSEParser()
    assert parser.feed(b"id: 1\nevent: token\ndata: {}\n") == []
    assert parser.feed(b"\n") == [ServerSentEvent(data="{}", event="token", id="1")]
    assert parser.last_event_id == "1"


def test_comment_only_and_data_less_events_are_not_dispatched() -> None:
    assert parse([b": ping\n\n: ping\n\nevent: x\n\n"]) == []


def test_unterminated_last_event_is_dropped() -> None:
    assert parse([b"data: complete\n\ndata: cut off"]) == [ServerSentEvent(data="complete")]


def test_id_with_nul_is_ignored_and_the_last_id_carries_over() -> None:
    events = parse([b"id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\n"])
    assert [e.id for e in events] == ["7", "7"]


def test_bad_retry_is_ignored() -> None:
    assert parse([b"retry: soon\ndata: a\n\n"]) == [ServerSentEvent(data="a")]


def test_json_helper() -> None:
    assert ServerSentEvent(data=json.dumps({"a": 1})).json() == {"a": 1}
