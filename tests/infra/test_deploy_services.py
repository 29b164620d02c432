"""The BFF and UI services, the load balancer, the cache and the user pool, as synthesized."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk.assertions import Match
from cdk_synth import VARIANT_CONTEXT, Synthesized


def attributes(resource: dict[str, Any], key: str = "LoadBalancerAttributes") -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in resource["Properties"][key]}


def container(synth: Synthesized, name: str) -> dict[str, Any]:
    (found,) = [
        c
        for task in synth.resources("AWS::ECS::TaskDefinition").values()
        for c in task["Properties"]["ContainerDefinitions"]
        if c["Name"] == name
    ]
    return found


def environment(synth: Synthesized, name: str) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container(synth, name)["Environment"]}


def target_group(synth: Synthesized, port: int) -> dict[str, Any]:
    (found,) = [
        g
        for g in synth.resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()
        if g["Properties"]["Port"] == port
    ]
    return found


def test_the_alb_idle_timeout_exceeds_the_bff_heartbeat(synthesized: Synthesized) -> None:
    _, alb = synthesized.one("AWS::ElasticLoadBalancingV2::LoadBalancer")
    idle = int(attributes(alb)["idle_timeout.timeout_seconds"])
    heartbeat = float(environment(synthesized, "bff")["BFF_HEARTBEAT_INTERVAL_S"])
    assert idle >= 4 * heartbeat, (idle, heartbeat)  # several heartbeats may be lost before a cut
    assert idle >= 120
    assert alb["Properties"]["Scheme"] == "internet-facing"
    assert attributes(alb)["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_bff_targets_drain_long_enough_for_open_streams(synthesized: Synthesized) -> None:
    group = target_group(synthesized, 8000)
    assert int(attributes(group, "TargetGroupAttributes")["deregistration_delay.timeout_seconds"]) >= 120
    assert group["Properties"]["HealthCheckPath"] == "/healthz"
    assert group["Properties"]["TargetType"] == "ip"


def test_prometheus_metrics_are_not_served_to_the_internet(synthesized: Synthesized) -> None:
    (rule,) = synthesized.resources("AWS::ElasticLoadBalancingV2::ListenerRule").values()
    props = rule["Properties"]
    bff_listener = [
        name
        for name, listener in synthesized.resources("AWS::ElasticLoadBalancingV2::Listener").items()
        if listener["Properties"]["Port"] in (8000, 8443)
    ]
    assert props["ListenerArn"] == {"Ref": bff_listener[0]}
    assert props["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/metrics", "/metrics/*"]}}
    ]
    (action,) = props["Actions"]
    assert action["Type"] == "fixed-response" and action["FixedResponseConfig"]["StatusCode"] == "404"


def test_ui_targets_are_sticky_and_health_checked(synthesized: Synthesized) -> None:
    group = target_group(synthesized, 8501)
    assert attributes(group, "TargetGroupAttributes")["stickiness.enabled"] == "true"
    assert group["Properties"]["HealthCheckPath"] == "/_stcore/health"


def test_listeners_are_http_by_default_and_https_with_a_certificate(
    default: Synthesized, variant: Synthesized
) -> None:
    plain = {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in default.resources("AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert {port: p["Protocol"] for port, p in plain.items()} == {80: "HTTP", 8000: "HTTP"}
    tls = {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in variant.resources("AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert {port: p["Protocol"] for port, p in tls.items()} == {443: "HTTPS", 8443: "HTTPS"}
    for listener in tls.values():
        assert listener["Certificates"] == [{"CertificateArn": VARIANT_CONTEXT["certificateArn"]}]
        assert listener["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")


def test_services_run_on_fargate_arm64_with_rollback_on_failed_deployments(synthesized: Synthesized) -> None:
    for task in synthesized.resources("AWS::ECS::TaskDefinition").values():
        assert task["Properties"]["RuntimePlatform"] == {
            "CpuArchitecture": "ARM64",
            "OperatingSystemFamily": "LINUX",
        }
        assert task["Properties"]["RequiresCompatibilities"] == ["FARGATE"]
    services = synthesized.resources("AWS::ECS::Service")
    assert len(services) == 2
    for service in services.values():
        config = service["Properties"]["DeploymentConfiguration"]
        assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        assert config["MinimumHealthyPercent"] == 100
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"


def test_sizes_come_from_the_configuration(default: Synthesized, variant: Synthesized) -> None:
    default.template.has_resource_properties("AWS::ECS::TaskDefinition", {"Cpu": "512", "Memory": "1024"})
    default.template.has_resource_properties("AWS::ECS::TaskDefinition", {"Cpu": "256", "Memory": "512"})
    default.template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 2, "MaxCapacity": 6}
    )
    variant.template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget", {"MinCapacity": 3, "MaxCapacity": 9}
    )
    variant.template.has_resource_properties("AWS::ECS::Service", {"DesiredCount": 3})


def test_the_bff_is_configured_for_the_runtime_the_cache_and_the_user_pool(synthesized: Synthesized) -> None:
    env = environment(synthesized, "bff")
    runtime_id, _ = synthesized.one("AWS::BedrockAgentCore::Runtime")
    cache_id, _ = synthesized.one("AWS::ElastiCache::ReplicationGroup")
    pool_id, _ = synthesized.one("AWS::Cognito::UserPool")
    client_id, _ = synthesized.one("AWS::Cognito::UserPoolClient")
    assert env["BFF_AGENTCORE_ENDPOINT_URL"] == ""
    assert env["BFF_AGENT_RUNTIME_ARN"] == {"Fn::GetAtt": [runtime_id, "AgentRuntimeArn"]}
    assert env["BFF_AUTH_MODE"] == "jwt"
    redis = json.dumps(env["BFF_REDIS_URL"])
    assert redis.startswith('{"Fn::Join": ["", ["rediss://"') and cache_id in redis
    jwks = json.dumps(env["BFF_JWKS_URL"])
    assert "https://cognito-idp." in jwks and pool_id in jwks and jwks.endswith('"/.well-known/jwks.json"]]}')
    assert env["BFF_JWT_ISSUER"]["Fn::Join"][1][-1] == {"Ref": pool_id}
    assert env["BFF_JWT_AUDIENCE"] == {"Ref": client_id}


def test_the_region_and_cors_origins_follow_the_configuration(variant: Synthesized) -> None:
    env = environment(variant, "bff")
    assert env["BFF_AWS_REGION"] == "eu-west-1"
    assert env["BFF_CORS_ORIGINS"] == "https://chat.example.com,https://admin.example.com"
    assert env["BFF_HEARTBEAT_INTERVAL_S"] == "20"


def test_secrets_reach_the_bff_from_secrets_manager_never_from_the_template(variant: Synthesized) -> None:
    bff = container(variant, "bff")
    (secret,) = bff["Secrets"]
    assert secret["Name"] == "BFF_API_KEYS"
    assert ":secretsmanager:eu-west-1:123456789012:secret:agentcore-bff/api-keys" in json.dumps(
        secret["ValueFrom"]
    )
    assert "BFF_API_KEYS" not in environment(variant, "bff")


def test_no_secret_value_is_written_into_any_template(synthesized: Synthesized) -> None:
    text = json.dumps(synthesized.raw)
    for name in (
        "BFF_API_KEYS",
        "BFF_JWT_HS256_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "AuthToken",
        "MasterUserPassword",
    ):
        assert f'"Name": "{name}", "Value"' not in text
        assert f'"{name}": "' not in text
    assert not re.search(r"(?i)(password|secret)[\"']?\s*[:=]\s*[\"'][^\"'{]{8,}", text)
    for env in (environment(synthesized, "bff"), environment(synthesized, "ui")):
        assert not any(re.search(r"(?i)secret|password|token", k) for k in env)


def test_the_ui_reaches_the_bff_inside_the_vpc(synthesized: Synthesized) -> None:
    env = environment(synthesized, "ui")
    assert re.fullmatch(r"http://bff\.[a-z0-9]+\.internal:8000", env["BFF_URL"]), env
    synthesized.template.has_resource_properties("AWS::ServiceDiscovery::Service", {"Name": "bff"})
    synthesized.template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {"FromPort": 8000, "ToPort": 8000, "Description": Match.string_like_regexp("UI tasks")},
    )


def test_valkey_is_encrypted_and_reachable_from_the_bff_only(synthesized: Synthesized) -> None:
    _, cache = synthesized.one("AWS::ElastiCache::ReplicationGroup")
    props = cache["Properties"]
    assert props["Engine"] == "valkey" and props["ClusterMode"] == "disabled"
    assert props["TransitEncryptionEnabled"] is True and props["AtRestEncryptionEnabled"] is True
    (group_ref,) = props["SecurityGroupIds"]
    group_id = group_ref["Fn::GetAtt"][0]
    ingress = [
        r["Properties"]
        for r in synthesized.resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    bff_group = _service_security_group(synthesized, "bff")
    assert ingress == [
        {
            "Description": "BFF tasks to Valkey",
            "FromPort": 6379,
            "ToPort": 6379,
            "IpProtocol": "tcp",
            "GroupId": {"Fn::GetAtt": [group_id, "GroupId"]},
            "SourceSecurityGroupId": {"Fn::GetAtt": [bff_group, "GroupId"]},
        }
    ]
    assert "SecurityGroupIngress" not in synthesized.raw["Resources"][group_id]["Properties"]


def test_a_replicated_cache_fails_over_across_zones(default: Synthesized, variant: Synthesized) -> None:
    default.template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup", {"NumCacheClusters": 1, "AutomaticFailoverEnabled": False}
    )
    variant.template.has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {"NumCacheClusters": 2, "AutomaticFailoverEnabled": True, "MultiAZEnabled": True},
    )


def test_the_user_pool_is_admin_only_with_a_public_client(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::Cognito::UserPool",
        {
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 12})},
        },
    )
    synthesized.template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "GenerateSecret": False,
            "ExplicitAuthFlows": Match.array_with(["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"]),
        },
    )


def test_the_public_client_has_no_plain_password_sign_in_and_no_oauth_grants(
    synthesized: Synthesized,
) -> None:
    _, client = synthesized.one("AWS::Cognito::UserPoolClient")
    assert "ALLOW_USER_PASSWORD_AUTH" not in client["Properties"]["ExplicitAuthFlows"]
    assert "AllowedOAuthFlows" not in client["Properties"], "no implicit grant, no hosted sign-in page"


def test_the_outputs_say_where_everything_is(synthesized: Synthesized) -> None:
    outputs = synthesized.raw["Outputs"]
    assert {"UiUrl", "BffUrl", "AgentRuntimeArn", "UserPoolId", "UserPoolClientId", "JwksUrl"} <= set(outputs)
    assert ("MemoryId" in outputs) == synthesized.stack.config.uses_memory


def _service_security_group(synth: Synthesized, container_name: str) -> str:
    for service in synth.resources("AWS::ECS::Service").values():
        if service["Properties"]["LoadBalancers"][0]["ContainerName"] == container_name:
            (group,) = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
            return group["Fn::GetAtt"][0]
    raise AssertionError(f"no service runs {container_name}")
