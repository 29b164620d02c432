"""The BFF and the UI on ECS Fargate (linux/arm64), behind one internet-facing Application Load Balancer.

One ALB, two listeners, so no path of either service has to be known here:

    UI   :443 (HTTPS, with `certificateArn`) or :80   -> ui:8501   (health /_stcore/health, sticky)
    BFF  :8443 (HTTPS)                       or :8000 -> bff:8000  (health /healthz)

SSE streams are long-lived: the ALB's idle timeout is well above the BFF's heartbeat interval, so a
silent agent never gets its stream cut, and the BFF's deregistration delay lets open streams finish
while a deployment replaces tasks (a cut stream resumes on any task: the event log is in Valkey).
The UI reaches the BFF inside the VPC by Cloud Map DNS (`bff.<namespace>:8000`), not through the ALB.

Secrets reach the containers through ECS `secrets` (Secrets Manager): the template holds only ARNs
(the BFF's hashed API keys with `apiKeysSecretName`, the UI's own API key with `uiApiKeySecretName`).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from infra.cache import EventCache
from infra.config import DeployConfig
from infra.identity import UserDirectory
from infra.runtime import REPO_ROOT, AgentRuntime, image_asset_options

BFF_PORT = 8000
NOT_FOUND = '{"error": {"code": "not_found", "message": "Not found."}}'
UI_PORT = 8501
RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}
ARM64 = ecs.RuntimePlatform(
    cpu_architecture=ecs.CpuArchitecture.ARM64, operating_system_family=ecs.OperatingSystemFamily.LINUX
)


def _http_probe(port: int, path: str) -> ecs.HealthCheck:
    """A container health check with the image's own Python (the slim images have no curl)."""
    code = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=4)"
    return ecs.HealthCheck(
        command=["CMD", "python", "-c", code],
        interval=Duration.seconds(30),
        timeout=Duration.seconds(5),
        retries=3,
        start_period=Duration.seconds(30),
    )


