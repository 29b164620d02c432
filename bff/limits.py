"""Request rate limits and caps on concurrent runs, checked before any stream opens.

    rate       BFF_RATE_LIMIT_PER_MINUTE requests per principal, a moving window of one minute
               (`limits.aio.strategies.MovingWindowRateLimiter`), so the limit trips exactly at
               the N+1st request of any 60 s span and `Retry-After` says when the oldest expires.
    runs       BFF_MAX_CONCURRENT_RUNS_PER_PRINCIPAL runs at once per principal: a counter in the
               same storage, so with Redis it holds across BFF processes.
    process    BFF_MAX_CONCURRENT_RUNS runs at once in this process: a plain counter.

Storage is the `limits` library's: in memory by default, Redis when BFF_REDIS_URL is set
(`async+redis://...` with the redis-py implementation, under the key prefix `bff-limits`).
A limit set to 0 is off. Every refusal is `RateLimited` (429 with `Retry-After`).

A run slot (`RunSlot`) is taken when a run is accepted and released when the run ends, not when
the HTTP response ends: runs go on after a client disconnects. The per-principal counter expires
after BFF_RUN_TTL_S as a safety net, so a process that dies holding slots cannot lock a principal
out for longer than that (the price: a principal whose runs overlap for longer than the TTL may
briefly get more than the cap).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Annotated, Final

from fastapi import Depends
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection
from starlette.status import WS_1008_POLICY_VIOLATION as WS_POLICY_VIOLATION

from bff.auth import Principal, authenticate_connection
from bff.exceptions import BFFError, RateLimited
from bff.settings import Settings

KEY_PREFIX: Final = "bff-limits"
RUN_CAP_RETRY_AFTER_S: Final = 5  # nobody knows when a run ends; a short, honest hint


class LimitsUnavailable(BFFError):
    status = 503
    code = "limits_unavailable"
    retryable = True


def limits_storage(redis_url: str | None, *, key_prefix: str = KEY_PREFIX) -> Storage:
    """Memory storage, or Redis storage (redis-py) for a `redis://` / `rediss://` URL."""
    if not redis_url:
        return MemoryStorage()
    uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
    storage = storage_from_string(uri, implementation="redispy", key_prefix=key_prefix)
    assert isinstance(storage, Storage)
    return storage


class RunSlot:
    """One accepted run's hold on the concurrency caps; `release()` is idempotent."""

    def __init__(self, limiter: Limiter, principal_id: str, *, counted: bool) -> None:
        self._limiter = limiter
        self._principal_id = principal_id
        self._counted = counted  # holds a per-principal count in storage
        self.released = False

    async def release(self) -> None:
        if self.released:
            return
        self.released = True
        await self._limiter._release(self._principal_id, counted=self._counted)


