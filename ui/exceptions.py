"""Every error the UI raises on purpose; httpx errors are translated once, in `ui/client.py`.

UIError                 message: safe to show a user
├── ConfigError         a bad setting (BFF_URL)
└── BffError            talking to the BFF failed; `retryable` says whether Retry makes sense
    ├── BffUnavailable  the BFF cannot be reached or timed out
    └── BffHttpError    the BFF answered a JSON error body before the stream opened
"""

from __future__ import annotations


class UIError(Exception):
    code = "ui_error"
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(UIError):
    code = "config_error"


class BffError(UIError):
    code = "bff_error"
    retryable = True


class BffUnavailable(BffError):
    code = "bff_unavailable"


class BffHttpError(BffError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        # Bad input (4xx) will fail again as it is; upstream trouble (5xx) may not.
        self.retryable = status >= 500 or status in (408, 429)
