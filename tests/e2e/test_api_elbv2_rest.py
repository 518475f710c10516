"""The rest of the ELBv2 API on a real `dockyard server` with a real HAProxy (boto3, aws CLI):

- State: CreateLoadBalancer answers `provisioning`; a load balancer without listeners
  turns `active` at the controller's next step; a new listener shows `provisioning`
  until HAProxy serves it (HAProxy's config check is slowed by a wrapper, so the
  window is seen every time), then `active` and the listener answers;
- the fields ELB answers (CanonicalHostedZoneId, AvailabilityZones, IpAddressType,
  SecurityGroups), SetSubnets / SetSecurityGroups / SetIpAddressType;
- listener attributes; DescribeAccountLimits (aws CLI) and TooManyLoadBalancers at it;
- the target group attribute deregistration_delay.connection_termination.enabled
  reaching the LB controller's model;
- AWS-capacity operations and GetResourcePolicy refused with a reason.

Loops are bounded; no Docker needed (fixed responses).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.api.elbv2 import account
from dockyard.lb.model import load_model
from dockyard.store import open_store
from dockyard.store.sql import sqlite_url
from tests.e2e.conftest import (
    ServerProcess,
    aws_json,
    client_error,
    haproxy_binary,
    pick_port,
    stop_haproxy,
    wait_for,
)
from tests.e2e.lb_stack import answers_ok, lb_state

pytestmark = pytest.mark.e2e
SLOW_CHECK_S = 3  # the wrapper's pause before `haproxy -c`: the provisioning window
FIXED_OK = [
    {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "ok"}}
]


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose HAProxy validates each config only after SLOW_CHECK_S seconds."""
    wrapper = tmp_path / "slow-haproxy"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = "-c" ] && sleep {SLOW_CHECK_S}; done\n'
        f'exec {haproxy_binary()} "$@"\n'
    )
    wrapper.chmod(0o755)
    server = ServerProcess(tmp_path / "data", extra_args=["--haproxy", str(wrapper)])
    try:
        server.start()
        yield server
    finally:
        server.stop()
        stop_haproxy(server.data_dir)


