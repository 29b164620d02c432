"""A run's events as an HTTP event stream: replay after an id, follow live, heartbeats, disconnects.

The response only reads the run's log; the run itself belongs to the RunManager. When the client
goes away, the follower stops (Starlette cancels the body iterator), and the run goes on, unless
the request asked for `on_disconnect=cancel`: then the run is cancelled in the background (the
cleanup of a cancelled generator cannot await).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from bff import events as ev
from bff.encoders import Encoder
from bff.encoders.native import NativeEncoder
from bff.eventlog import RunRecord
from bff.runs import ON_DISCONNECT_CANCEL, RunManager

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


def run_headers(record: RunRecord) -> dict[str, str]:
    return {"X-Run-Id": record.run_id, "X-Session-Id": record.session_id}


async def prime(runs: RunManager, encoder: Encoder, run_id: str, after: int) -> None:
    """A resume on a stateful format: replay what the client has into the encoder, silently."""
    if after <= 0 or isinstance(encoder, NativeEncoder):
        return
    for event in await runs.log.read(run_id, 0):
        if event.seq > after:
            break
        encoder.prime(event)


def _protocol(encoder: Encoder) -> str:
    return encoder.protocol or type(encoder).__name__.removesuffix("Encoder").lower()


def event_stream(
    runs: RunManager,
    record: RunRecord,
    encoder: Encoder,
    *,
    after: int,
    heartbeat_s: float,
    on_disconnect: str | None,
) -> StreamingResponse:
    metrics = runs.metrics

    async def body() -> AsyncIterator[bytes]:
        completed = False
        outcome = "ended"
        observer = metrics.stream(_protocol(encoder)) if metrics is not None else None
        if metrics is not None and after > 0:
            metrics.resumes.inc()
        try:
            async for batch in runs.follow_batches(record.run_id, after, heartbeat_s=heartbeat_s):
                if batch is None:
                    yield encoder.heartbeat()
                    continue
                chunks: list[bytes] = []
                for event in batch:
                    if observer is not None:
                        observer.event(event.type)
                        if event.type == ev.DONE:
                            outcome = str(event.data.get("status", "complete"))
                        elif event.type in ev.PAUSE_TYPES:
                            outcome = "interrupted"
                    chunks.append(encoder.encode(event))
                chunk = b"".join(chunks)  # what arrived together leaves together: one send
                if chunk:
                    yield chunk
            completed = True
            tail = encoder.end()
            if tail:
                yield tail
        finally:
            if observer is not None:  # streams by outcome (bff/observability/metrics.py)
                observer.finish(outcome if completed else "disconnected")
            if not completed and on_disconnect == ON_DISCONNECT_CANCEL:
                runs.cancel_soon(record.run_id)

    headers = {**STREAM_HEADERS, **run_headers(record), **encoder.headers()}
    return StreamingResponse(body(), media_type=encoder.media_type, headers=headers)
