"""The AgentCore Runtime: its image asset, its settings and its execution role's exact grants."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match
from cdk_synth import Synthesized


def _resolved(value: object) -> str:
    """A template value (string or intrinsic) as text, to compare ARN shapes."""
    return json.dumps(value, sort_keys=True)


def test_the_runtime_image_is_an_arm64_asset_of_agent_runtime_dockerfile(synthesized: Synthesized) -> None:
    _, runtime = synthesized.one("AWS::BedrockAgentCore::Runtime")
    uri = _resolved(runtime["Properties"]["AgentRuntimeArtifact"]["ContainerConfiguration"]["ContainerUri"])
    images = synthesized.assets["dockerImages"]
    runtime_images = [
        h for h, image in images.items() if image["source"]["dockerFile"] == "agent_runtime/Dockerfile"
    ]
    assert len(runtime_images) == 1
    digest = runtime_images[0]
    assert f":{digest}" in uri, "the runtime runs the image built from the asset"
    assert images[digest]["source"]["platform"] == "linux/arm64"


def test_every_image_asset_is_staged_with_its_own_package_only(synthesized: Synthesized) -> None:
    for image in synthesized.assets["dockerImages"].values():
        source = image["source"]
        deployable = source["dockerFile"].split("/")[0]
        staged = synthesized.outdir / source["directory"]
        top = sorted(p.name for p in staged.iterdir())
        assert top == [".dockerignore", deployable], top
        assert (staged / deployable / "requirements.lock").is_file()
        assert not list(staged.rglob("__pycache__"))
        assert not list(staged.rglob("requirements-test.*"))


def test_the_runtime_is_configured_for_the_model_and_sessions(default: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::BedrockAgentCore::Runtime",
        {
            "AgentRuntimeName": "AgentCoreBff_agent",
            "ProtocolConfiguration": "HTTP",
            "NetworkConfiguration": {"NetworkMode": "PUBLIC"},
            "EnvironmentVariables": {
                "AGENT_MODEL_ID": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AGENT_CHECKPOINTER": "memory",
            },
            "LifecycleConfiguration": {"IdleRuntimeSessionTimeout": 900, "MaxLifetime": 28800},
        },
    )
    default.template.resource_count_is("AWS::BedrockAgentCore::Memory", 0)


def test_agentcore_memory_is_deployed_and_wired_when_chosen(variant: Synthesized) -> None:
    memory_id, memory = variant.one("AWS::BedrockAgentCore::Memory")
    assert memory["Properties"]["EventExpiryDuration"] == 30
    variant.template.has_resource_properties(
        "AWS::BedrockAgentCore::Runtime",
        {
            "EnvironmentVariables": {
                "AGENT_CHECKPOINTER": "agentcore-memory",
                "AGENT_MEMORY_ID": {"Fn::GetAtt": [memory_id, "MemoryId"]},
                "AWS_REGION": "eu-west-1",
            }
        },
    )
    statements = _execution_statements(variant)
    memory_grants = [s for s in statements if s.get("Sid") == "CheckpointerMemoryEvents"]
    assert len(memory_grants) == 1
    assert sorted(memory_grants[0]["Action"]) == [
        "bedrock-agentcore:CreateEvent",
        "bedrock-agentcore:DeleteEvent",
        "bedrock-agentcore:GetEvent",
        "bedrock-agentcore:ListEvents",
    ]
    assert memory_grants[0]["Resource"] == {"Fn::GetAtt": [memory_id, "MemoryArn"]}


def test_the_execution_role_is_assumable_by_agentcore_of_this_account_only(synthesized: Synthesized) -> None:
    role = _execution_role(synthesized)
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "bedrock-agentcore.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert ":runtime/" in _resolved(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert "ManagedPolicyArns" not in role["Properties"]


def test_bedrock_is_granted_on_the_configured_inference_profile_only(default: Synthesized) -> None:
    bedrock = [s for s in _execution_statements(default) if _actions(s) & {"bedrock:InvokeModel"}]
    assert len(bedrock) == 2
    for statement in bedrock:
        assert _actions(statement) == {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    profile, model = sorted(bedrock, key=lambda s: "Condition" in s)
    assert _resolved(profile["Resource"]).endswith(
        ':inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0"]]}'
    )
    assert ":bedrock:us-east-1:" in _resolved(profile["Resource"])
    assert ":bedrock:*::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0" in _resolved(
        model["Resource"]
    )
    # the foundation model in other regions only through that profile
    assert model["Condition"]["StringLike"]["bedrock:InferenceProfileArn"] == profile["Resource"]


def test_bedrock_is_granted_on_the_configured_foundation_model_only(variant: Synthesized) -> None:
    bedrock = [s for s in _execution_statements(variant) if _actions(s) & {"bedrock:InvokeModel"}]
    assert len(bedrock) == 1
    resource = _resolved(bedrock[0]["Resource"])
    assert ":bedrock:eu-west-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0" in resource
    assert "*" not in resource


def test_the_role_pulls_only_the_asset_repository_and_writes_only_runtime_logs(
    synthesized: Synthesized,
) -> None:
    statements = _execution_statements(synthesized)
    pulls = [s for s in statements if "ecr:BatchGetImage" in _actions(s)]
    assert len(pulls) == 1 and ":repository/" in _resolved(pulls[0]["Resource"])
    writes = [s for s in statements if "logs:PutLogEvents" in _actions(s)]
    assert len(writes) == 1
    assert "/aws/bedrock-agentcore/runtimes/" in _resolved(writes[0]["Resource"])


def test_traces_are_delivered_when_tracing_is_on(default: Synthesized) -> None:
    default.template.resource_count_is("AWS::Logs::Delivery", 1)
    default.template.has_resource_properties(
        "AWS::Logs::DeliverySource", {"LogType": "TRACES", "ResourceArn": Match.any_value()}
    )


def _execution_role(synth: Synthesized) -> dict:
    _, runtime = synth.one("AWS::BedrockAgentCore::Runtime")
    role_id = runtime["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return synth.raw["Resources"][role_id]


def _execution_statements(synth: Synthesized) -> list[dict]:
    _, runtime = synth.one("AWS::BedrockAgentCore::Runtime")
    role_id = runtime["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)
