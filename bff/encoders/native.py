"""The native format (docs/events.md, schema in bff/schema/native-events.schema.json).

SSE: `id: <seq>`, `event: <type>`, `data: <json>`; the JSON is serialised once per event, as
bytes (`Event.to_json`), and the frame is built from bytes: compact JSON has no raw line break,
so it is always one `data:` line (what `bff.sse.encode_frame` writes for it).
"""

from __future__ import annotations

from typing import ClassVar

from bff.encoders.base import Encoder
from bff.events import Event


class NativeEncoder(Encoder):
    protocol: ClassVar[str] = "native"

    def encode(self, event: Event) -> bytes:
        return b"id: %d\nevent: %b\ndata: %b\n\n" % (event.seq, event.type.encode(), event.to_json())

    def prime(self, event: Event) -> None:
        return None  # stateless
