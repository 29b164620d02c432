"""Token coalescing (bff/coalesce.py): what merges, what flushes when, and the pipeline's timer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff import events as ev
from bff.coalesce import TICK, CoalescingMapper, DeltaBuffer, coalescing_mapper_factory, paced
from bff.normalize import RuntimeEventMapper
from bff.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tok(delta: str, message_id: str = "m1") -> tuple[str, dict[str, Any]]:
    return (ev.TOKEN, {"delta": delta, "message_id": message_id})


def deltas(pairs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [p["delta"] for kind, p in pairs if kind == ev.TOKEN]


def test_deltas_are_held_until_max_chars_then_released_merged() -> None:
    buf = DeltaBuffer(max_chars=10, max_ms=1000, clock=FakeClock())
    assert buf.feed([tok("abc")]) == []
    assert buf.feed([tok("def")]) == []
    out = buf.feed([tok("ghij")])
    assert out == [tok("abcdefghij")]
    assert len(buf) == 0 and buf.deadline() is None


def test_max_chars_is_a_threshold_and_deltas_are_never_split() -> None:
    buf = DeltaBuffer(max_chars=4, max_ms=1000, clock=FakeClock())
    assert buf.feed([tok("ab")]) == []
    assert buf.feed([tok("cdefgh")]) == [tok("abcdefgh")]


def test_a_non_token_event_releases_held_text_first_and_keeps_the_order() -> None:
    buf = DeltaBuffer(max_chars=100, max_ms=1000, clock=FakeClock())
    buf.feed([tok("Hel"), tok("lo")])
    done = (ev.DONE, {"status": "complete"})
    assert buf.feed([(ev.NODE_END, {"node": "agent"}), done]) == [
        tok("Hello"),
        (ev.NODE_END, {"node": "agent"}),
        done,
    ]


def test_a_new_message_id_releases_the_previous_message() -> None:
    buf = DeltaBuffer(max_chars=100, max_ms=1000, clock=FakeClock())
    assert buf.feed([tok("a", "m1"), tok("b", "m1"), tok("c", "m2")]) == [tok("ab", "m1")]
    assert buf.flush() == [tok("c", "m2")]


def test_the_deadline_is_max_ms_after_the_first_held_delta() -> None:
    clock = FakeClock()
    buf = DeltaBuffer(max_chars=100, max_ms=50, clock=clock)
    assert buf.deadline() is None
    buf.feed([tok("a")])
    assert buf.deadline() == pytest.approx(100.05)
    clock.now += 0.03
    buf.feed([tok("b")])
    assert buf.deadline() == pytest.approx(100.05)  # not pushed back by later deltas
    assert buf.flush_due() == []
    clock.now += 0.02
    assert buf.flush_due() == [tok("ab")]
    assert buf.deadline() is None


def test_a_delta_arriving_after_the_deadline_goes_out_with_the_held_text() -> None:
    clock = FakeClock()
    buf = DeltaBuffer(max_chars=100, max_ms=50, clock=clock)
    buf.feed([tok("a")])
    clock.now += 0.2
    assert buf.feed([tok("b")]) == [tok("ab")]


def test_max_ms_zero_releases_every_delta_at_once() -> None:
    buf = DeltaBuffer(max_chars=100, max_ms=0, clock=FakeClock())
    assert buf.feed([tok("a"), tok("b")]) == [tok("a"), tok("b")]


def test_other_payload_fields_of_the_first_delta_are_kept() -> None:
    buf = DeltaBuffer(max_chars=100, max_ms=1000, clock=FakeClock())
    buf.feed([(ev.TOKEN, {"delta": "x", "message_id": "m1", "extra": 1})])
    assert buf.flush() == [(ev.TOKEN, {"delta": "x", "message_id": "m1", "extra": 1})]


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        DeltaBuffer(max_chars=0, max_ms=10)
    with pytest.raises(ValueError):
        DeltaBuffer(max_chars=1, max_ms=-1)


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("t"), st.text(max_size=8), st.sampled_from(["m1", "m2"])),
            st.tuples(st.just("e"), st.sampled_from([ev.NODE_START, ev.TOOL_START]), st.just("")),
            st.tuples(st.just("w"), st.floats(min_value=0, max_value=0.2), st.just("")),
        ),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=30),
    st.floats(min_value=0, max_value=100),
)
def test_coalescing_never_loses_reorders_or_invents_text(
    steps: list[Any], max_chars: int, max_ms: float
) -> None:
    clock = FakeClock()
    buf = DeltaBuffer(max_chars=max_chars, max_ms=max_ms, clock=clock)
    fed: list[tuple[str, dict[str, Any]]] = []
    out: list[tuple[str, dict[str, Any]]] = []
    for step, value, message_id in steps:
        if step == "w":
            clock.now += value
            out += buf.flush_due()
            continue
        pair = tok(value, message_id) if step == "t" else (value, {"node": "agent"})
        fed.append(pair)
        out += buf.feed([pair])
    out += buf.flush()

    def runs(pairs: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
        """Consecutive same-message text merged, other events as they are: what a reader sees."""
        merged: list[tuple[str, str]] = []
        for kind, p in pairs:
            key = f"token:{p['message_id']}" if kind == ev.TOKEN else kind
            if kind == ev.TOKEN and merged and merged[-1][0] == key:
                merged[-1] = (key, merged[-1][1] + p["delta"])
            else:
                merged.append((key, p["delta"] if kind == ev.TOKEN else ""))
        return merged

    assert runs(out) == runs(fed)
    assert len(out) <= len(fed)
    for kind, p in out:  # every released token but a final flush reached a limit or a boundary
        assert kind != ev.TOKEN or p["delta"] is not None


def test_the_coalescing_mapper_wraps_the_real_normaliser() -> None:
    clock = FakeClock()
    mapper = CoalescingMapper(RuntimeEventMapper(), DeltaBuffer(max_chars=100, max_ms=50, clock=clock))
    assert mapper.feed({"type": "AGENT_START", "model": "m", "input": "hi"})[0][0] == ev.AGENT_START
    assert mapper.feed({"type": "TOKEN", "delta": "Hel", "message_id": "m1"}) == []
    assert mapper.feed({"type": "TOKEN", "delta": "lo", "message_id": "m1"}) == []
    assert mapper.deadline() == pytest.approx(100.05)
    assert mapper.feed(TICK) == []  # not due yet
    clock.now += 0.05
    assert mapper.feed(TICK) == [tok("Hello")]
    mapper.feed({"type": "TOKEN", "delta": "!", "message_id": "m1"})
    out = mapper.finish()  # the stream ended without AGENT_END: held text, then error + done
    assert [kind for kind, _ in out] == [ev.TOKEN, ev.ERROR, ev.DONE]
    assert mapper.terminated == "error"  # attributes of the wrapped mapper show through


def test_the_factory_is_the_plain_mapper_when_coalescing_is_off() -> None:
    assert coalescing_mapper_factory(Settings(), RuntimeEventMapper) is RuntimeEventMapper
    on = Settings(coalesce_tokens=True, coalesce_max_chars=7, coalesce_max_ms=5)
    mapper = coalescing_mapper_factory(on, RuntimeEventMapper)()
    assert isinstance(mapper, CoalescingMapper)
    assert mapper.buffer.max_chars == 7 and mapper.buffer.max_s == pytest.approx(0.005)


def test_coalescing_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BFF_COALESCE_TOKENS", "true")
    monkeypatch.setenv("BFF_COALESCE_MAX_CHARS", "64")
    monkeypatch.setenv("BFF_COALESCE_MAX_MS", "20")
    settings = Settings()
    assert (settings.coalesce_tokens, settings.coalesce_max_chars, settings.coalesce_max_ms) == (
        True,
        64,
        20.0,
    )
    assert Settings.model_fields["coalesce_tokens"].default is False


# --- paced(): the timer hook the run pipeline iterates -----------------------------------------


async def gated(items: list[Any], gates: list[asyncio.Event]) -> AsyncIterator[Any]:
    """Yields items[i] once gates[i] is set: an upstream that goes idle when the test says."""
    for item, gate in zip(items, gates, strict=True):
        await gate.wait()
        yield item


async def test_paced_is_the_source_itself_when_the_mapper_has_no_deadline() -> None:
    source = gated([], [])
    assert paced(source, RuntimeEventMapper()) is source


async def test_an_idle_upstream_still_gets_held_text_out_by_the_deadline() -> None:
    mapper = CoalescingMapper(RuntimeEventMapper(), DeltaBuffer(max_chars=1000, max_ms=20))
    gates = [asyncio.Event() for _ in range(3)]
    upstream = [
        {"type": "TOKEN", "delta": "Hel", "message_id": "m1"},
        {"type": "TOKEN", "delta": "lo", "message_id": "m1"},
        {"type": "AGENT_END", "output": "Hello", "status": "complete"},
    ]
    gates[0].set()
    gates[1].set()  # two deltas, then the upstream goes silent: only the timer can release them
    received: list[Any] = []
    async for raw in paced(gated(upstream, gates), mapper):
        pairs = mapper.feed(raw)
        received.append((raw is TICK, pairs))
        if pairs and pairs[0][0] == ev.TOKEN and not gates[2].is_set():
            gates[2].set()  # the held text came out while the upstream was idle: let it finish
    received.append((False, mapper.finish()))
    flushed_by_tick = [pairs for is_tick, pairs in received if is_tick and pairs]
    assert flushed_by_tick == [[tok("Hello")]]
    all_pairs = [p for _, pairs in received for p in pairs]
    assert [kind for kind, _ in all_pairs] == [ev.TOKEN, ev.DONE]


async def test_an_upstream_error_reaches_the_pipeline_and_no_task_is_left() -> None:
    class Boom(Exception):
        pass

    async def failing() -> AsyncIterator[Any]:
        yield {"type": "TOKEN", "delta": "a", "message_id": "m1"}
        raise Boom("upstream broke")

    mapper = CoalescingMapper(RuntimeEventMapper(), DeltaBuffer(max_chars=1000, max_ms=1000))
    before = asyncio.all_tasks()
    with pytest.raises(Boom):
        async for raw in paced(failing(), mapper):
            mapper.feed(raw)
    assert asyncio.all_tasks() == before
    assert mapper.buffer.flush() == [tok("a")]


async def test_closing_the_paced_iterator_cancels_its_reader() -> None:
    mapper = CoalescingMapper(RuntimeEventMapper(), DeltaBuffer(max_chars=1000, max_ms=1000))
    never = asyncio.Event()
    closed = asyncio.Event()

    async def stalled() -> AsyncIterator[Any]:
        try:
            yield {"type": "TOKEN", "delta": "a", "message_id": "m1"}
            await never.wait()
            yield {"type": "TOKEN", "delta": "b", "message_id": "m1"}
        finally:
            closed.set()

    before = asyncio.all_tasks()
    iterator = paced(stalled(), mapper)
    assert mapper.feed(await anext(iterator)) == []
    await iterator.aclose()  # type: ignore[attr-defined]
    assert closed.is_set()
    assert asyncio.all_tasks() == before
