"""Wire formats: one internal event model, a thin encoder per format.

`negotiate(protocol, accept)` picks the format: `?protocol=` wins; otherwise the `Accept` header,
either a `protocol=` media-type parameter (`text/event-stream; protocol=ag-ui`) or one of the
vendor types below; otherwise `native`.
"""

from __future__ import annotations

from typing import Final

from bff.encoders.agui import AgUiEncoder
from bff.encoders.aisdk import AiSdkEncoder
from bff.encoders.base import Encoder
from bff.encoders.native import NativeEncoder
from bff.exceptions import ValidationFailed

NATIVE: Final = "native"
AG_UI: Final = "ag-ui"
AI_SDK: Final = "ai-sdk"

_ENCODERS: Final[dict[str, type[Encoder]]] = {
    NATIVE: NativeEncoder,
    AG_UI: AgUiEncoder,
    AI_SDK: AiSdkEncoder,
}
_ALIASES: Final = {"agui": AG_UI, "ag_ui": AG_UI, "aisdk": AI_SDK, "ai_sdk": AI_SDK, "vercel": AI_SDK}
_MEDIA_TYPES: Final = {
    "application/vnd.ag-ui+event-stream": AG_UI,
    "application/vnd.ai-sdk.ui-message-stream+event-stream": AI_SDK,
}
PROTOCOLS: Final = tuple(_ENCODERS)


def _normal(name: str) -> str | None:
    name = name.strip().lower()
    name = _ALIASES.get(name, name)
    return name if name in _ENCODERS else None


def negotiate(protocol: str | None, accept: str | None) -> str:
    if protocol:
        found = _normal(protocol)
        if found is None:
            raise ValidationFailed(
                f"Unknown protocol; use one of: {', '.join(PROTOCOLS)}.", code="invalid_protocol", status=400
            )
        return found
    for item in (accept or "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() in _MEDIA_TYPES:
            return _MEDIA_TYPES[media.lower()]
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "protocol":
                found = _normal(value.strip('"'))
                if found is not None:
                    return found
    return NATIVE


def create_encoder(protocol: str) -> Encoder:
    return _ENCODERS[protocol]()


__all__ = ["AG_UI", "AI_SDK", "NATIVE", "PROTOCOLS", "Encoder", "create_encoder", "negotiate"]
