"""JSON Schemas of what the BFF emits. `native-events.schema.json`: the native event, version 1."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

NATIVE_EVENTS_SCHEMA_PATH = Path(__file__).with_name("native-events.schema.json")


@cache
def native_events_schema() -> dict[str, Any]:
    return json.loads(NATIVE_EVENTS_SCHEMA_PATH.read_text())
