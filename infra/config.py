"""What a deployment is configured with: one frozen object, read once from CDK context.

Every value has a default, so `make synth` needs nothing. Override any of them on the command line
(`cdk deploy -c modelId=eu.anthropic.claude-haiku-4-5-20251001-v1:0 -c bffDesiredCount=3`) or in
`infra/cdk.context.json`. Values given with `-c` arrive as strings; `from_context` converts and
validates them and fails with one clear message naming the key.

Sans-IO: nothing here touches AWS or the CDK, so the rules (model ARNs, timeouts that must exceed
the heartbeat) are unit-tested on their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Final

CHECKPOINTERS: Final = frozenset({"memory", "agentcore-memory"})
# Geography prefixes of Bedrock cross-region inference profiles (`us.anthropic...`, `global....`).
INFERENCE_PROFILE_PREFIXES: Final = frozenset({"us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"})
_MODEL_ID = re.compile(r"^[a-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]+)?(:[0-9a-z]+)?$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
LOG_RETENTION_DAYS: Final = (7, 14, 30, 90, 365)
_FARGATE_CPU: Final = (256, 512, 1024, 2048, 4096)


class ConfigError(ValueError):
    """A context value is missing, malformed or contradicts another one."""


@dataclass(frozen=True, slots=True)
class DeployConfig:
    """The whole deployment. Field names are the CDK context keys in camelCase (see `context_key`)."""

    stack_name: str = "AgentCoreBff"
    region: str = "us-east-1"
    account: str | None = None  # None: an environment-agnostic template (synth with no account)

    # --- the agent runtime (AgentCore) -------------------------------------------------------
    model_id: str = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    checkpointer: str = "memory"  # "agentcore-memory" also deploys an AgentCore Memory
    memory_expiry_days: int = 30
    runtime_idle_timeout_s: int = 900
    runtime_max_lifetime_s: int = 28_800
    runtime_tracing: bool = True

    # --- the BFF ---------------------------------------------------------------------------
    bff_cpu: int = 512
    bff_memory_mib: int = 1024
    bff_desired_count: int = 2
    bff_max_count: int = 6
    heartbeat_interval_s: int = 15
    alb_idle_timeout_s: int = 300  # must exceed the heartbeat interval (SSE streams are long-lived)
    drain_seconds: int = 300  # target deregistration delay: lets open streams finish or resume elsewhere
    cors_origins: tuple[str, ...] = ()
    api_keys_secret_name: str | None = None  # existing Secrets Manager secret: `name:sha256hex,...`

    # --- the UI ----------------------------------------------------------------------------
    ui_cpu: int = 256
    ui_memory_mib: int = 512
    ui_desired_count: int = 1
    # existing Secrets Manager secret holding the UI's own API key (plain); its hash must be one of
    # the BFF's API keys. Without it the UI has no credentials and users paste their own token.
    ui_api_key_secret_name: str | None = None

    # --- shared ----------------------------------------------------------------------------
    cache_node_type: str = "cache.t4g.micro"
    cache_nodes: int = 1  # 2 or more: a replica and automatic fail-over across zones
    max_azs: int = 2
    nat_gateways: int = 1
    certificate_arn: str | None = None  # ACM certificate: HTTPS listeners; none: HTTP (demo only)
    log_retention_days: int = 30

    @property
    def uses_inference_profile(self) -> bool:
        return self.model_id.split(".", 1)[0] in INFERENCE_PROFILE_PREFIXES

    @property
    def foundation_model_id(self) -> str:
        """The model behind an inference profile (`us.anthropic.x` -> `anthropic.x`), or the id itself."""
        return self.model_id.split(".", 1)[1] if self.uses_inference_profile else self.model_id

    @property
    def uses_memory(self) -> bool:
        return self.checkpointer == "agentcore-memory"

    @property
    def https(self) -> bool:
        return self.certificate_arn is not None

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> DeployConfig:
        """Read every field from `get(contextKey)` (e.g. `app.node.try_get_context`); None keeps the default."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = get(context_key(f.name))
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, cls.__dataclass_fields__[f.name].default)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        problems: list[str] = []
        if not _MODEL_ID.match(self.model_id):
            problems.append(f"modelId {self.model_id!r} is not a Bedrock model or inference profile id")
        if not _REGION.match(self.region):
            problems.append(f"region {self.region!r} is not an AWS region name")
        if self.account is not None and not re.fullmatch(r"[0-9]{12}", self.account):
            problems.append("account must be 12 digits")
        if self.checkpointer not in CHECKPOINTERS:
            problems.append(f"checkpointer must be one of {sorted(CHECKPOINTERS)}")
        if not 60 <= self.runtime_idle_timeout_s <= 28_800:
            problems.append("runtimeIdleTimeoutS must be within 60..28800")
        if not self.runtime_idle_timeout_s <= self.runtime_max_lifetime_s <= 28_800:
            problems.append("runtimeMaxLifetimeS must be within runtimeIdleTimeoutS..28800")
        if self.alb_idle_timeout_s < 2 * self.heartbeat_interval_s or self.alb_idle_timeout_s > 4000:
            problems.append("albIdleTimeoutS must be at least twice heartbeatIntervalS (and at most 4000)")
        if not 0 <= self.drain_seconds <= 3600:
            problems.append("drainSeconds must be within 0..3600")
        for name in ("bff", "ui"):
            cpu, mem = getattr(self, f"{name}_cpu"), getattr(self, f"{name}_memory_mib")
            if cpu not in _FARGATE_CPU or not 2 * cpu <= mem <= 8 * cpu:
                problems.append(f"{name}Cpu/{name}MemoryMib {cpu}/{mem} is not a Fargate size")
        if not 1 <= self.bff_desired_count <= self.bff_max_count:
            problems.append("bffDesiredCount must be within 1..bffMaxCount")
        if self.ui_desired_count < 1:
            problems.append("uiDesiredCount must be at least 1")
        if not 1 <= self.cache_nodes <= 6:
            problems.append("cacheNodes must be within 1..6")
        if not self.cache_node_type.startswith("cache."):
            problems.append("cacheNodeType must be an ElastiCache node type (cache.*)")
        if not 1 <= self.nat_gateways <= self.max_azs:
            problems.append("natGateways must be within 1..maxAzs (the tasks reach AWS APIs through it)")
        if self.certificate_arn is not None and not self.certificate_arn.startswith("arn:"):
            problems.append("certificateArn must be an ACM certificate ARN")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            problems.append(f"logRetentionDays must be one of {list(LOG_RETENTION_DAYS)}")
        if problems:
            raise ConfigError("invalid deployment configuration: " + "; ".join(problems))


def context_key(field_name: str) -> str:
    """`bff_memory_mib` -> `bffMemoryMib`."""
    head, *rest = field_name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _convert(name: str, raw: Any, default: Any) -> Any:
    key = context_key(name)
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in {"true", "1", "yes"}:
                return True
            if str(raw).lower() in {"false", "0", "no"}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, tuple):
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
    except (TypeError, ValueError):
        raise ConfigError(
            f"invalid deployment configuration: {key}={raw!r} is not a {type(default).__name__}"
        ) from None
    return str(raw)


__all__ = ["CHECKPOINTERS", "ConfigError", "DeployConfig", "context_key"]
