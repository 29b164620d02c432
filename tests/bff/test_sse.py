"""The SSE decoder is right for any chunking; the encoder writes what the decoder (and browsers) read."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bff.sse import ServerSentEvent, SSEDecoder, comment, decode_all, encode_frame


def feed_in_pieces(body: bytes, cuts: list[int]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    start = 0
    for cut in sorted(set(cuts)):
        events += decoder.feed(body[start:cut])
        start = cut
    events += decoder.feed(body[start:])
    return events + decoder.flush()


def test_runtime_frames_decode_to_their_json() -> None:
    body = b'data: {"type": "TOKEN", "delta": "Hi"}\n\ndata: {"type": "AGENT_END"}\n\n'
    events = decode_all(body)
    assert [json.loads(e.data)["type"] for e in events] == ["TOKEN", "AGENT_END"]
    assert all(e.event == "message" and e.id is None for e in events)


def test_event_split_across_chunks_is_held_until_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: hel") == []
    assert decoder.feed(b"lo\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent(data="hello")]


def test_several_events_in_one_chunk() -> None:
    assert [e.data for e in SSEDecoder().feed(b"data: a\n\ndata: b\n\ndata: c\n\n")] == ["a", "b", "c"]


def test_utf8_character_split_across_chunks() -> None:
    body = "data: héllo 🙂\n\n".encode()
    cut = body.index("🙂".encode()) + 2
    decoder = SSEDecoder()
    assert decoder.feed(body[:cut]) == []
    assert decoder.feed(body[cut:]) == [ServerSentEvent(data="héllo 🙂")]


def test_crlf_cr_and_lf_line_ends_including_crlf_split_between_chunks() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: a\r\n\r\ndata: b\r\rdata: c\r")
    events += decoder.feed(b"\n\r")
    events += decoder.feed(b"\n")
    assert [e.data for e in events] == ["a", "b", "c"]


def test_comments_fields_multiline_data_and_bom() -> None:
    body = b"\xef\xbb\xbf: keep-alive\nid: 7\nevent: token\ndata: one\ndata:two\nretry: 1500\n\n"
    (event,) = decode_all(body)
    assert event == ServerSentEvent(data="one\ntwo", event="token", id="7", retry=1500)


def test_event_without_data_is_not_dispatched_and_resets_type() -> None:
    assert decode_all(b"event: ping\n\ndata: x\n\n") == [ServerSentEvent(data="x")]


def test_id_persists_as_last_event_id_and_null_id_is_ignored() -> None:
    events = decode_all(b"id: 3\ndata: a\n\ndata: b\n\nid: 4\x00\ndata: c\n\n")
    assert [e.id for e in events] == ["3", "3", "3"]


def test_unterminated_last_event_is_dropped_at_end_of_stream() -> None:
    assert decode_all(b"data: a\n\ndata: b") == [ServerSentEvent(data="a")]


def test_field_without_colon_and_unknown_fields() -> None:
    assert decode_all(b"data\nfoo: bar\n\n") == [ServerSentEvent(data="")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode_all(b"data: \xff\n\n") == [ServerSentEvent(data="\ufffd")]


def test_encode_frame_shapes() -> None:
    assert encode_frame('{"a":1}', "token", 7) == b'id: 7\nevent: token\ndata: {"a":1}\n\n'
    assert encode_frame("x") == b"data: x\n\n"
    assert encode_frame("a\nb\r\nc", "m") == b"event: m\ndata: a\ndata: b\ndata: c\n\n"


def test_comment_frames() -> None:
    assert comment("heartbeat") == b": heartbeat\n\n"
    assert comment() == b":\n\n"
    assert decode_all(comment("a\nb") + b"data: z\n\n") == [ServerSentEvent(data="z")]


# --- properties ---------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"))
_events = st.lists(
    st.tuples(
        st.lists(_text.filter(lambda s: not s.startswith(" ")), min_size=1, max_size=3),  # data lines
        st.one_of(st.none(), st.text(alphabet="abcdefghij_", min_size=1, max_size=8)),  # event
        st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),  # id
    ),
    max_size=8,
)
_line_end = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str, str | None]]]:
    text = "\ufeff" if draw(st.booleans()) else ""
    end = draw(_line_end)  # one style per stream: a CR then an LF would be a single CRLF
    expected: list[tuple[str, str, str | None]] = []
    last_id: str | None = None
    for data_lines, event, id_ in draw(_events):
        if draw(st.booleans()):
            text += ":" + draw(_text) + end
        if id_ is not None:
            text += f"id: {id_}" + end
            last_id = str(id_)
        if event is not None:
            text += f"event: {event}" + end
        for line in data_lines:
            text += "data:" + draw(st.sampled_from(["", " "])) + line + end
        text += end
        expected.append(("\n".join(data_lines), event or "message", last_id))
    return text.encode(), expected


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_split_of_a_valid_stream_decodes_to_the_same_events(data: st.DataObject) -> None:
    body, _ = data.draw(streams())
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=12))
    whole = decode_all(body)
    assert feed_in_pieces(body, cuts) == whole
    byte_by_byte = feed_in_pieces(body, list(range(len(body) + 1)))
    assert byte_by_byte == whole


@settings(max_examples=100, deadline=None)
@given(
    payloads=st.lists(
        st.tuples(_text, st.sampled_from(["token", "done"]), st.integers(min_value=1, max_value=10**6)),
        max_size=10,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10),
)
def test_encoded_frames_round_trip_through_the_decoder(
    payloads: list[tuple[str, str, int]], cuts: list[int]
) -> None:
    body = b"".join(encode_frame(json.dumps({"d": d}), e, i) for d, e, i in payloads)
    events = feed_in_pieces(body, [c for c in cuts if c <= len(body)])
    assert [(json.loads(e.data)["d"], e.event, e.id) for e in events] == [
        (d, e, str(i)) for d, e, i in payloads
    ]


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_decoded_events_match_what_was_written(data: st.DataObject) -> None:
    body, expected = data.draw(streams())
    assert [(e.data, e.event, e.id) for e in decode_all(body)] == expected