def test_create_answers_provisioning_then_active_with_elb_fields(lb_server: ServerProcess) -> None:
    elbv2 = lb_server.client("elbv2")
    created = elbv2.create_load_balancer(Name="idle", Subnets=["subnet-a", "subnet-b"])
    lb = created["LoadBalancers"][0]
    assert lb["State"] == {"Code": "provisioning"}
    assert lb["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"  # ELB's ALB zone in us-east-1
    assert lb["IpAddressType"] == "ipv4"
    assert lb["SecurityGroups"] == []
    assert [z["SubnetId"] for z in lb["AvailabilityZones"]] == ["subnet-a", "subnet-b"]
    wait_for(lambda: lb_state(elbv2, "idle") == {"Code": "active"}, timeout=20, what="active")
    described = elbv2.describe_load_balancers(Names=["idle"])["LoadBalancers"][0]
    assert described["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"
    bare = elbv2.create_load_balancer(Name="bare")["LoadBalancers"][0]
    assert bare["AvailabilityZones"] == [{"ZoneName": "us-east-1a"}]


def test_listener_shows_provisioning_until_haproxy_serves_it(slow_server: ServerProcess) -> None:
    elbv2 = slow_server.client("elbv2")
    lb = elbv2.create_load_balancer(Name="web", Scheme="internal")["LoadBalancers"][0]
    assert lb["State"] == {"Code": "provisioning"}
    wait_for(lambda: lb_state(elbv2, "web") == {"Code": "active"}, timeout=20, what="no listener")
    port = pick_port()
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port, DefaultActions=FIXED_OK
    )
    seen = wait_for(
        lambda: (s := lb_state(elbv2, "web"))["Code"] != "active" and s,
        timeout=SLOW_CHECK_S + 10,
        interval=0.05,
        what="State while HAProxy checks and starts",
    )
    assert seen == {"Code": "provisioning"}
    wait_for(lambda: lb_state(elbv2, "web") == {"Code": "active"}, timeout=60, what="active")
    assert answers_ok(port), "active means HAProxy serves the listener"


def test_network_settings(lb_server: ServerProcess) -> None:
    elbv2 = lb_server.client("elbv2")
    arn = elbv2.create_load_balancer(Name="net")["LoadBalancers"][0]["LoadBalancerArn"]
    zones = elbv2.set_subnets(LoadBalancerArn=arn, Subnets=["subnet-1", "subnet-2"])
    assert [(z["ZoneName"], z["SubnetId"]) for z in zones["AvailabilityZones"]] == [
        ("us-east-1a", "subnet-1"),
        ("us-east-1a", "subnet-2"),
    ]
    groups = elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=["sg-0abc", "sg-0def"])
    assert groups["SecurityGroupIds"] == ["sg-0abc", "sg-0def"]
    ip_type = elbv2.set_ip_address_type(LoadBalancerArn=arn, IpAddressType="ipv4")
    assert ip_type["IpAddressType"] == "ipv4"
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert lb["SecurityGroups"] == ["sg-0abc", "sg-0def"]
    assert [z["SubnetId"] for z in lb["AvailabilityZones"]] == ["subnet-1", "subnet-2"]
    refused = [
        (elbv2.set_ip_address_type, {"IpAddressType": "dualstack"}),
        (elbv2.set_subnets, {"SubnetMappings": [{"SubnetId": "s", "AllocationId": "eipalloc-1"}]}),
        (
            elbv2.set_security_groups,
            {
                "SecurityGroups": ["sg-1"],
                "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "on",
            },
        ),
    ]
    for call, params in refused:
        code, message = client_error(call, LoadBalancerArn=arn, **params)
        assert code == "InvalidConfigurationRequest", message
        assert "not available" in message or "applies to network" in message, message
    gone = arn[:-4] + "0000" if not arn.endswith("0000") else arn[:-4] + "1111"
    assert client_error(elbv2.set_subnets, LoadBalancerArn=gone, Subnets=["subnet-1"])[0] == (
        "LoadBalancerNotFound"
    )
    lb_after = elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    assert lb_after["SecurityGroups"] == ["sg-0abc", "sg-0def"], "refusals wrote nothing"


def test_listener_attributes(lb_server: ServerProcess) -> None:
    elbv2 = lb_server.client("elbv2")
    arn = elbv2.create_load_balancer(Name="attrs")["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=arn, Protocol="HTTP", Port=pick_port(), DefaultActions=FIXED_OK
    )["Listeners"][0]["ListenerArn"]
    defaults = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_listener_attributes(ListenerArn=listener)["Attributes"]
    }
    assert defaults["routing.http.response.server.enabled"] == "true"
    assert defaults["routing.http.request.x_amzn_tls_version.header_name"] == "X-Amzn-Tls-Version"
    assert "tcp.idle_timeout.seconds" not in defaults
    hsts = "max-age=31536000; includeSubDomains"
    changed = elbv2.modify_listener_attributes(
        ListenerArn=listener,
        Attributes=[
            {"Key": "routing.http.response.server.enabled", "Value": "false"},
            {"Key": "routing.http.response.strict_transport_security.header_value", "Value": hsts},
        ],
    )["Attributes"]
    assert {"Key": "routing.http.response.server.enabled", "Value": "false"} in changed
    again = elbv2.describe_listener_attributes(ListenerArn=listener)["Attributes"]
    assert {
        "Key": "routing.http.response.strict_transport_security.header_value",
        "Value": hsts,
    } in again
    for key, value in [
        ("routing.http.response.server.enabled", "maybe"),
        ("routing.http.response.x_frame_options.header_value", "NEVER"),
        ("tcp.idle_timeout.seconds", "100"),  # an NLB listener's attribute
        ("no.such.key", "1"),
    ]:
        code, message = client_error(
            elbv2.modify_listener_attributes,
            ListenerArn=listener,
            Attributes=[{"Key": key, "Value": value}],
        )
        assert code == "ValidationError", (key, message)
    assert elbv2.describe_listener_attributes(ListenerArn=listener)["Attributes"] == again
    missing = listener[:-4] + ("0000" if not listener.endswith("0000") else "1111")
    assert client_error(elbv2.describe_listener_attributes, ListenerArn=missing)[0] == (
        "ListenerNotFound"
    )


