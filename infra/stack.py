"""The one stack: network, agent runtime, cache, user pool, BFF and UI, and the outputs to use them."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from infra.cache import EventCache
from infra.config import DeployConfig
from infra.identity import UserDirectory
from infra.runtime import AgentRuntime
from infra.services import WebServices


class AgentCoreBffStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeployConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Streaming BFF for a LangGraph agent on Bedrock AgentCore",
            **kwargs,
        )
        self.config = config
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
            ],
        )
        # Image layers come from S3: a gateway endpoint is free and keeps them off the NAT gateway.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)

        self.agent = AgentRuntime(self, "Agent", config=config)
        self.cache = EventCache(self, "Cache", vpc=self.vpc, config=config)
        self.users = UserDirectory(self, "Identity")
        self.web = WebServices(
            self, "Web", vpc=self.vpc, config=config, agent=self.agent, cache=self.cache, users=self.users
        )

        CfnOutput(self, "UiUrl", value=self.web.ui_url, description="The chat UI")
        CfnOutput(
            self, "BffUrl", value=self.web.bff_url, description="The BFF: set BFF_URL to this for a local UI"
        )
        CfnOutput(self, "AgentRuntimeArn", value=self.agent.arn)
        CfnOutput(self, "UserPoolId", value=self.users.pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.users.audience)
        CfnOutput(self, "JwksUrl", value=self.users.jwks_url)
        if self.agent.memory is not None:
            CfnOutput(self, "MemoryId", value=self.agent.memory.memory_id)
