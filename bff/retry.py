"""Retrying upstream throttling with jittered backoff, before the first byte only.

`RetryPolicy.run(call)` awaits `call()` up to `attempts` times, sleeping a "full jitter" delay
(uniform in 0..min(max_delay, base * 2**n)) between tries, while the failure is retryable:

- `ThrottlingException` (429) and `RetryableConflictException` (409) from AgentCore: the request
  was refused, nothing ran;
- failures to connect (`EndpointConnectionError`, `ConnectTimeoutError`, a connection closed
  before any response, `ConnectionError`).

A read timeout is *not* retried: the runtime may be working on the request, and a second try
could run the agent twice. The policy wraps only `invoke_agent_runtime` until its response
headers arrive (`AgentCoreClient.stream().__aenter__`), never the reading of the body, so no
event is ever produced, and no token sent, twice. botocore's own retries are off
(`max_attempts=1`, see `BOTOCORE_RETRIES`) so that this policy is the only one.

Sans-IO apart from `sleep`, which tests replace.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import botocore.exceptions

T = TypeVar("T")

RETRYABLE_ERROR_CODES: Final = frozenset({"ThrottlingException", "RetryableConflictException"})
RETRYABLE_EXCEPTIONS: Final[tuple[type[BaseException], ...]] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    ConnectionError,
)
# For `botocore.config.Config(retries=...)`: no hidden retries under ours.
BOTOCORE_RETRIES: Final = {"max_attempts": 1, "mode": "standard"}


def error_class(exc: BaseException) -> str:
    """A short, safe label for an upstream failure (for metrics and logs): the AWS error code
    when there is one, else the exception's class name."""
    for link in _chain(exc):
        if isinstance(link, botocore.exceptions.ClientError):
            return str(link.response.get("Error", {}).get("Code") or type(link).__name__)
    return type(exc).__name__


def is_retryable(exc: BaseException) -> bool:
    """Whether the upstream refused or was unreachable before it could act on the request.

    Looks through `__cause__`, so it also works on errors already translated into
    `bff.exceptions` by `raise ... from exc`."""
    for link in _chain(exc):
        if isinstance(link, botocore.exceptions.ClientError):
            return link.response.get("Error", {}).get("Code") in RETRYABLE_ERROR_CODES
        if isinstance(link, botocore.exceptions.ReadTimeoutError):
            return False
        if isinstance(link, RETRYABLE_EXCEPTIONS):
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    links: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in links:
        links.append(current)
        current = current.__cause__
    return links


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  # tries in all, the first included
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0
    retryable: Callable[[BaseException], bool] = is_retryable
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry: int) -> float:
        """The pause before retry number `retry` (0-based): full jitter."""
        return self.rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**retry))

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        on_retry: Callable[[BaseException, int], None] | None = None,
    ) -> T:
        """`await call()`, retrying retryable failures; the last failure propagates unchanged."""
        attempts = max(1, self.attempts)
        for attempt in range(attempts):
            try:
                return await call()
            except Exception as exc:
                if attempt + 1 >= attempts or not self.retryable(exc):
                    raise
                if on_retry is not None:
                    on_retry(exc, attempt + 1)
                await self.sleep(self.delay(attempt))
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


NO_RETRY: Final = RetryPolicy(attempts=1)
