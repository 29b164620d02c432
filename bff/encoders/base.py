"""What every wire-format encoder is: a small stateful object per stream, sans-IO.

    encoder = create_encoder("ag-ui")
    for event in replayed_events: encoder.prime(event)   # resume: rebuild state, write nothing
    for event in live_events:     yield encoder.encode(event)
    yield encoder.end()                                  # after `done` or a pause

`encode` returns the bytes of zero or more frames for one native event. On SSE formats the last
frame of each native event carries `id: <seq>`, so a browser `EventSource` (or any client that
remembers the last id) resumes after the last event it fully received.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from bff.events import Event

try:  # the plumbing's encoder; the fallback keeps this module importable on its own
    from bff.sse import comment as _comment
    from bff.sse import encode_frame
except ImportError:  # pragma: no cover

    def encode_frame(data: str, event: str | None = None, id: int | None = None) -> bytes:
        head = (f"id: {id}\n" if id is not None else "") + (f"event: {event}\n" if event is not None else "")
        return f"{head}data: {data}\n\n".encode()

    def _comment(text: str = "") -> bytes:
        return f": {text}\n\n".encode()


_SEPARATORS = (",", ":")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=_SEPARATORS, ensure_ascii=False)


class Encoder:
    """Base class: SSE with a `: heartbeat` comment and nothing at the end."""

    protocol: ClassVar[str] = ""
    media_type: ClassVar[str] = "text/event-stream"

    def headers(self) -> dict[str, str]:
        return {}

    def encode(self, event: Event) -> bytes:
        raise NotImplementedError

    def prime(self, event: Event) -> None:
        """Feed an event the client already has (a resume), to rebuild the state; no output."""
        self.encode(event)

    def heartbeat(self) -> bytes:
        return _comment("heartbeat")

    def end(self) -> bytes:
        return b""


def frames(bodies: list[str], seq: int) -> bytes:
    """`data:` frames for one native event; the last one carries the event's seq as its id."""
    if not bodies:
        return b""
    last = len(bodies) - 1
    return b"".join(encode_frame(body, None, seq if i == last else None) for i, body in enumerate(bodies))
