"""The agent: the runtime image as an ECR asset, an AgentCore Runtime, and its execution role.

The role is created here rather than by the `Runtime` construct so that its trust policy and every
statement are ours to read and test. The construct then adds AgentCore's documented baseline to it
(its runtime log groups, X-Ray, CloudWatch metrics in the `bedrock-agentcore` namespace, workload
identity tokens) and `grantPull` on the image's repository. This module adds exactly:

- `bedrock:InvokeModel` / `InvokeModelWithResponseStream` (what Converse and ConverseStream
  authorise as) on the configured model only: for a cross-region inference profile, the profile in
  this region and the foundation model in any region *when reached through that profile*;
- the AgentCore Memory event calls the LangGraph checkpointer makes, on that one memory, when
  `checkpointer=agentcore-memory`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from aws_cdk import Aws, Duration, IgnoreMode, Stack
from aws_cdk import aws_bedrockagentcore as agentcore
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import DeployConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
# What langgraph-checkpoint-aws's AgentCoreMemorySaver calls (create/get/list/delete events).
MEMORY_ACTIONS = (
    "bedrock-agentcore:CreateEvent",
    "bedrock-agentcore:GetEvent",
    "bedrock-agentcore:ListEvents",
    "bedrock-agentcore:DeleteEvent",
)


class ImageAssetOptions(TypedDict):
    file: str
    platform: ecr_assets.Platform
    exclude: list[str]
    ignore_mode: IgnoreMode


def image_asset_options(deployable: str) -> ImageAssetOptions:
    """DockerImageAsset options for `<deployable>/Dockerfile`, built from REPO_ROOT as the context.

    The root `.dockerignore` keeps the context to the deployables; excluding the other two here
    makes each image's hash (and so its rebuilds) depend on its own sources only. Synthesis only
    hashes and stages the files: no Docker engine is needed until `cdk deploy`.
    """
    others = [d for d in ("agent_runtime", "bff", "ui") if d != deployable]
    return {
        "file": f"{deployable}/Dockerfile",
        "platform": ecr_assets.Platform.LINUX_ARM64,
        "exclude": others,
        "ignore_mode": IgnoreMode.DOCKER,
    }


class AgentRuntime(Construct):
    """The AgentCore Runtime running `agent_runtime/` and, optionally, its AgentCore Memory."""

    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        runtime_name = _runtime_name(config.stack_name)

        self.role = iam.Role(
            self,
            "ExecutionRole",
            description="AgentCore Runtime execution role: configured model, logs, traces, image pull",
            assumed_by=iam.ServicePrincipal(
                "bedrock-agentcore.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="bedrock-agentcore", resource="runtime", resource_name=f"{runtime_name}*"
                        )
                    },
                },
            ),
        )
        for statement in model_statements(stack, config):
            self.role.add_to_policy(statement)

        environment = {
            "AGENT_MODEL_ID": config.model_id,
            "AWS_REGION": stack.region,
            "AWS_DEFAULT_REGION": stack.region,  # what boto3 clients (the Memory checkpointer) read
            "AGENT_CHECKPOINTER": config.checkpointer,
        }
        self.memory: agentcore.Memory | None = None
        if config.uses_memory:
            self.memory = agentcore.Memory(
                self,
                "Memory",
                memory_name=f"{runtime_name}_memory",
                description="LangGraph checkpoints of the agent's conversations",
                expiration_duration=Duration.days(config.memory_expiry_days),
            )
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="CheckpointerMemoryEvents",
                    actions=list(MEMORY_ACTIONS),
                    resources=[self.memory.memory_arn],
                )
            )
            environment["AGENT_MEMORY_ID"] = self.memory.memory_id

        self.runtime = agentcore.Runtime(
            self,
            "Runtime",
            runtime_name=runtime_name,
            description="LangGraph agent streaming runtime events (agent_runtime/)",
            agent_runtime_artifact=agentcore.AgentRuntimeArtifact.from_asset(
                str(REPO_ROOT), **image_asset_options("agent_runtime")
            ),
            execution_role=self.role,
            environment_variables=environment,
            lifecycle_configuration=agentcore.LifecycleConfiguration(
                idle_runtime_session_timeout=Duration.seconds(config.runtime_idle_timeout_s),
                max_lifetime=Duration.seconds(config.runtime_max_lifetime_s),
            ),
            tracing_enabled=config.runtime_tracing,
        )

    @property
    def arn(self) -> str:
        return self.runtime.agent_runtime_arn

    def invoke_statement(self) -> iam.PolicyStatement:
        """What the BFF may do to this runtime: invoke it and stop its sessions, nothing else.

        The BFF sends the principal as `runtimeUserId` (the X-Amzn-Bedrock-AgentCore-Runtime-User-Id
        header); AWS then also requires `InvokeAgentRuntimeForUser` on the same runtime.
        """
        return iam.PolicyStatement(
            sid="InvokeAndStopAgentRuntime",
            actions=[
                "bedrock-agentcore:InvokeAgentRuntime",
                "bedrock-agentcore:InvokeAgentRuntimeForUser",
                "bedrock-agentcore:StopRuntimeSession",
            ],
            resources=[self.arn, f"{self.arn}/runtime-endpoint/*"],
        )


def model_statements(stack: Stack, config: DeployConfig) -> list[iam.PolicyStatement]:
    """Invoke the configured model and nothing else.

    A plain model id: the foundation model in this region. A cross-region inference profile
    (`us.…`, `eu.…`, `global.…`): the profile in this region, and the foundation model in whichever
    region the profile routes to, but only through that profile (`bedrock:InferenceProfileArn`).
    """
    partition = Aws.PARTITION
    if not config.uses_inference_profile:
        return [
            iam.PolicyStatement(
                sid="InvokeConfiguredModel",
                actions=list(MODEL_ACTIONS),
                resources=[f"arn:{partition}:bedrock:{stack.region}::foundation-model/{config.model_id}"],
            )
        ]
    profile_arn = (
        f"arn:{partition}:bedrock:{stack.region}:{Aws.ACCOUNT_ID}:inference-profile/{config.model_id}"
    )
    return [
        iam.PolicyStatement(
            sid="InvokeConfiguredInferenceProfile",
            actions=list(MODEL_ACTIONS),
            resources=[profile_arn],
        ),
        iam.PolicyStatement(
            sid="InvokeModelThroughProfile",
            actions=list(MODEL_ACTIONS),
            resources=[f"arn:{partition}:bedrock:*::foundation-model/{config.foundation_model_id}"],
            conditions={"StringLike": {"bedrock:InferenceProfileArn": profile_arn}},
        ),
    ]


def _runtime_name(stack_name: str) -> str:
    """AgentCore runtime names: a letter, then letters, digits and underscores, 48 at most."""
    cleaned = "".join(c if c.isalnum() else "_" for c in stack_name)
    if not cleaned[:1].isalpha():
        cleaned = "a" + cleaned
    return f"{cleaned[:40]}_agent"
