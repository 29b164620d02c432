"""Synthesizing the CDK app for the tests: the configurations and what a synthesis yields.

Synthesis runs the real aws-cdk-lib through jsii on Node.js, with no AWS account and no Docker
engine: image assets are only hashed and staged into the output directory.
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # as infra/app.py does

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import AgentCoreBffStack

# Everything that is not a default, so the optional paths are synthesized and checked too.
VARIANT_CONTEXT: dict[str, Any] = {
    "stackName": "AgentCoreBffProd",
    "account": "123456789012",
    "region": "eu-west-1",
    "modelId": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "checkpointer": "agentcore-memory",
    "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    "apiKeysSecretName": "agentcore-bff/api-keys",
    "uiApiKeySecretName": "agentcore-bff/ui-api-key",
    "corsOrigins": "https://chat.example.com,https://admin.example.com",
    "cacheNodes": "2",
    "bffDesiredCount": "3",
    "bffMaxCount": "9",
    "heartbeatIntervalS": "20",
    "albIdleTimeoutS": "600",
    # What `cdk synth` caches in cdk.context.json after looking the zones up with credentials.
    "availability-zones:account=123456789012:region=eu-west-1": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
}


@dataclass(frozen=True)
class Synthesized:
    stack: AgentCoreBffStack
    template: Template
    raw: dict[str, Any]  # the CloudFormation template as written to disk
    template_path: Path
    assets: dict[str, Any]  # the asset manifest (docker images and files)
    outdir: Path

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == cfn_type}

    def one(self, cfn_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(cfn_type)
        assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
        return next(iter(found.items()))


def synth(outdir: Path, context: dict[str, Any]) -> Synthesized:
    app, stack = build_app(context, outdir=str(outdir), environ={})
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    template_path = Path(assembly.directory) / artifact.template_file
    raw = json.loads(template_path.read_text())
    assets = json.loads((Path(assembly.directory) / f"{stack.artifact_id}.assets.json").read_text())
    return Synthesized(stack, Template.from_json(raw), raw, template_path, assets, Path(assembly.directory))
