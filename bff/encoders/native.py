"""The native format (docs/events.md, schema in bff/schema/native-events.schema.json).

SSE: `id: <seq>`, `event: <type>`, `data: <json>`; the JSON is serialised once per event.
"""

from __future__ import annotations

from typing import ClassVar

from bff.encoders.base import Encoder, dumps, encode_frame
from bff.events import Event


class NativeEncoder(Encoder):
    protocol: ClassVar[str] = "native"

    def encode(self, event: Event) -> bytes:
        return encode_frame(dumps(event.to_dict()), event.type, event.seq)

    def prime(self, event: Event) -> None:
        return None  # stateless
