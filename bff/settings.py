"""The BFF's one settings object, read once at start-up from the environment (prefix `BFF_`).

Defaults are the local, offline stack that `make run` starts. Pointing at a real AgentCore
runtime means setting `BFF_AGENTCORE_ENDPOINT_URL=` (empty: the real regional endpoint),
`BFF_AGENT_RUNTIME_ARN` and `BFF_AWS_REGION`, with AWS credentials from the usual chain.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:000000000000:runtime/local_agent-0000000000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BFF_", extra="ignore", frozen=True)

    # --- where the runtime is -------------------------------------------------------------
    agentcore_endpoint_url: str | None = Field(
        default="http://127.0.0.1:8090",
        description="AgentCore data-plane endpoint. Empty or unset in production: the regional AWS endpoint.",
    )
    agent_runtime_arn: str = LOCAL_RUNTIME_ARN
    agent_runtime_qualifier: str | None = None
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("BFF_AWS_REGION", "AWS_REGION")
    )

    # --- upstream client (REFERENCE.md section 1: botocore defaults cut long silent streams) ---
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 900.0  # longest silence tolerated on the upstream socket
    first_byte_timeout_s: float = 30.0  # invoke_agent_runtime must answer (headers) within this
    event_timeout_s: float = 300.0  # longest gap between two upstream events before giving up
    max_pool_connections: int = 1000
    queue_max_events: int = 1000  # producer -> consumer queue bound (back-pressure)

    # --- input limits ---------------------------------------------------------------------
    max_message_chars: int = 16_000
    max_body_bytes: int = 256 * 1024

    # --- runs and their event log (docs/architecture.md) ----------------------------------
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("BFF_REDIS_URL", "REDIS_URL"))
    run_ttl_s: int = 3600
    memory_log_max_runs: int = 10_000
    heartbeat_interval_s: float = 15.0

    # --- token coalescing (bff/coalesce.py): merge consecutive token deltas; off by default ---
    coalesce_tokens: bool = False
    coalesce_max_chars: int = Field(default=50, ge=1)  # release held text at this many characters
    coalesce_max_ms: float = Field(default=50.0, ge=0)  # ... or this long after its first delta

    # --- human approval (docs/approvals.md) ------------------------------------------------
    approval_ttl_s: float = Field(default=900.0, gt=0)  # an unanswered approval then ends its run

    # --- identity (docs/security.md): anything but local-dev refuses to start without auth ---
    auth_mode: str = "jwt"  # jwt | local-dev (no auth: only `make run` and tests set it, explicitly)
    jwks_url: str | None = None  # Cognito-style RS256: https://cognito-idp.<region>.amazonaws.com/<pool>/...
    jwt_issuer: str | None = None
    jwt_audience: str | None = None  # comma-separated; Cognito access tokens are matched on client_id
    jwt_hs256_secret: SecretStr | None = None  # development only: a shared secret instead of a JWKS
    api_keys: str | None = None  # "name:sha256hex,..." or the path of a file with one per line
    cors_origins: str = ""  # comma-separated allowlist of browser origins; empty: no CORS

    # --- limits (docs/security.md); 0 switches a limit off --------------------------------
    rate_limit_per_minute: int = 300  # requests per principal
    max_concurrent_runs_per_principal: int = 16
    max_concurrent_runs: int = 256  # per BFF process

    # --- observability (docs/observability.md) ----------------------------------------------
    otel_exporter: str = "none"  # none | otlp | console
    log_content: bool = False  # log message content (debug only)

    # --- serving --------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
