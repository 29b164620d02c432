"""The one settings object of the runtime, read once from the environment at start-up.

Every variable starts with `AGENT_` except the AWS ones the SDKs read themselves (`AWS_REGION`).
A bad value fails fast with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent_runtime.exceptions import ConfigurationError

CheckpointerKind = Literal["memory", "postgres", "agentcore-memory"]
CHECKPOINTERS: tuple[CheckpointerKind, ...] = ("memory", "postgres", "agentcore-memory")


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Model: Bedrock Converse when model_id is set, otherwise the offline rules model.
    model_id: str | None = None
    bedrock_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    offline_token_delay_s: float = 0.02
    # Streaming.
    heartbeat_interval_s: float = 10.0
    # Tools.
    dataset_steps: int = 6
    dataset_step_s: float = 0.8
    dataset_rows: int = 500
    workspace_dir: Path = Path("workspace")
    # Conversation state.
    checkpointer: CheckpointerKind = "memory"
    postgres_url: str | None = None
    memory_id: str | None = None
    memory_endpoint_url: str | None = None
    actor_id: str = "agent-runtime"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def text(name: str, default: str | None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        def number(name: str, default: float, *, minimum: float = 0.0) -> float:
            raw = text(name, None)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
            if value < minimum:
                raise ConfigurationError(f"{name} must be at least {minimum}, got {raw!r}")
            return value

        checkpointer = text("AGENT_CHECKPOINTER", "memory")
        if checkpointer not in CHECKPOINTERS:
            raise ConfigurationError(
                f"AGENT_CHECKPOINTER must be one of {', '.join(CHECKPOINTERS)}, got {checkpointer!r}"
            )
        settings = cls(
            host=text("AGENT_HOST", None) or _default_host(),
            port=int(number("AGENT_PORT", 8080, minimum=0)),
            model_id=text("AGENT_MODEL_ID", None),
            bedrock_endpoint_url=text("AGENT_BEDROCK_ENDPOINT_URL", None),
            aws_region=text("AWS_REGION", None) or text("AWS_DEFAULT_REGION", "us-east-1") or "us-east-1",
            offline_token_delay_s=number("AGENT_OFFLINE_TOKEN_DELAY_S", 0.02),
            heartbeat_interval_s=number("AGENT_HEARTBEAT_INTERVAL_S", 10.0, minimum=0.05),
            dataset_steps=int(number("AGENT_DATASET_STEPS", 6, minimum=5)),
            dataset_step_s=number("AGENT_DATASET_STEP_S", 0.8),
            dataset_rows=int(number("AGENT_DATASET_ROWS", 500, minimum=10)),
            workspace_dir=Path(text("AGENT_WORKSPACE_DIR", "workspace") or "workspace"),
            checkpointer=checkpointer,
            postgres_url=text("AGENT_POSTGRES_URL", None),
            memory_id=text("AGENT_MEMORY_ID", None),
            memory_endpoint_url=text("AGENT_MEMORY_ENDPOINT_URL", None),
            actor_id=text("AGENT_ACTOR_ID", "agent-runtime") or "agent-runtime",
            log_level=(text("AGENT_LOG_LEVEL", "INFO") or "INFO").upper(),
        )
        if settings.checkpointer == "postgres" and not settings.postgres_url:
            raise ConfigurationError("AGENT_CHECKPOINTER=postgres needs AGENT_POSTGRES_URL")
        if settings.checkpointer == "agentcore-memory" and not settings.memory_id:
            raise ConfigurationError("AGENT_CHECKPOINTER=agentcore-memory needs AGENT_MEMORY_ID")
        return settings

    @property
    def model_name(self) -> str:
        return self.model_id or "offline-rules"


def _default_host() -> str:
    """127.0.0.1 on a workstation, 0.0.0.0 in a container (as `BedrockAgentCoreApp.run` decides)."""
    if os.path.exists("/.dockerenv") or os.environ.get("DOCKER_CONTAINER"):
        return "0.0.0.0"
    return "127.0.0.1"
