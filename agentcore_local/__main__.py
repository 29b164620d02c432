"""`python -m agentcore_local`: serve the local AgentCore data plane (AGENTCORE_LOCAL_PORT, 8090)."""

from __future__ import annotations

import logging

import uvicorn

from agentcore_local.app import create_app
from agentcore_local.settings import LocalSettings


def main() -> None:
    settings = LocalSettings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger(__name__).info(
        "local AgentCore endpoint on http://%s:%d -> runtime %s",
        settings.host,
        settings.port,
        settings.runtime_url,
    )
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
