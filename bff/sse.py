"""Server-Sent Events on the wire, sans-IO: an incremental decoder and a frame encoder.

`SSEDecoder` turns bytes, in whatever chunks the network delivers them, into `ServerSentEvent`s,
following the WHATWG "event stream interpretation" algorithm (httpx-sse's `_decoders.py` is the
model): UTF-8 decoded incrementally (a character split across chunks is fine), an optional BOM
at the very start ignored, lines ended by CRLF, LF or CR (a CRLF split across two chunks counts
once), `:` comments skipped, `event:`, `data:` (several lines joined with `\\n`), `id:` and
`retry:` fields, and an event dispatched on each blank line when it has data.

    decoder = SSEDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            ...
    decoder.flush()   # at end of stream: an unterminated last event is dropped, as in WHATWG

Deliberate divergence from httpx-sse: an event without any `data:` line is not dispatched (WHATWG
step "if the data buffer is an empty string, ... return"); httpx-sse dispatches it.

`encode_frame(data, event, id)` and `comment(text)` write frames; they are on the hot path of
every native stream, so they build one string and encode it once.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["SSEDecoder", "ServerSentEvent", "comment", "decode_all", "encode_frame"]

_LINE_END: Final = re.compile(r"\r\n|\r|\n")
_BOM: Final = "\ufeff"


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None  # the last event id at dispatch time (WHATWG), None if never set
    retry: int | None = None


class SSEDecoder:
    """Incremental SSE decoder: `feed(bytes) -> list[ServerSentEvent]`, right for any chunking."""

    __slots__ = (
        "_after_cr",
        "_data",
        "_event",
        "_last_event_id",
        "_partial",
        "_retry",
        "_start",
        "_utf8",
    )

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""  # text of the current, not yet terminated line
        self._after_cr = False  # the last text ended with CR: a following LF belongs to it
        self._start = True  # nothing decoded yet: a BOM here is dropped
        self._data: list[str] = []
        self._event = ""
        self._last_event_id: str | None = None
        self._retry: int | None = None

    @property
    def last_event_id(self) -> str | None:
        return self._last_event_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        return self._feed_text(self._utf8.decode(chunk))

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: decode what is left; an event not ended by a blank line is discarded."""
        events = self._feed_text(self._utf8.decode(b"", final=True))
        self._partial = ""
        self._data = []
        self._event = ""
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if self._start:
            self._start = False
            if text.startswith(_BOM):
                text = text[1:]
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        if not text:
            return []
        self._after_cr = text.endswith("\r")
        pieces = _LINE_END.split(text) if "\r" in text else text.split("\n")  # same lines, cheaper
        if len(pieces) == 1:
            self._partial += text
            return []
        pieces[0] = self._partial + pieces[0]
        self._partial = pieces.pop()
        events: list[ServerSentEvent] = []
        for line in pieces:
            if line.startswith("data: "):  # nearly every line of a stream: handled inline
                self._data.append(line[6:])
                continue
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = ServerSentEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self._last_event_id,
            retry=self._retry,
        )
        self._data = []
        self._event = ""
        return event


def decode_all(body: bytes) -> list[ServerSentEvent]:
    """Decode a complete SSE body at once (tests, non-streaming callers)."""
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.flush()


def encode_frame(data: str, event: str | None = None, id: int | None = None) -> bytes:
    """One SSE frame: `id:`, `event:`, then `data:` (one line per line of `data`), blank line."""
    head = ""
    if id is not None:
        head = f"id: {id}\n"
    if event is not None:
        head += f"event: {event}\n"
    if "\n" in data or "\r" in data:
        body = "".join(f"data: {line}\n" for line in _LINE_END.split(data))
        return f"{head}{body}\n".encode()
    return f"{head}data: {data}\n\n".encode()


def comment(text: str = "") -> bytes:
    """An SSE comment frame (clients ignore it): keeps proxies and idle timers from cutting a stream."""
    lines = _LINE_END.split(text) if text else [""]
    return "".join(f": {line}\n" if line else ":\n" for line in lines).encode() + b"\n"
