"""The load client's frame reader: exact under any chunking (sans-IO, no processes)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from bench.client import Reader, StreamResult


def frames(n: int) -> bytes:
    now = time.time()
    out = [b'data: {"type": "AGENT_START", "model": "synthetic"}\n\n']
    for i in range(n):
        delta = f"{now - 0.5 + i / 1000:.6f}".ljust(20, "x")
        out.append(f'data: {{"type": "TOKEN", "delta": "{delta}", "message_id": "m"}}\n\n'.encode())
    out.append(b'data: {"type": "AGENT_END", "output": ""}\n\n')
    return b"".join(out)


@given(st.integers(min_value=0, max_value=30), st.lists(st.integers(min_value=1, max_value=50), max_size=200))
def test_every_frame_and_stamp_is_counted_once_whatever_the_chunking(n: int, cuts: list[int]) -> None:
    body = frames(n)
    result = StreamResult()
    latencies: list[float] = []
    reader = Reader(time.perf_counter(), result, latencies)
    pos = 0
    for cut in cuts:
        reader.feed(body[pos : pos + cut])
        pos += cut
    reader.feed(body[pos:])
    assert result.frames == n + 2
    assert result.stamps == n == len(latencies)
    assert result.done
    assert result.bytes == len(body)
    assert all(300 < ms < 10_000 for ms in latencies)  # emitted ~0.5 s ago


def test_native_frames_count_the_bff_agent_start_as_the_first_upstream_event() -> None:
    result = StreamResult()
    reader = Reader(time.perf_counter(), result, None)
    reader.feed(b'id: 1\nevent: start\ndata: {"type":"start"}\n\n')
    assert result.frames == 1 and result.first_upstream_ms < 0
    reader.feed(
        b'id: 2\nevent: agent_start\ndata: {"type":"agent_start"}\n\nid: 3\nevent: done\ndata: {}\n\n'
    )
    assert result.first_upstream_ms >= 0 and result.done and result.frames == 3
