"""The BFF's shared store: an ElastiCache for Valkey replication group (run event logs, rate limits).

Cluster mode is off on purpose: the event log and the rate limiter use multi-key commands and
scripts, which a cluster-mode (or serverless) cache would reject across hash slots. TLS is on in
transit (`rediss://`) and at rest. Only the BFF's security group may connect; there is no AUTH
token, so no secret has to be composed into the URL (docs/deploy.md says how to add one).
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from constructs import Construct

from infra.config import DeployConfig

VALKEY_PORT = 6379


class EventCache(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, config: DeployConfig) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Valkey: reachable from the BFF only",
            allow_all_outbound=False,
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description="Private subnets of the BFF's Valkey",
            subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
        )
        replicated = config.cache_nodes > 1
        self.group = elasticache.CfnReplicationGroup(
            self,
            "Valkey",
            replication_group_description="BFF run event logs and rate limits",
            engine="valkey",
            engine_version="8.0",
            cache_node_type=config.cache_node_type,
            num_cache_clusters=config.cache_nodes,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            cluster_mode="disabled",
            transit_encryption_enabled=True,
            at_rest_encryption_enabled=True,
            port=VALKEY_PORT,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.security_group.security_group_id],
            snapshot_retention_limit=0,  # the logs are short-lived (run TTL): nothing worth restoring
            auto_minor_version_upgrade=True,
        )

    def allow_from(self, peer: ec2.ISecurityGroup) -> None:
        self.security_group.add_ingress_rule(peer, ec2.Port.tcp(VALKEY_PORT), "BFF tasks to Valkey")

    @property
    def url(self) -> str:
        """`rediss://<primary endpoint>:<port>/0`: TLS, resolved at deploy time."""
        return (
            f"rediss://{self.group.attr_primary_end_point_address}:{self.group.attr_primary_end_point_port}/0"
        )
