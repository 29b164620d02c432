"""The UI's one settings object, read once per script run from the environment.

`BFF_URL` is where the BFF listens (the dev stack sets it; default the local `make run` port).
The rest tune how the page streams; the defaults are what docs/ui.md describes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ui.exceptions import ConfigError

DEFAULT_BFF_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class Settings:
    bff_url: str = DEFAULT_BFF_URL
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
        return cls(bff_url=url)
