"""Network load balancers through the real ELBv2 API (boto3 against a `dockyard server`):
ELB's shapes and defaults for Type network, TCP/TLS target groups and listeners, and
ELB's errors (nothing written) for what an NLB does not have or Dockyard does not serve."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import ServerProcess, client_error, pick_port
from tests.unit.test_acm import make_certificate

pytestmark = pytest.mark.e2e


def test_nlb_shapes_defaults_and_attributes(server: ServerProcess) -> None:
    elbv2 = server.client("elbv2")
    lb = elbv2.create_load_balancer(Name="tcp", Type="network", Scheme="internal")["LoadBalancers"][
        0
    ]
    assert ":loadbalancer/net/tcp/" in lb["LoadBalancerArn"]
    assert (lb["Type"], lb["Scheme"], lb["IpAddressType"]) == ("network", "internal", "ipv4")
    assert elbv2.describe_load_balancers(Names=["tcp"])["LoadBalancers"][0]["Type"] == "network"

    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])[
            "Attributes"
        ]
    }
    assert attributes["load_balancing.cross_zone.enabled"] == "false"
    assert attributes["deletion_protection.enabled"] == "false"
    assert "idle_timeout.timeout_seconds" not in attributes  # an ALB attribute
    changed = elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Attributes=[
            {"Key": "load_balancing.cross_zone.enabled", "Value": "true"},
            {"Key": "deletion_protection.enabled", "Value": "true"},
        ],
    )["Attributes"]
    assert {"Key": "load_balancing.cross_zone.enabled", "Value": "true"} in changed
    assert (
        client_error(elbv2.delete_load_balancer, LoadBalancerArn=lb["LoadBalancerArn"])[0]
        == "OperationNotPermitted"
    )
    assert (
        client_error(
            elbv2.modify_load_balancer_attributes,
            LoadBalancerArn=lb["LoadBalancerArn"],
            Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "30"}],
        )[0]
        == "ValidationError"
    )

    tcp = elbv2.create_target_group(Name="tcp", Protocol="TCP", Port=9000, TargetType="ip")[
        "TargetGroups"
    ][0]
    assert (tcp["Protocol"], tcp["HealthCheckProtocol"], tcp["HealthCheckPort"]) == (
        "TCP",
        "TCP",
        "traffic-port",
    )
    assert (
        tcp["HealthCheckIntervalSeconds"], tcp["HealthCheckTimeoutSeconds"],
        tcp["HealthyThresholdCount"], tcp["UnhealthyThresholdCount"],
    ) == (30, 10, 5, 2)  # fmt: skip
    assert "HealthCheckPath" not in tcp and "Matcher" not in tcp and "ProtocolVersion" not in tcp
    http_checked = elbv2.create_target_group(
        Name="tcp-http", Protocol="TCP", Port=9000, HealthCheckProtocol="HTTP"
    )["TargetGroups"][0]
    assert (http_checked["HealthCheckTimeoutSeconds"], http_checked["HealthCheckPath"]) == (6, "/")
    assert http_checked["Matcher"] == {"HttpCode": "200-399"}
    tls = elbv2.create_target_group(
        Name="tls", Protocol="TLS", Port=9443, HealthCheckProtocol="HTTPS"
    )["TargetGroups"][0]
    assert (tls["HealthCheckProtocol"], tls["HealthCheckTimeoutSeconds"]) == ("HTTPS", 10)

    modified = elbv2.modify_target_group(
        TargetGroupArn=tcp["TargetGroupArn"], HealthCheckProtocol="HTTP", HealthCheckPath="/ping",
        Matcher={"HttpCode": "200-499"},
    )["TargetGroups"][0]  # fmt: skip
    assert (modified["HealthCheckProtocol"], modified["HealthCheckPath"]) == ("HTTP", "/ping")
    back = elbv2.modify_target_group(
        TargetGroupArn=tcp["TargetGroupArn"], HealthCheckProtocol="TCP"
    )
    assert "HealthCheckPath" not in back["TargetGroups"][0]

    group_attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_target_group_attributes(TargetGroupArn=tcp["TargetGroupArn"])[
            "Attributes"
        ]
    }
    assert group_attributes["stickiness.type"] == "source_ip"
    assert group_attributes["proxy_protocol_v2.enabled"] == "false"
    assert group_attributes["deregistration_delay.timeout_seconds"] == "300"
    assert "slow_start.duration_seconds" not in group_attributes  # an ALB attribute
    elbv2.modify_target_group_attributes(
        TargetGroupArn=tcp["TargetGroupArn"],
        Attributes=[
            {"Key": "proxy_protocol_v2.enabled", "Value": "true"},
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "load_balancing.cross_zone.enabled", "Value": "true"},
        ],
    )
    refused, message = client_error(
        elbv2.modify_target_group_attributes,
        TargetGroupArn=tcp["TargetGroupArn"],
        Attributes=[{"Key": "preserve_client_ip.enabled", "Value": "true"}],
    )
    assert refused == "ValidationError" and "proxy_protocol_v2" in message

    port = pick_port()
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tcp["TargetGroupArn"]}],
    )["Listeners"][0]  # fmt: skip
    assert (listener["Protocol"], listener["Port"]) == ("TCP", port)
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tcp["TargetGroupArn"]
    assert "SslPolicy" not in listener and "AlpnPolicy" not in listener
    used = elbv2.describe_target_groups(TargetGroupArns=[tcp["TargetGroupArn"]])["TargetGroups"][0]
    assert used["LoadBalancerArns"] == [lb["LoadBalancerArn"]]
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    assert [r["IsDefault"] for r in rules] == [True]

    acm = server.client("acm")
    certificate, key = make_certificate("nlb.example.test")
    cert_arn = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    secure = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TLS", Port=pick_port(),
        Certificates=[{"CertificateArn": cert_arn}], AlpnPolicy=["HTTP2Preferred"],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": http_checked["TargetGroupArn"]}],
    )["Listeners"][0]  # fmt: skip
    assert secure["SslPolicy"] == "ELBSecurityPolicy-2016-08"
    assert secure["AlpnPolicy"] == ["HTTP2Preferred"]
    assert secure["Certificates"] == [{"CertificateArn": cert_arn}]
    as_tcp = elbv2.modify_listener(ListenerArn=secure["ListenerArn"], Protocol="TCP")["Listeners"][
        0
    ]
    assert "Certificates" not in as_tcp and "AlpnPolicy" not in as_tcp and "SslPolicy" not in as_tcp
    policies = elbv2.describe_ssl_policies(LoadBalancerType="network")["SslPolicies"]
    assert any(p["Name"] == "ELBSecurityPolicy-2016-08" for p in policies)


def test_nlb_refusals_use_elb_codes_and_write_nothing(server: ServerProcess) -> None:
    elbv2 = server.client("elbv2")
    nlb = elbv2.create_load_balancer(Name="n", Type="network")["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    alb = elbv2.create_load_balancer(Name="a", Subnets=["subnet-a"])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    tcp = elbv2.create_target_group(Name="t", Protocol="TCP", Port=9000)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    tcp2 = elbv2.create_target_group(Name="t2", Protocol="TCP", Port=9001)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    tls = elbv2.create_target_group(Name="s", Protocol="TLS", Port=9443)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    http = elbv2.create_target_group(Name="h", Protocol="HTTP", Port=80)["TargetGroups"][0][
        "TargetGroupArn"
    ]
    port = pick_port()
    listener = elbv2.create_listener(
        LoadBalancerArn=nlb, Protocol="TCP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tcp}],
    )["Listeners"][0]["ListenerArn"]  # fmt: skip

    def to(*arns: str) -> list[dict[str, Any]]:
        groups = [{"TargetGroupArn": arn, "Weight": 1} for arn in arns]
        return [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}]

    def snapshot() -> Any:
        listeners = {
            arn: elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"] for arn in (nlb, alb)
        }
        groups = elbv2.describe_target_groups()["TargetGroups"]
        rules = elbv2.describe_rules(ListenerArn=listener)["Rules"]
        return listeners, groups, rules

    before = snapshot()
    other = pick_port()
    for protocol in ("UDP", "TCP_UDP"):
        refused, message = client_error(
            elbv2.create_listener,
            LoadBalancerArn=nlb,
            Protocol=protocol,
            Port=other,
            DefaultActions=to(tcp),
        )
        assert refused == "ValidationError" and protocol in message and "HAProxy" in message, (
            message
        )
        refused, message = client_error(
            elbv2.create_target_group, Name="u", Protocol=protocol, Port=53
        )
        assert refused == "ValidationError" and "UDP" in message, message
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    cases: list[tuple[str, Any, dict[str, Any]]] = [
        ("ValidationError", elbv2.create_listener, {"LoadBalancerArn": nlb, "Protocol": "HTTP", "Port": other, "DefaultActions": to(tcp)}),
        ("ValidationError", elbv2.create_listener, {"LoadBalancerArn": alb, "Protocol": "TCP", "Port": other, "DefaultActions": to(tcp)}),
        ("IncompatibleProtocols", elbv2.create_listener, {"LoadBalancerArn": nlb, "Protocol": "TCP", "Port": other, "DefaultActions": to(http)}),
        ("IncompatibleProtocols", elbv2.create_listener, {"LoadBalancerArn": nlb, "Protocol": "TCP", "Port": other, "DefaultActions": to(tls)}),
        ("IncompatibleProtocols", elbv2.create_listener, {"LoadBalancerArn": alb, "Protocol": "HTTP", "Port": other, "DefaultActions": to(tcp2)}),
        ("ValidationError", elbv2.create_listener, {"LoadBalancerArn": nlb, "Protocol": "TCP", "Port": other, "DefaultActions": to(tcp, tcp2)}),
        ("InvalidLoadBalancerAction", elbv2.create_listener, {"LoadBalancerArn": nlb, "Protocol": "TCP", "Port": other, "DefaultActions": fixed}),
        ("ValidationError", elbv2.create_listener, {"LoadBalancerArn": nlb, "Protocol": "TLS", "Port": other, "DefaultActions": to(tcp2)}),
        ("InvalidConfigurationRequest", elbv2.create_listener, {"LoadBalancerArn": nlb, "Protocol": "TCP", "Port": other, "DefaultActions": to(tcp2), "AlpnPolicy": ["HTTP2Only"]}),
        ("ValidationError", elbv2.create_rule, {"ListenerArn": listener, "Priority": 1, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}], "Actions": to(tcp)}),
        ("IncompatibleProtocols", elbv2.modify_listener, {"ListenerArn": listener, "DefaultActions": to(http)}),
        ("ValidationError", elbv2.modify_listener, {"ListenerArn": listener, "Protocol": "TLS"}),
        ("ValidationError", elbv2.create_target_group, {"Name": "x", "Protocol": "TCP", "Port": 9000, "HealthCheckPath": "/"}),
        ("ValidationError", elbv2.create_target_group, {"Name": "x", "Protocol": "TCP", "Port": 9000, "ProtocolVersion": "HTTP1"}),
        ("ValidationError", elbv2.create_target_group, {"Name": "x", "Protocol": "HTTP", "Port": 80, "HealthCheckProtocol": "TCP"}),
        ("ValidationError", elbv2.create_target_group, {"Name": "x", "Protocol": "TCP", "Port": 80, "HealthCheckProtocol": "HTTP", "Matcher": {"HttpCode": "600"}}),
        ("ValidationError", elbv2.modify_target_group, {"TargetGroupArn": tcp, "Matcher": {"HttpCode": "200"}}),
        ("ValidationError", elbv2.modify_target_group_attributes, {"TargetGroupArn": tcp, "Attributes": [{"Key": "slow_start.duration_seconds", "Value": "30"}]}),
        ("InvalidConfigurationRequest", elbv2.create_load_balancer, {"Name": "g", "Type": "gateway"}),
    ]  # fmt: skip
    for expected, call, params in cases:
        assert client_error(call, **params)[0] == expected, params
    assert snapshot() == before

    acm = server.client("acm")
    certificate, key = make_certificate("nlb.example.test")
    cert = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    assert (
        client_error(
            elbv2.create_listener, LoadBalancerArn=nlb, Protocol="TLS", Port=other,
            Certificates=[{"CertificateArn": cert}], AlpnPolicy=["HTTP3"], DefaultActions=to(tcp2),
        )[0]
        == "ALPNPolicyNotFound"
    )  # fmt: skip
    assert snapshot() == before
