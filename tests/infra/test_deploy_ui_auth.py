"""The UI's credentials for the BFF: an API key from a Secrets Manager secret named in CDK context
(`uiApiKeySecretName`), reaching the container through ECS `secrets`, never in the template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_synth import VARIANT_CONTEXT, Synthesized

from infra.config import ConfigError, DeployConfig


def task_definition(synth: Synthesized, name: str) -> dict[str, Any]:
    (found,) = [
        task
        for task in synth.resources("AWS::ECS::TaskDefinition").values()
        if task["Properties"]["ContainerDefinitions"][0]["Name"] == name
    ]
    return found


def container(synth: Synthesized, name: str) -> dict[str, Any]:
    definition: dict[str, Any] = task_definition(synth, name)["Properties"]["ContainerDefinitions"][0]
    return definition


def secret_reads(synth: Synthesized, name: str) -> list[str]:
    """The resources the task's execution role may GetSecretValue on, as JSON text."""
    role = task_definition(synth, name)["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    return [
        json.dumps(statement["Resource"])
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in json.dumps(statement["Action"])
    ]


def test_the_ui_gets_its_api_key_from_the_named_secret(variant: Synthesized) -> None:
    ui = container(variant, "ui")
    (secret,) = ui["Secrets"]
    assert secret["Name"] == "BFF_API_KEY"
    assert ":secretsmanager:eu-west-1:123456789012:secret:agentcore-bff/ui-api-key" in json.dumps(
        secret["ValueFrom"]
    )
    assert "BFF_API_KEY" not in {e["Name"] for e in ui["Environment"]}
    assert "BFF_BEARER_TOKEN" not in json.dumps(variant.raw)  # per-user tokens are pasted, never deployed


def test_each_execution_role_reads_only_its_own_secret(variant: Synthesized) -> None:
    (ui_read,) = secret_reads(variant, "ui")
    assert ":secret:agentcore-bff/ui-api-key-??????" in ui_read and "api-keys" not in ui_read
    assert not any("ui-api-key" in read for read in secret_reads(variant, "bff"))


def test_without_the_secret_the_ui_has_no_credentials(default: Synthesized) -> None:
    assert "Secrets" not in container(default, "ui")
    assert secret_reads(default, "ui") == []


def test_the_context_key_is_read() -> None:
    config = DeployConfig.from_context({"uiApiKeySecretName": "team/ui-key"}.get)
    assert config.ui_api_key_secret_name == "team/ui-key"
    assert DeployConfig.from_context({}.get).ui_api_key_secret_name is None
    assert VARIANT_CONTEXT["uiApiKeySecretName"] == "agentcore-bff/ui-api-key"
    with pytest.raises(ConfigError):  # the rest of the configuration is still validated
        DeployConfig.from_context({"uiApiKeySecretName": "x", "uiCpu": "3"}.get)