class Limiter:
    def __init__(
        self,
        *,
        storage: Storage | Callable[[], Storage],
        rate_per_minute: int,
        max_runs_per_principal: int,
        max_runs: int,
        run_ttl_s: int = 3600,
    ) -> None:
        # A factory is called on first use, inside the event loop (MemoryStorage starts a task).
        self._storage = storage if isinstance(storage, Storage) else None
        self._make_storage = None if isinstance(storage, Storage) else storage
        self._rate = RateLimitItemPerMinute(rate_per_minute) if rate_per_minute > 0 else None
        self._max_runs_per_principal = max_runs_per_principal
        self._max_runs = max_runs
        self._run_ttl_s = run_ttl_s
        self.active_runs = 0  # in this process

    @classmethod
    def from_settings(cls, settings: Settings, *, storage: Storage | None = None) -> Limiter:
        return cls(
            storage=storage if storage is not None else partial(limits_storage, settings.redis_url),
            rate_per_minute=settings.rate_limit_per_minute,
            max_runs_per_principal=settings.max_concurrent_runs_per_principal,
            max_runs=settings.max_concurrent_runs,
            run_ttl_s=settings.run_ttl_s,
        )

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            assert self._make_storage is not None
            self._storage = self._make_storage()
        return self._storage

    async def hit(self, principal_id: str) -> None:
        """Count one request of `principal_id`; `RateLimited` once over the per-minute limit."""
        if self._rate is None:
            return
        try:
            strategy = MovingWindowRateLimiter(self.storage)
            if await strategy.hit(self._rate, "rate", principal_id):
                return
            stats = await strategy.get_window_stats(self._rate, "rate", principal_id)
        except Exception as exc:
            raise self._unavailable(exc) from exc
        retry_after = math.ceil(max(0.0, stats.reset_time - time.time()))
        raise RateLimited(
            f"Too many requests: at most {self._rate.amount} a minute.", retry_after=retry_after
        )

    async def acquire_run(self, principal_id: str) -> RunSlot:
        """Hold a run slot for `principal_id`, or `RateLimited` when a cap is reached."""
        if self._max_runs > 0 and self.active_runs >= self._max_runs:
            raise RateLimited(
                "The service is busy: too many runs in progress. Try again shortly.",
                retry_after=RUN_CAP_RETRY_AFTER_S,
                code="server_busy",
            )
        self.active_runs += 1
        counted = self._max_runs_per_principal > 0
        if counted:
            try:
                count = await self.storage.incr(self._run_key(principal_id), self._run_ttl_s)
                if count > self._max_runs_per_principal:
                    await self.storage.incr(self._run_key(principal_id), self._run_ttl_s, amount=-1)
                    raise RateLimited(
                        f"Too many runs in progress: at most {self._max_runs_per_principal} at once.",
                        retry_after=RUN_CAP_RETRY_AFTER_S,
                        code="too_many_runs",
                    )
            except RateLimited:
                self.active_runs -= 1
                raise
            except Exception as exc:
                self.active_runs -= 1
                raise self._unavailable(exc) from exc
        return RunSlot(self, principal_id, counted=counted)

    async def aclose(self) -> None:
        """Stop the memory storage's expiry task or close the Redis connections."""
        if self._storage is None:
            return
        timer = getattr(self.storage, "timer", None)
        if timer is not None and not timer.done():
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()

    async def runs_of(self, principal_id: str) -> int:
        return await self.storage.get(self._run_key(principal_id))

    async def _release(self, principal_id: str, *, counted: bool) -> None:
        self.active_runs = max(0, self.active_runs - 1)
        if not counted:
            return
        key = self._run_key(principal_id)
        try:
            if await self.storage.incr(key, self._run_ttl_s, amount=-1) < 0:
                await self.storage.clear(key)  # the safety TTL expired while runs were active
        except Exception:
            pass  # the TTL cleans up; a release must never fail a run that already finished

    @staticmethod
    def _run_key(principal_id: str) -> str:
        return f"runs/{principal_id}"

    @staticmethod
    def _unavailable(exc: Exception) -> LimitsUnavailable:
        return LimitsUnavailable(f"Rate limiting is unavailable ({type(exc).__name__}); try again shortly.")


def get_limiter(conn: HTTPConnection) -> Limiter | None:
    limiter = getattr(conn.app.state, "limiter", None)
    return limiter if isinstance(limiter, Limiter) else None


async def admit(conn: HTTPConnection) -> Principal:
    """Authenticate the caller, then count the request against its rate: 401 / 429 first thing.

    On a WebSocket the refusal is a close before the handshake completes (code 1008, the error
    code as reason), since there is no HTTP response to carry a JSON body."""
    try:
        principal = await authenticate_connection(conn)
        limiter = get_limiter(conn)
        if limiter is not None:
            await limiter.hit(principal.id)
        return principal
    except BFFError as exc:
        metrics = getattr(conn.app.state, "metrics", None)
        if metrics is not None:
            metrics.rejected.labels(code=exc.code).inc()
        if conn.scope["type"] == "websocket":
            raise WebSocketException(code=WS_POLICY_VIOLATION, reason=exc.code) from exc
        raise


AdmittedPrincipal = Annotated[Principal, Depends(admit)]
