"""The UI's one settings object, read once per script run from the environment.

`BFF_URL` is where the BFF listens (the dev stack sets it; default the local `make run` port).
Credentials for a BFF that requires them (docs/security.md), both secrets, never logged or shown:
`BFF_BEARER_TOKEN` (sent as `Authorization: Bearer <token>`) or `BFF_API_KEY` (sent as
`X-API-Key`; a deployment's shared UI key). `make run` needs neither: its BFF is in local-dev mode.
The rest tune how the page streams; the defaults are what docs/ui.md describes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ui.exceptions import ConfigError

DEFAULT_BFF_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class Settings:
    bff_url: str = DEFAULT_BFF_URL
    # Secrets: kept out of repr() so they never reach a log line or an error page.
    bff_bearer_token: str | None = field(default=None, repr=False)
    bff_api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    # Longest silence tolerated on an open stream: the BFF sends a heartbeat every 15 s.
    read_timeout_s: float = 60.0
    health_timeout_s: float = 1.0
    # Markdown of the answer is re-rendered at most this often while tokens stream in.
    render_interval_s: float = 0.05
    # While nothing arrives the page still wakes up this often (elapsed time, Stop button).
    tick_s: float = 0.25
    # A stream that drops before `done` is followed again from its last id this many times.
    reconnect_attempts: int = 3
    reconnect_backoff_s: float = 0.25  # doubled after each failed attempt, at most 2 s

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get("BFF_URL", DEFAULT_BFF_URL).strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"BFF_URL must be an http(s) URL, got {url!r}")
        return cls(
            bff_url=url,
            bff_bearer_token=_secret("BFF_BEARER_TOKEN"),
            bff_api_key=_secret("BFF_API_KEY"),
        )


def _secret(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None