def test_account_limits_and_too_many_load_balancers(lb_server: ServerProcess) -> None:
    done = aws_json(lb_server.endpoint, "elbv2", "describe-account-limits")
    limits = {item["Name"]: item["Max"] for item in done["Limits"]}
    assert limits == {name: str(value) for name, value in account.LIMITS.items()}
    assert limits["application-load-balancers"] == "50"
    assert limits["listeners-per-application-load-balancer"] == "50"
    elbv2 = lb_server.client("elbv2")
    pages = elbv2.get_paginator("describe_account_limits").paginate(
        PaginationConfig={"PageSize": 3}
    )
    paged = [item["Name"] for page in pages for item in page["Limits"]]
    assert paged == sorted(limits)
    for index in range(account.MAX_LOAD_BALANCERS):
        elbv2.create_load_balancer(Name=f"lb-{index}")
    code, message = client_error(elbv2.create_load_balancer, Name="one-too-many")
    assert code == "TooManyLoadBalancers", message
    with pytest.raises(elbv2.exceptions.TooManyLoadBalancersException):
        elbv2.create_load_balancer(Name="still-too-many")
    elbv2.create_load_balancer(Name="lb-0")  # the same one again: no new load balancer


def test_connection_termination_attribute_reaches_the_model(lb_server: ServerProcess) -> None:
    elbv2 = lb_server.client("elbv2")
    group = elbv2.create_target_group(Name="app", Protocol="HTTP", Port=8080, TargetType="ip")
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    key = "deregistration_delay.connection_termination.enabled"
    described = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    assert {"Key": key, "Value": "false"} in described
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": key, "Value": "true"}]
    )
    described = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    assert {"Key": key, "Value": "true"} in described
    code, _ = client_error(
        elbv2.modify_target_group_attributes,
        TargetGroupArn=arn,
        Attributes=[{"Key": key, "Value": "yes"}],
    )
    assert code == "ValidationError"
    lb = elbv2.create_load_balancer(Name="front")["LoadBalancers"][0]["LoadBalancerArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=pick_port(),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}],
    )
    store = open_store(sqlite_url(lb_server.data_dir), migrate=False)
    try:
        with store.read() as tx:
            model = load_model(tx)
    finally:
        store.close()
    [parsed] = [g for g in model.target_groups if g.arn == arn]
    assert parsed.terminate_on_deregistration is True


def test_capacity_operations_and_resource_policy_are_refused(lb_server: ServerProcess) -> None:
    elbv2 = lb_server.client("elbv2")
    arn = elbv2.create_load_balancer(Name="cap")["LoadBalancers"][0]["LoadBalancerArn"]
    for call, expected in [
        (elbv2.describe_capacity_reservation, "ValidationError"),
        (elbv2.modify_capacity_reservation, "OperationNotPermitted"),
        (elbv2.modify_ip_pools, "ValidationError"),
    ]:
        code, message = client_error(call, LoadBalancerArn=arn)
        assert code == expected, message
        assert "tied to AWS capacity and not available on Dockyard" in message
    missing = arn[:-4] + ("0000" if not arn.endswith("0000") else "1111")
    assert client_error(elbv2.describe_capacity_reservation, LoadBalancerArn=missing)[0] == (
        "LoadBalancerNotFound"
    )
    with pytest.raises(elbv2.exceptions.ResourceNotFoundException):
        elbv2.get_resource_policy(ResourceArn=arn)