class WebServices(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        config: DeployConfig,
        agent: AgentRuntime,
        cache: EventCache,
        users: UserDirectory,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        namespace = f"{config.stack_name.lower()}.internal"  # Cloud Map: bff.<namespace> inside the VPC
        private = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            default_cloud_map_namespace=ecs.CloudMapNamespaceOptions(
                name=namespace, vpc=vpc, use_for_service_connect=False
            ),
        )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=True,
            idle_timeout=Duration.seconds(config.alb_idle_timeout_s),
            drop_invalid_header_fields=True,
        )

        # --- the BFF ---------------------------------------------------------------------------
        bff_task = ecs.FargateTaskDefinition(
            self,
            "BffTask",
            cpu=config.bff_cpu,
            memory_limit_mib=config.bff_memory_mib,
            runtime_platform=ARM64,
        )
        bff_task.add_to_task_role_policy(agent.invoke_statement())
        secrets: dict[str, ecs.Secret] = {}
        if config.api_keys_secret_name:
            api_keys = secretsmanager.Secret.from_secret_name_v2(self, "ApiKeys", config.api_keys_secret_name)
            secrets["BFF_API_KEYS"] = ecs.Secret.from_secrets_manager(api_keys)
        bff_task.add_container(
            "bff",
            image=ecs.ContainerImage.from_asset(str(REPO_ROOT), **image_asset_options("bff")),
            environment={
                "BFF_HOST": "0.0.0.0",
                "BFF_PORT": str(BFF_PORT),
                "BFF_AGENTCORE_ENDPOINT_URL": "",  # empty: the regional AgentCore endpoint
                "BFF_AGENT_RUNTIME_ARN": agent.arn,
                "BFF_AWS_REGION": config.region,
                "BFF_REDIS_URL": cache.url,
                "BFF_HEARTBEAT_INTERVAL_S": str(config.heartbeat_interval_s),
                "BFF_AUTH_MODE": "jwt",
                "BFF_JWKS_URL": users.jwks_url,
                "BFF_JWT_ISSUER": users.issuer,
                "BFF_JWT_AUDIENCE": users.audience,
                "BFF_CORS_ORIGINS": ",".join(config.cors_origins),  # comma-separated (bff/settings.py)
            },
            secrets=secrets,
            port_mappings=[ecs.PortMapping(container_port=BFF_PORT, name="http")],
            health_check=_http_probe(BFF_PORT, "/healthz"),
            logging=self._logs("Bff", "bff"),
            stop_timeout=Duration.seconds(120),
        )
        self.bff = ecs.FargateService(
            self,
            "Bff",
            cluster=cluster,
            task_definition=bff_task,
            desired_count=config.bff_desired_count,
            vpc_subnets=private,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
            cloud_map_options=ecs.CloudMapOptions(
                name="bff", dns_record_type=servicediscovery.DnsRecordType.A, dns_ttl=Duration.seconds(10)
            ),
        )
        cache.allow_from(self.bff.connections.security_groups[0])
        scaling = self.bff.auto_scale_task_count(
            min_capacity=config.bff_desired_count, max_capacity=config.bff_max_count
        )
        scaling.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)

        self.bff_listener = self._listener("BffListener", public_port=8443 if config.https else BFF_PORT)
        self.bff_listener.add_targets(
            "Bff",
            port=BFF_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.bff.load_balancer_target(container_name="bff", container_port=BFF_PORT)],
            health_check=elbv2.HealthCheck(
                path="/healthz", healthy_http_codes="200", interval=Duration.seconds(15)
            ),
            deregistration_delay=Duration.seconds(config.drain_seconds),
        )
        # /metrics (Prometheus) has no authentication: scrape it inside the VPC, never from the internet.
        self.bff_listener.add_action(
            "HideMetrics",
            priority=1,
            conditions=[elbv2.ListenerCondition.path_patterns(["/metrics", "/metrics/*"])],
            action=elbv2.ListenerAction.fixed_response(
                404, content_type="application/json", message_body=NOT_FOUND
            ),
        )

        # --- the UI ----------------------------------------------------------------------------
        ui_task = ecs.FargateTaskDefinition(
            self, "UiTask", cpu=config.ui_cpu, memory_limit_mib=config.ui_memory_mib, runtime_platform=ARM64
        )
        ui_secrets: dict[str, ecs.Secret] = {}
        if config.ui_api_key_secret_name:  # one shared key: every UI user is one principal (docs/deploy.md)
            ui_key = secretsmanager.Secret.from_secret_name_v2(
                self, "UiApiKey", config.ui_api_key_secret_name
            )
            ui_secrets["BFF_API_KEY"] = ecs.Secret.from_secrets_manager(ui_key)
        ui_task.add_container(
            "ui",
            image=ecs.ContainerImage.from_asset(str(REPO_ROOT), **image_asset_options("ui")),
            environment={"BFF_URL": f"http://bff.{namespace}:{BFF_PORT}"},
            secrets=ui_secrets,
            port_mappings=[ecs.PortMapping(container_port=UI_PORT, name="http")],
            health_check=_http_probe(UI_PORT, "/_stcore/health"),
            logging=self._logs("Ui", "ui"),
        )
        self.ui = ecs.FargateService(
            self,
            "Ui",
            cluster=cluster,
            task_definition=ui_task,
            desired_count=config.ui_desired_count,
            vpc_subnets=private,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(60),
        )
        self.bff.connections.allow_from(
            self.ui, ec2.Port.tcp(BFF_PORT), "UI tasks to the BFF (Cloud Map DNS)"
        )
        self.ui_listener = self._listener("UiListener", public_port=443 if config.https else 80)
        self.ui_listener.add_targets(
            "Ui",
            port=UI_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.ui.load_balancer_target(container_name="ui", container_port=UI_PORT)],
            health_check=elbv2.HealthCheck(path="/_stcore/health", healthy_http_codes="200"),
            stickiness_cookie_duration=Duration.hours(8),  # Streamlit keeps a session per server
            deregistration_delay=Duration.seconds(30),
        )

    @property
    def scheme(self) -> str:
        return "https" if self.config.https else "http"

    @property
    def bff_url(self) -> str:
        port = 8443 if self.config.https else BFF_PORT
        return f"{self.scheme}://{self.alb.load_balancer_dns_name}:{port}"

    @property
    def ui_url(self) -> str:
        return f"{self.scheme}://{self.alb.load_balancer_dns_name}"

    def _listener(self, construct_id: str, *, public_port: int) -> elbv2.ApplicationListener:
        if self.config.certificate_arn:
            return self.alb.add_listener(
                construct_id,
                port=public_port,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(self.config.certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            )
        return self.alb.add_listener(construct_id, port=public_port, protocol=elbv2.ApplicationProtocol.HTTP)

    def _logs(self, construct_id: str, prefix: str) -> ecs.LogDriver:
        group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=RETENTION[self.config.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )
        return ecs.LogDrivers.aws_logs(stream_prefix=prefix, log_group=group)
