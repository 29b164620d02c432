"""Settings of the local AgentCore endpoint, read once from the environment (`AGENTCORE_LOCAL_*`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bff.settings import LOCAL_RUNTIME_ARN


def _arns(raw: str | None) -> frozenset[str]:
    if not raw:
        return frozenset({LOCAL_RUNTIME_ARN})
    return frozenset(a.strip() for a in raw.split(",") if a.strip())


@dataclass(frozen=True, slots=True)
class LocalSettings:
    runtime_url: str = "http://127.0.0.1:8080"  # the runtime container (AGENTCORE_LOCAL_RUNTIME_URL)
    runtime_arns: frozenset[str] = field(default_factory=lambda: frozenset({LOCAL_RUNTIME_ARN}))
    host: str = "127.0.0.1"
    port: int = 8090
    connect_timeout_s: float = 5.0  # to the runtime; a refused or slow connect is a RuntimeClientError
    # Invocations per second the endpoint accepts before answering ThrottlingException (the real
    # quota is 25 per endpoint); 0 switches throttling off, the default for dev and benchmarks.
    max_invocations_per_s: int = 0
    known_sessions_max: int = 100_000  # sessions remembered for StopRuntimeSession (oldest forgotten)

    @classmethod
    def from_env(cls) -> LocalSettings:
        env = os.environ
        return cls(
            runtime_url=env.get("AGENTCORE_LOCAL_RUNTIME_URL", "http://127.0.0.1:8080").rstrip("/"),
            runtime_arns=_arns(env.get("AGENTCORE_LOCAL_RUNTIME_ARNS")),
            host=env.get("AGENTCORE_LOCAL_HOST", "127.0.0.1"),
            port=int(env.get("AGENTCORE_LOCAL_PORT", "8090")),
            connect_timeout_s=float(env.get("AGENTCORE_LOCAL_CONNECT_TIMEOUT_S", "5")),
            max_invocations_per_s=int(env.get("AGENTCORE_LOCAL_MAX_INVOCATIONS_PER_S", "0")),
        )
