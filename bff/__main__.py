"""`python -m bff`: serve the BFF with uvicorn, one worker, on BFF_HOST:BFF_PORT."""

from __future__ import annotations

import uvicorn

from bff.app import create_app
from bff.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=1,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
