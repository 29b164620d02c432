"""Every IAM policy in the synthesized templates, checked for least privilege.

No statement allows a wildcard action (`*` or `service:*`); a statement on every resource (`*`)
names only actions that have no resource-level permissions (ECR auth tokens, X-Ray, CloudWatch
metrics under a namespace condition); no managed policy is attached; the BFF's task role can only
invoke the runtime and stop its sessions; the UI's task role can do nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cdk_synth import Synthesized

# Actions that AWS does not scope to resources: the only ones allowed on Resource "*".
RESOURCELESS_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "cloudwatch:PutMetricData",
}


def statements(synth: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy statement in the template: identity policies, inline role policies, resource policies."""
    for name, resource in synth.raw["Resources"].items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents.append(props["PolicyDocument"])
        if resource["Type"] == "AWS::IAM::Role":
            documents.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        if resource["Type"] in {"AWS::XRay::ResourcePolicy", "AWS::Logs::ResourcePolicy"}:
            documents.append(_policy_text(props["PolicyDocument"]))
        for document in documents:
            for statement in document["Statement"]:
                yield name, statement


def _policy_text(document: Any) -> dict[str, Any]:
    """A resource policy given as a JSON string, possibly an Fn::Join: tokens become placeholders."""
    if isinstance(document, dict) and "Fn::Join" in document:
        document = "".join(p if isinstance(p, str) else "TOKEN" for p in document["Fn::Join"][1])
    return json.loads(document) if isinstance(document, str) else document


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_statement_allows_a_wildcard_action(synthesized: Synthesized) -> None:
    for name, statement in statements(synthesized):
        for action in as_list(statement.get("Action", [])):
            assert action != "*" and not action.endswith(":*"), f"{name}: {action}"
        assert "NotAction" not in statement, name
        assert "NotResource" not in statement, name


def test_only_resourceless_actions_are_allowed_on_every_resource(synthesized: Synthesized) -> None:
    checked = 0
    for name, statement in statements(synthesized):
        if statement["Effect"] == "Allow" and "*" in as_list(statement.get("Resource", [])):
            checked += 1
            actions = set(as_list(statement["Action"]))
            assert actions <= RESOURCELESS_ACTIONS, f"{name}: {sorted(actions - RESOURCELESS_ACTIONS)} on *"
            if "cloudwatch:PutMetricData" in actions:
                assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"] == "bedrock-agentcore"
    assert checked > 0  # the check saw the ECR token statements: it is not vacuous


def test_no_managed_policy_is_attached(synthesized: Synthesized) -> None:
    for name, role in synthesized.resources("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], name
    assert not synthesized.resources("AWS::IAM::ManagedPolicy")


def test_the_bff_can_only_invoke_the_runtime_and_stop_its_sessions(synthesized: Synthesized) -> None:
    runtime_id, _ = synthesized.one("AWS::BedrockAgentCore::Runtime")
    runtime_arn = {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]}
    task_role = _task_role(synthesized, "bff")
    grants = [s for s in _role_statements(synthesized, task_role)]
    assert grants == [
        {
            "Sid": "InvokeAndStopAgentRuntime",
            "Effect": "Allow",
            "Action": [
                "bedrock-agentcore:InvokeAgentRuntime",
                "bedrock-agentcore:InvokeAgentRuntimeForUser",
                "bedrock-agentcore:StopRuntimeSession",
            ],
            "Resource": [runtime_arn, {"Fn::Join": ["", [runtime_arn, "/runtime-endpoint/*"]]}],
        }
    ]


def test_the_ui_task_role_has_no_permissions(synthesized: Synthesized) -> None:
    assert _role_statements(synthesized, _task_role(synthesized, "ui")) == []


def test_the_bff_execution_role_reads_only_the_named_secret(variant: Synthesized) -> None:
    execution_role = _task_definition(variant, "bff")["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    reads = [
        s
        for s in _role_statements(variant, execution_role)
        if "secretsmanager:GetSecretValue" in as_list(s["Action"])
    ]
    assert len(reads) == 1
    resource = json.dumps(reads[0]["Resource"])
    assert ":secret:agentcore-bff/api-keys-??????" in resource
    variant.template.has_resource_properties(
        "AWS::IAM::Policy",
        Match.object_like({"PolicyDocument": {"Statement": Match.array_with([Match.object_like(reads[0])])}}),
    )


def _task_definition(synth: Synthesized, container: str) -> dict[str, Any]:
    (found,) = [
        task
        for task in synth.resources("AWS::ECS::TaskDefinition").values()
        if task["Properties"]["ContainerDefinitions"][0]["Name"] == container
    ]
    return found


def _task_role(synth: Synthesized, container: str) -> str:
    return _task_definition(synth, container)["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]


def _role_statements(synth: Synthesized, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_checks_catch_wildcard_grants() -> None:
    """The checks above fail on a template that grants too much (so their passing means something)."""

    def template_with(statement: dict[str, Any]) -> Synthesized:
        policy = {
            "Type": "AWS::IAM::Policy",
            "Properties": {"Roles": [], "PolicyDocument": {"Statement": [statement]}},
        }
        raw = {"Resources": {"TooMuch": policy}}
        return Synthesized(stack=None, template=None, raw=raw, template_path=None, assets={}, outdir=None)  # type: ignore[arg-type]

    with pytest.raises(AssertionError, match="s3:\\*"):
        test_no_statement_allows_a_wildcard_action(
            template_with({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:x"})
        )
    with pytest.raises(AssertionError, match="sqs:SendMessage"):
        test_only_resourceless_actions_are_allowed_on_every_resource(
            template_with({"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"})
        )
