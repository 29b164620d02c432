"""DeployConfig: defaults that synthesize, context strings converted, bad values refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, DeployConfig, context_key


def from_mapping(values: dict[str, Any]) -> DeployConfig:
    return DeployConfig.from_context(values.get)


def test_the_defaults_are_valid_and_need_no_account() -> None:
    config = from_mapping({})
    assert config == DeployConfig()
    assert config.account is None
    assert config.alb_idle_timeout_s > config.heartbeat_interval_s


def test_context_keys_are_camel_case_field_names() -> None:
    assert context_key("bff_memory_mib") == "bffMemoryMib"
    assert context_key("model_id") == "modelId"
    assert context_key("region") == "region"


def test_strings_from_the_command_line_are_converted() -> None:
    config = from_mapping(
        {
            "bffDesiredCount": "3",
            "bffMaxCount": "8",
            "runtimeTracing": "false",
            "corsOrigins": "https://a.example, https://b.example",
            "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        }
    )
    assert config.bff_desired_count == 3
    assert config.runtime_tracing is False
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert config.https


def test_json_context_values_are_taken_as_they_are() -> None:
    config = from_mapping({"cacheNodes": 2, "runtimeTracing": True, "corsOrigins": ["https://a.example"]})
    assert config.cache_nodes == 2
    assert config.cors_origins == ("https://a.example",)


@pytest.mark.parametrize(
    ("model_id", "profile", "foundation"),
    [
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", True, "anthropic.claude-haiku-4-5-20251001-v1:0"),
        (
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            True,
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", False, "anthropic.claude-3-5-haiku-20241022-v1:0"),
        ("amazon.nova-lite-v1:0", False, "amazon.nova-lite-v1:0"),
    ],
)
def test_inference_profiles_are_told_from_foundation_models(
    model_id: str, profile: bool, foundation: str
) -> None:
    config = from_mapping({"modelId": model_id})
    assert config.uses_inference_profile is profile
    assert config.foundation_model_id == foundation


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"modelId": "*"}, "modelId"),
        ({"modelId": "anthropic.*"}, "modelId"),
        ({"region": "mars-1"}, "region"),
        ({"account": "12345"}, "account"),
        ({"checkpointer": "postgres"}, "checkpointer"),
        ({"albIdleTimeoutS": "20"}, "albIdleTimeoutS"),  # below twice the 15 s heartbeat
        ({"heartbeatIntervalS": "200"}, "albIdleTimeoutS"),
        ({"bffCpu": "300"}, "bffCpu"),
        ({"uiMemoryMib": "8192"}, "uiCpu/uiMemoryMib"),
        ({"bffDesiredCount": "7"}, "bffDesiredCount"),
        ({"cacheNodes": "0"}, "cacheNodes"),
        ({"cacheNodeType": "t4g.micro"}, "cacheNodeType"),
        ({"natGateways": "0"}, "natGateways"),
        ({"runtimeIdleTimeoutS": "30"}, "runtimeIdleTimeoutS"),
        ({"runtimeMaxLifetimeS": "30000"}, "runtimeMaxLifetimeS"),
        ({"drainSeconds": "7200"}, "drainSeconds"),
        ({"logRetentionDays": "10"}, "logRetentionDays"),
        ({"certificateArn": "my-cert"}, "certificateArn"),
        ({"bffDesiredCount": "two"}, "bffDesiredCount"),
        ({"runtimeTracing": "maybe"}, "runtimeTracing"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(context: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        from_mapping(context)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        from_mapping({"modelId": "*", "cacheNodes": "9"})
    assert "modelId" in str(raised.value) and "cacheNodes" in str(raised.value)
