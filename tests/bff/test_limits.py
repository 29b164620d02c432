"""bff.limits on memory and on the real Redis (127.0.0.1:6379): thresholds trip exactly, every
refusal carries Retry-After, run slots come back when released."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from limits.aio.storage import Storage

from bff.exceptions import RateLimited
from bff.limits import Limiter, LimitsUnavailable, limits_storage
from bff.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"

MakeLimiter = Callable[..., Limiter]


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    made: list[Limiter] = []
    prefix = f"bff-test-{uuid.uuid4().hex}"

    def make(rate: int = 0, per_principal: int = 0, total: int = 0) -> Limiter:
        storage: Storage = limits_storage(REDIS_URL if request.param == "redis" else None, key_prefix=prefix)
        limiter = Limiter(
            storage=storage, rate_per_minute=rate, max_runs_per_principal=per_principal, max_runs=total
        )
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.storage.reset()
        await limiter.aclose()


async def test_rate_limit_trips_exactly_after_n_requests(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(rate=5)
    for _ in range(5):
        await limiter.hit("alice")
    with pytest.raises(RateLimited) as caught:
        await limiter.hit("alice")
    assert caught.value.status == 429
    assert caught.value.code == "rate_limited"
    retry_after = int(caught.value.headers()["Retry-After"])
    assert 1 <= retry_after <= 60


async def test_rate_limit_is_per_principal(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(rate=2)
    await limiter.hit("alice")
    await limiter.hit("alice")
    await limiter.hit("bob")
    await limiter.hit("bob")
    with pytest.raises(RateLimited):
        await limiter.hit("alice")
    with pytest.raises(RateLimited):
        await limiter.hit("bob")


async def test_rate_limit_is_shared_by_limiters_on_one_storage(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(rate=3)
    other = Limiter(storage=limiter.storage, rate_per_minute=3, max_runs_per_principal=0, max_runs=0)
    await limiter.hit("alice")
    await other.hit("alice")
    await limiter.hit("alice")
    with pytest.raises(RateLimited):
        await other.hit("alice")


async def test_zero_rate_means_no_limit(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(rate=0)
    for _ in range(200):
        await limiter.hit("alice")


async def test_principal_run_cap_trips_exactly_at_the_cap(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(per_principal=3)
    slots = [await limiter.acquire_run("alice") for _ in range(3)]
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire_run("alice")
    assert caught.value.code == "too_many_runs"
    assert int(caught.value.headers()["Retry-After"]) >= 1
    assert await limiter.runs_of("alice") == 3  # the refused attempt left no count behind
    bob = await limiter.acquire_run("bob")  # another principal is not affected
    await slots[0].release()
    again = await limiter.acquire_run("alice")  # a released slot is free again
    for slot in [*slots[1:], again, bob]:
        await slot.release()
    assert await limiter.runs_of("alice") == 0


async def test_release_is_idempotent(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(per_principal=1)
    slot = await limiter.acquire_run("alice")
    await slot.release()
    await slot.release()
    assert await limiter.runs_of("alice") == 0
    assert limiter.active_runs == 0
    other = await limiter.acquire_run("alice")
    with pytest.raises(RateLimited):
        await limiter.acquire_run("alice")
    await other.release()


async def test_process_run_cap_trips_exactly_at_the_cap(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(total=2)
    first = await limiter.acquire_run("alice")
    second = await limiter.acquire_run("bob")
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire_run("carol")
    assert caught.value.code == "server_busy"
    assert "Retry-After" in caught.value.headers()
    await first.release()
    third = await limiter.acquire_run("carol")
    assert limiter.active_runs == 2
    await second.release()
    await third.release()
    assert limiter.active_runs == 0


async def test_refusal_by_the_principal_cap_gives_back_the_process_slot(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(per_principal=1, total=5)
    slot = await limiter.acquire_run("alice")
    for _ in range(3):
        with pytest.raises(RateLimited):
            await limiter.acquire_run("alice")
    assert limiter.active_runs == 1
    await slot.release()


async def test_concurrent_acquires_never_exceed_the_cap(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(per_principal=4)
    results = await asyncio.gather(*(limiter.acquire_run("alice") for _ in range(20)), return_exceptions=True)
    granted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert (len(granted), len(refused)) == (4, 16)
    for slot in granted:
        await slot.release()


async def test_per_principal_run_count_is_shared_across_processes_through_the_storage(
    make_limiter: MakeLimiter,
) -> None:
    one = make_limiter(per_principal=2)
    two = Limiter(storage=one.storage, rate_per_minute=0, max_runs_per_principal=2, max_runs=0)
    a = await one.acquire_run("alice")
    b = await two.acquire_run("alice")
    with pytest.raises(RateLimited):
        await one.acquire_run("alice")
    await a.release()
    await b.release()


async def test_unreachable_redis_is_a_clear_503() -> None:
    limiter = Limiter(
        storage=limits_storage("redis://127.0.0.1:1/0"),
        rate_per_minute=5,
        max_runs_per_principal=1,
        max_runs=0,
    )
    try:
        with pytest.raises(LimitsUnavailable) as caught:
            await limiter.hit("alice")
        assert caught.value.status == 503
        assert "127.0.0.1" not in caught.value.message
        with pytest.raises(LimitsUnavailable):
            await limiter.acquire_run("alice")
        assert limiter.active_runs == 0
    finally:
        await limiter.aclose()


def test_from_settings_needs_no_event_loop() -> None:
    Limiter.from_settings(Settings())  # create_app may run before the loop does


async def test_from_settings_uses_redis_when_configured() -> None:
    on_redis = Limiter.from_settings(Settings(redis_url=REDIS_URL, rate_limit_per_minute=7))
    in_memory = Limiter.from_settings(Settings())
    assert type(on_redis.storage).__name__ == "RedisStorage"
    assert type(in_memory.storage).__name__ == "MemoryStorage"
    await on_redis.aclose()
    await in_memory.aclose()
