"""`python -m bff`: serve the BFF with uvicorn, one worker, on BFF_HOST:BFF_PORT."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from bff.app import create_app
from bff.auth import AuthConfigError
from bff.observability.logs import configure_logging
from bff.observability.tracing import TracingConfigError
from bff.security import SecurityConfigError
from bff.settings import get_settings


def main() -> None:
    try:
        settings = get_settings()
    except ValidationError as exc:  # a malformed BFF_* variable: say which, without a traceback
        problems = "; ".join(
            f"BFF_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        print(f"bff: refusing to start: invalid settings: {problems}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level, log_content=settings.log_content)  # JSON lines on stdout
    try:
        app = create_app(settings)
    except (AuthConfigError, SecurityConfigError, TracingConfigError) as exc:
        print(f"bff: refusing to start: {exc}", file=sys.stderr)
        sys.exit(2)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's loggers go through the JSON handler configured above
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
