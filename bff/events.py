"""The internal event model: what the BFF stores in a run's log and what every encoder reads.

One `Event` per normalised step of a run. `seq` is assigned by the run's event log and increases
strictly within a run (1, 2, 3, ...); it is the SSE `id:` and is always compared as an integer.
`data` holds the type-specific payload documented in docs/events.md.

JSON goes through `orjson` (`dumps_json`, `loads_json`): it is on the path of every event, twice
(the runtime's frame in, the native frame out), and the standard library's `json` was ~40% of
the BFF's CPU relaying flat out. Output is what `json.dumps(..., separators=(",", ":"),
ensure_ascii=False)` wrote (compact, non-ASCII as UTF-8); whatever orjson refuses (integers
beyond 64 bits, non-string keys, nesting deeper than 254; NaN/Infinity or lone surrogates when
decoding) falls back to `json`, so nothing that decoded or encoded before fails now. One
difference: orjson writes a NaN or infinite float as `null` (json wrote `NaN`, which no JSON
parser reads).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

SCHEMA_VERSION: Final = "1"

_SEPARATORS: Final = (",", ":")


def dumps_json(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (orjson; the standard library for what orjson refuses)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: big ints, non-str keys, deep nesting, unknown types
        return json.dumps(value, separators=_SEPARATORS, ensure_ascii=False).encode()


def loads_json(data: str | bytes) -> Any:
    """Parse JSON (orjson; the standard library for NaN/Infinity, lone surrogates, big ints).

    Raises ValueError when neither parses it."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


# Native event types, in the order they usually appear.
START: Final = "start"
AGENT_START: Final = "agent_start"
NODE_START: Final = "node_start"
NODE_END: Final = "node_end"
THINKING: Final = "thinking"
TOKEN: Final = "token"
TOOL_START: Final = "tool_start"
TOOL_PROGRESS: Final = "tool_progress"
TOOL_END: Final = "tool_end"
MESSAGE: Final = "message"
ERROR: Final = "error"
APPROVAL_REQUIRED: Final = "approval_required"  # a tool waits for a person (docs/approvals.md)
APPROVAL_EXPIRED: Final = "approval_expired"  # nobody answered in time; `done` follows
CANCELLED: Final = "cancelled"  # the run was stopped on request (POST /v1/runs/{id}/cancel); `done` follows
INTERRUPTED: Final = "interrupted"  # the run paused (awaiting approval); no `done` until it resumes
DONE: Final = "done"

EVENT_TYPES: Final = frozenset(
    {
        START,
        AGENT_START,
        NODE_START,
        NODE_END,
        THINKING,
        TOKEN,
        TOOL_START,
        TOOL_PROGRESS,
        TOOL_END,
        MESSAGE,
        ERROR,
        APPROVAL_REQUIRED,
        APPROVAL_EXPIRED,
        CANCELLED,
        INTERRUPTED,
        DONE,
    }
)

# A run is over once one of these has been logged; `done` is always the very last event.
TERMINAL_TYPES: Final = frozenset({DONE})
# A stream following a run stops at one of these when nothing follows it yet (a paused run).
PAUSE_TYPES: Final = frozenset({INTERRUPTED})


@dataclass(slots=True)
class Event:
    """One normalised event of a run."""

    type: str
    run_id: str
    session_id: str
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of a native event: envelope fields first, then the payload."""
        body: dict[str, Any] = {
            "type": self.type,
            "run_id": self.run_id,
            "session_id": self.session_id,
            "seq": self.seq,
            "ts": self.ts,
        }
        body.update(self.data)
        return body

    def to_json(self) -> bytes:
        """`to_dict()` as compact JSON (UTF-8), the `data:` of a native frame and a log entry."""
        return dumps_json(self.to_dict())

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Event:
        data = {k: v for k, v in body.items() if k not in {"type", "run_id", "session_id", "seq", "ts"}}
        return cls(
            type=body["type"],
            run_id=body["run_id"],
            session_id=body["session_id"],
            data=data,
            seq=int(body["seq"]),
            ts=float(body["ts"]),
        )
