"""An incremental Server-Sent Events parser, sans-IO: bytes in any chunking -> events.

The UI reads the BFF's `text/event-stream` with httpx and feeds whatever chunks arrive to
`SSEParser.feed`; complete events come out as soon as their terminating blank line is seen, so
tokens are shown the moment they reach the browser's server process. It follows the WHATWG
"event stream interpretation" rules the BFF relies on (docs/events.md):

- UTF-8 decoded incrementally (a character split across two chunks is fine), a leading BOM dropped;
- lines end with CRLF, LF or CR, and a CRLF split across two chunks counts once;
- `:` lines are comments (the BFF's heartbeats) and are skipped;
- `event:`, `data:` (several joined with `\\n`), `id:` (ignored if it contains NUL) and `retry:`;
- an event is dispatched on a blank line only if it has data; at end of stream an unterminated
  event is discarded.

The UI cannot import `bff/sse.py` (another deployable, another environment), hence this small twin.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["SSEParser", "ServerSentEvent"]

_LINE_END: Final = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SSEParser:
    """`feed(bytes) -> list[ServerSentEvent]`; the same events whatever the chunk boundaries."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # text not yet ended by a line break
        self._skip_lf = False  # the previous text ended with CR: a leading LF belongs to it
        self._at_start = True
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        return self._feed_text(self._utf8.decode(chunk))

    def close(self) -> list[ServerSentEvent]:
        """End of stream: whatever is left unterminated is dropped (WHATWG)."""
        events = self._feed_text(self._utf8.decode(b"", final=True))
        self._pending, self._data, self._event = "", [], ""
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if self._at_start and text:
            self._at_start = False
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text:
            self._skip_lf = False
            text = text.removeprefix("\n")
        if not text:
            return []
        buffer = self._pending + text
        lines = _LINE_END.split(buffer)
        self._pending = lines.pop()  # the text after the last line break (maybe "")
        if buffer.endswith("\r"):
            self._skip_lf = True
        events: list[ServerSentEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(
            data="\n".join(data), event=event or "message", id=self._last_id, retry=self._retry
        )
