"""`python -m agent_runtime`: serve the agent on AGENT_HOST:AGENT_PORT (default 127.0.0.1:8080)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from agent_runtime import tracing
from agent_runtime.app import create_app
from agent_runtime.exceptions import ConfigurationError
from agent_runtime.settings import Settings


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        print(f"agent_runtime: {exc.message}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("bedrock_agentcore").propagate = False  # the SDK logs JSON lines with its own handler
    try:
        tracing.setup_tracing()  # AGENT_OTEL_EXPORTER (off by default), agent_runtime/tracing.py
    except ConfigurationError as exc:
        print(f"agent_runtime: {exc.message}", file=sys.stderr)
        return 2
    app = create_app(settings)
    logging.getLogger("agent_runtime").info(
        "agent runtime listening on http://%s:%d (model %s, checkpointer %s)",
        settings.host,
        settings.port,
        settings.model_name,
        settings.checkpointer,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
