"""ELBv2 against a real `dockyard server`: boto3 and the aws CLI, unchanged.

The walkthrough shape (two target groups, a load balancer, a listener forwarding
to one, a path rule to the other, targets registered and drained), AWS's error
codes for bad input with the store left as it was, Marker/PageSize pagination,
and the store contract the LB controller and the ECS service controller rely on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config

from dockyard.api.elbv2 import targets as elb_targets
from dockyard.elbv2 import targets as target_rows
from dockyard.store import Kind, open_store
from dockyard.store.sql import SqlStore, sqlite_url
from tests.e2e.conftest import ServerProcess, aws_cli, client_error, pick_port, wait_for

INSTANCE_ID = "i-0123456789abcdef0"
ARN_PREFIX = "arn:aws:elasticloadbalancing:us-east-1:000000000000:"


@pytest.fixture
def elbv2(server: ServerProcess) -> Any:
    return server.client("elbv2")


@pytest.fixture
def raw(server: ServerProcess) -> Any:
    """A client that skips botocore's own checks, so the server's validation answers."""
    return server.client("elbv2", config=Config(parameter_validation=False))


@pytest.fixture
def store(server: ServerProcess) -> Iterator[SqlStore]:
    """The server's own store, opened beside it (SQLite WAL allows it): the LB controller's view."""
    opened = open_store(sqlite_url(server.data_dir), migrate=False)
    yield opened
    opened.close()


def register_instance(server: ServerProcess) -> None:
    ecs = server.client("ecs")
    ecs.create_cluster(clusterName="stage01")
    ecs.register_container_instance(
        cluster="stage01",
        instanceIdentityDocument=json.dumps({"instanceId": INSTANCE_ID}),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
        ],
    )


def build(elbv2: Any, port: int) -> dict[str, str]:
    """The walkthrough's load balancer: TGs auth and random, listener -> auth, /random/* -> random."""
    health = {
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/health",
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200-299"},
    }
    arns = {}
    for name in ("auth", "random"):
        group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, **health)
        arns[name] = group["TargetGroups"][0]["TargetGroupArn"]
    lb = elbv2.create_load_balancer(Name="demo", Subnets=["subnet-a", "subnet-b"])
    arns["lb"] = lb["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=arns["lb"],
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arns["auth"]}],
    )
    arns["listener"] = listener["Listeners"][0]["ListenerArn"]
    rule = elbv2.create_rule(
        ListenerArn=arns["listener"],
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/random/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": arns["random"]}],
    )
    arns["rule"] = rule["Rules"][0]["RuleArn"]
    return arns


def health_of(elbv2: Any, group: str) -> list[tuple[str, int, str, str]]:
    answer = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return [
        (d["Target"]["Id"], d["Target"]["Port"], d["HealthCheckPort"], d["TargetHealth"]["State"])
        for d in answer
    ]


def test_walkthrough(server: ServerProcess, elbv2: Any, store: SqlStore) -> None:
    register_instance(server)
    port = pick_port()
    arns = build(elbv2, port)
    wait_for(  # provisioning until HAProxy serves the listener (lb/state.py)
        lambda: elbv2.describe_load_balancers(Names=["demo"])["LoadBalancers"][0]["State"]
        == {"Code": "active"},
        timeout=30,
        what="load balancer active",
    )
    lb = elbv2.describe_load_balancers(Names=["demo"])["LoadBalancers"][0]
    assert re.fullmatch(ARN_PREFIX + r"loadbalancer/app/demo/[0-9a-f]{16}", lb["LoadBalancerArn"])
    assert (lb["DNSName"], lb["State"], lb["Type"], lb["Scheme"]) == (
        "127.0.0.1", {"Code": "active"}, "application", "internet-facing"
    )
    assert re.fullmatch(ARN_PREFIX + r"targetgroup/auth/[0-9a-f]{16}", arns["auth"])
    assert arns["listener"].startswith(lb["LoadBalancerArn"].replace(":loadbalancer/", ":listener/"))

    groups = elbv2.describe_target_groups(LoadBalancerArn=arns["lb"])["TargetGroups"]
    assert [(g["TargetGroupName"], g["LoadBalancerArns"]) for g in groups] == [
        ("auth", [arns["lb"]]), ("random", [arns["lb"]])
    ]
    auth = groups[0]
    assert (auth["HealthCheckPort"], auth["HealthCheckPath"], auth["Matcher"]) == (
        "traffic-port", "/health", {"HttpCode": "200-299"}
    )

    listener = elbv2.describe_listeners(LoadBalancerArn=arns["lb"])["Listeners"][0]
    assert (listener["Port"], listener["Protocol"]) == (port, "HTTP")
    assert listener["DefaultActions"][0]["TargetGroupArn"] == arns["auth"]
    assert listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": arns["auth"], "Weight": 1}
    ]
    rules = elbv2.describe_rules(ListenerArn=arns["listener"])["Rules"]
    assert [(r["Priority"], r["IsDefault"]) for r in rules] == [("10", False), ("default", True)]
    assert rules[0]["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/random/*"]}}
    ]
    assert rules[1]["Actions"] == listener["DefaultActions"]

    elbv2.register_targets(
        TargetGroupArn=arns["auth"], Targets=[{"Id": INSTANCE_ID, "Port": 28001}, {"Id": INSTANCE_ID, "Port": 28002}]
    )
    elbv2.register_targets(TargetGroupArn=arns["random"], Targets=[{"Id": INSTANCE_ID}])
    assert health_of(elbv2, arns["auth"]) == [
        (INSTANCE_ID, 28001, "28001", "initial"), (INSTANCE_ID, 28002, "28002", "initial")
    ]
    assert health_of(elbv2, arns["random"]) == [(INSTANCE_ID, 8080, "8080", "initial")]
    first = elbv2.describe_target_health(TargetGroupArn=arns["auth"])["TargetHealthDescriptions"][0]
    assert first["TargetHealth"] == {
        "State": "initial",
        "Reason": "Elb.RegistrationInProgress",
        "Description": "Target registration is in progress",
    }

    # The LB controller reports 28001 healthy; deregistering it then drains it.
    key = f"{arns['auth']}|{INSTANCE_ID}|28001"
    with store.transaction() as tx:
        doc = tx.get(Kind.TARGET, key)
        assert doc is not None
        doc["TargetHealth"] = {"State": "healthy"}
        tx.update(Kind.TARGET, key, doc, state="healthy")
    assert health_of(elbv2, arns["auth"])[0][3] == "healthy"
    elbv2.deregister_targets(
        TargetGroupArn=arns["auth"], Targets=[{"Id": INSTANCE_ID, "Port": 28001}, {"Id": INSTANCE_ID, "Port": 28002}]
    )
    drained = elbv2.describe_target_health(TargetGroupArn=arns["auth"])["TargetHealthDescriptions"]
    assert [(d["Target"]["Port"], d["TargetHealth"]) for d in drained] == [
        (28001, {
            "State": "draining",
            "Reason": "Target.DeregistrationInProgress",
            "Description": "Target deregistration is in progress",
        })
    ]  # 28002 was still initial: it goes at once
    asked = elbv2.describe_target_health(
        TargetGroupArn=arns["auth"], Targets=[{"Id": INSTANCE_ID, "Port": 28002}]
    )["TargetHealthDescriptions"]
    assert asked[0]["TargetHealth"]["State"] == "unused"
    assert asked[0]["TargetHealth"]["Reason"] == "Target.NotRegistered"


def test_store_contract(server: ServerProcess, elbv2: Any, store: SqlStore) -> None:
    register_instance(server)
    arns = build(elbv2, pick_port())
    elbv2.register_targets(TargetGroupArn=arns["auth"], Targets=[{"Id": INSTANCE_ID, "Port": 28001}])
    with store.read() as tx:
        lb = tx.get(Kind.LOAD_BALANCER, arns["lb"])
        group = tx.get(Kind.TARGET_GROUP, arns["auth"])
        row = tx.get_row(Kind.TARGET, f"{arns['auth']}|{INSTANCE_ID}|28001")
        rules = tx.find_rows(Kind.RULE, {"listener": arns["listener"]})
    assert lb is not None and group is not None and row is not None
    assert {a["Key"] for a in lb["Attributes"]} >= {"idle_timeout.timeout_seconds", "deletion_protection.enabled"}
    assert {a["Key"]: a["Value"] for a in group["Attributes"]} == {
        "deregistration_delay.timeout_seconds": "300",
        "deregistration_delay.connection_termination.enabled": "false",
        "stickiness.enabled": "false",
        "stickiness.type": "lb_cookie",
        "stickiness.lb_cookie.duration_seconds": "86400",
        "load_balancing.algorithm.type": "round_robin",
        "slow_start.duration_seconds": "0",
    }
    assert elb_targets.target_group_attribute(group, "deregistration_delay.timeout_seconds") == "300"
    assert (row["target_group"], row["state"]) == (arns["auth"], "initial")
    doc = row["doc"]
    assert doc["Target"] == {"Id": INSTANCE_ID, "Port": 28001}
    assert doc["HealthCheckPort"] == "28001"
    assert (doc["source"], doc["drainingSince"]) == ("api", None)
    assert isinstance(doc["registeredAt"], float)
    assert sorted(r["priority"] for r in rules) == ["10", "default"]


def test_exported_target_functions(server: ServerProcess, elbv2: Any, store: SqlStore) -> None:
    """What the ECS service controller calls inside its own transaction."""
    group = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, HealthCheckPort="9000")
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    task = "arn:aws:ecs:us-east-1:000000000000:task/stage01/abc"
    with store.transaction() as tx:
        target_rows.register_targets(tx, arn, [{"Id": INSTANCE_ID, "Port": 49153}], 100.0, source=task)
        target_rows.register_targets(tx, arn, [{"Id": INSTANCE_ID}], 100.0)
    assert health_of(elbv2, arn) == [
        (INSTANCE_ID, 80, "9000", "initial"), (INSTANCE_ID, 49153, "9000", "initial")
    ]
    with store.transaction() as tx:
        key = f"{arn}|{INSTANCE_ID}|49153"
        doc = tx.get(Kind.TARGET, key)
        assert doc is not None and doc["source"] == task
        doc["TargetHealth"] = {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "x"}
        tx.update(Kind.TARGET, key, doc, state="unhealthy")
        target_rows.deregister_targets(tx, arn, [{"Id": INSTANCE_ID, "Port": 49153}, {"Id": INSTANCE_ID}], 200.0)
        target_rows.deregister_targets(tx, arn, [{"Id": "i-00000000000000000", "Port": 1}], 200.0)
        draining = tx.get_row(Kind.TARGET, key)
    assert draining is not None and draining["state"] == "draining"
    assert draining["doc"]["drainingSince"] == 200.0
    assert health_of(elbv2, arn) == [(INSTANCE_ID, 49153, "9000", "draining")]
    with store.transaction() as tx:  # draining again keeps the first drain time
        target_rows.deregister_targets(tx, arn, [{"Id": INSTANCE_ID, "Port": 49153}], 300.0)
        again = tx.get(Kind.TARGET, key)
        assert again is not None and again["drainingSince"] == 200.0
        target_rows.register_targets(tx, arn, [{"Id": INSTANCE_ID, "Port": 49153}], 400.0)
        back = tx.get(Kind.TARGET, key)
    assert back is not None and back["TargetHealth"]["State"] == "initial"
    assert (back["registeredAt"], back["drainingSince"]) == (400.0, None)


def other_arn(arn: str) -> str:
    """An ARN of the same shape that does not exist (its last hex digit changed)."""
    return arn[:-1] + ("1" if arn.endswith("0") else "0")


def snapshot(elbv2: Any) -> dict[str, Any]:
    """Everything a client can see, for "a failed call changed nothing"."""
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    for lb in lbs:  # the LB controller's, not the API's: provisioning -> active meanwhile
        lb.pop("State")
    groups = elbv2.describe_target_groups()["TargetGroups"]
    seen: dict[str, Any] = {"lbs": lbs, "groups": groups, "listeners": [], "rules": []}
    for lb in lbs:
        listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        seen["listeners"] += listeners
        for listener in listeners:
            seen["rules"] += elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        seen[lb["LoadBalancerArn"]] = elbv2.describe_load_balancer_attributes(
            LoadBalancerArn=lb["LoadBalancerArn"]
        )["Attributes"]
    for group in groups:
        arn = group["TargetGroupArn"]
        seen[arn] = (
            elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"],
            # Registrations only: TargetHealth is the LB controller's to change at any time.
            sorted(
                (d["Target"]["Id"], d["Target"]["Port"], d["HealthCheckPort"])
                for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            ),
        )
    arns = [lb["LoadBalancerArn"] for lb in lbs] + [g["TargetGroupArn"] for g in groups]
    seen["tags"] = elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"]
    return seen


def test_bad_inputs_get_aws_codes_and_change_nothing(server: ServerProcess, elbv2: Any, raw: Any) -> None:
    register_instance(server)
    port = pick_port()
    arns = build(elbv2, port)
    elbv2.register_targets(TargetGroupArn=arns["auth"], Targets=[{"Id": INSTANCE_ID, "Port": 28001}])
    ip_group = elbv2.create_target_group(Name="ips", Protocol="HTTP", Port=80, TargetType="ip")
    ip_arn = ip_group["TargetGroups"][0]["TargetGroupArn"]
    default_rule = elbv2.describe_rules(ListenerArn=arns["listener"])["Rules"][-1]["RuleArn"]
    missing_tg = arns["auth"].rsplit("/", 1)[0] + "/0000000000000000"
    forward_auth = [{"Type": "forward", "TargetGroupArn": arns["auth"]}]
    before = snapshot(elbv2)

    cases: list[tuple[str, Any, dict[str, Any]]] = [
        ("ValidationError", raw.create_load_balancer, {"Name": "bad_name"}),
        ("ValidationError", raw.create_load_balancer, {"Name": "x" * 33}),
        ("ValidationError", raw.create_load_balancer, {"Name": "-edge"}),
        ("InvalidConfigurationRequest", raw.create_load_balancer, {"Name": "gwlb", "Type": "gateway"}),
        ("DuplicateLoadBalancerName", raw.create_load_balancer, {"Name": "demo", "Scheme": "internal"}),
        ("LoadBalancerNotFound", raw.describe_load_balancers, {"Names": ["nope"]}),
        ("ValidationError", raw.describe_load_balancers, {"LoadBalancerArns": ["not-an-arn"]}),
        ("DuplicateTargetGroupName", raw.create_target_group, {"Name": "auth", "Protocol": "HTTP", "Port": 9090}),
        ("ValidationError", raw.create_target_group, {"Name": "m1", "Protocol": "HTTP", "Port": 80, "Matcher": {"HttpCode": "600"}}),
        ("ValidationError", raw.create_target_group, {"Name": "m2", "Protocol": "HTTP", "Port": 80, "Matcher": {"HttpCode": "299-200"}}),
        ("ValidationError", raw.create_target_group, {"Name": "m3", "Protocol": "HTTP", "Port": 80, "HealthCheckTimeoutSeconds": 30, "HealthCheckIntervalSeconds": 30}),
        ("ValidationError", raw.create_target_group, {"Name": "m4", "Protocol": "HTTP"}),
        ("ValidationError", raw.create_target_group, {"Name": "m5", "Protocol": "UDP", "Port": 80}),
        ("ValidationError", raw.create_target_group, {"Name": "m6", "Protocol": "HTTP", "Port": 80, "TargetType": "lambda"}),
        ("TargetGroupNotFound", raw.describe_target_groups, {"TargetGroupArns": [missing_tg]}),
        ("TargetGroupNotFound", raw.describe_target_groups, {"Names": ["nope"]}),
        ("ValidationError", raw.modify_target_group, {"TargetGroupArn": arns["auth"], "HealthCheckPort": "70000"}),
        ("ValidationError", raw.modify_target_group_attributes, {"TargetGroupArn": arns["auth"], "Attributes": [{"Key": "no.such.key", "Value": "1"}]}),
        ("ValidationError", raw.modify_target_group_attributes, {"TargetGroupArn": arns["auth"], "Attributes": [{"Key": "slow_start.duration_seconds", "Value": "10"}]}),
        ("ValidationError", raw.modify_target_group_attributes, {"TargetGroupArn": arns["auth"], "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "3601"}]}),
        ("ValidationError", raw.modify_load_balancer_attributes, {"LoadBalancerArn": arns["lb"], "Attributes": [{"Key": "idle_timeout.timeout_seconds", "Value": "0"}]}),
        ("ResourceInUse", raw.delete_target_group, {"TargetGroupArn": arns["auth"]}),
        ("DuplicateListener", raw.create_listener, {"LoadBalancerArn": arns["lb"], "Port": port, "DefaultActions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]}),
        ("ValidationError", raw.create_listener, {"LoadBalancerArn": arns["lb"], "Port": 70000, "DefaultActions": forward_auth}),
        ("ValidationError", raw.create_listener, {"LoadBalancerArn": arns["lb"], "Protocol": "TCP", "Port": 81, "DefaultActions": forward_auth}),
        ("TargetGroupNotFound", raw.create_listener, {"LoadBalancerArn": arns["lb"], "Port": 81, "DefaultActions": [{"Type": "forward", "TargetGroupArn": missing_tg}]}),
        ("LoadBalancerNotFound", raw.create_listener, {"LoadBalancerArn": other_arn(arns["lb"]), "Port": 81, "DefaultActions": forward_auth}),
        ("InvalidLoadBalancerAction", raw.create_listener, {"LoadBalancerArn": arns["lb"], "Port": 81, "DefaultActions": [{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301"}}]}),
        ("ValidationError", raw.create_listener, {"LoadBalancerArn": arns["lb"], "Port": 81, "DefaultActions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "302"}}]}),
        ("ValidationError", raw.create_listener, {"LoadBalancerArn": arns["lb"], "Port": 81, "DefaultActions": []}),
        ("ListenerNotFound", raw.describe_listeners, {"ListenerArns": [other_arn(arns["listener"])]}),
        ("PriorityInUse", raw.create_rule, {"ListenerArn": arns["listener"], "Priority": 10, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}], "Actions": forward_auth}),
        ("ValidationError", raw.create_rule, {"ListenerArn": arns["listener"], "Priority": 0, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}], "Actions": forward_auth}),
        ("ValidationError", raw.create_rule, {"ListenerArn": arns["listener"], "Priority": 50001, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}], "Actions": forward_auth}),
        ("ValidationError", raw.create_rule, {"ListenerArn": arns["listener"], "Priority": 11, "Conditions": [{"Field": "path-pattern", "Values": ["/x"], "PathPatternConfig": {"Values": ["/y"]}}], "Actions": forward_auth}),
        ("ValidationError", raw.create_rule, {"ListenerArn": arns["listener"], "Priority": 11, "Conditions": [{"Field": "http-header", "Values": ["x"]}], "Actions": forward_auth}),
        ("ValidationError", raw.create_rule, {"ListenerArn": arns["listener"], "Priority": 11, "Conditions": [{"Field": "cookie", "Values": ["x"]}], "Actions": forward_auth}),
        ("ValidationError", raw.create_rule, {"ListenerArn": arns["listener"], "Priority": 11, "Conditions": [], "Actions": forward_auth}),
        ("RuleNotFound", raw.describe_rules, {"RuleArns": [other_arn(arns["rule"])]}),
        ("OperationNotPermitted", raw.delete_rule, {"RuleArn": default_rule}),
        ("OperationNotPermitted", raw.set_rule_priorities, {"RulePriorities": [{"RuleArn": default_rule, "Priority": 5}]}),
        ("OperationNotPermitted", raw.modify_rule, {"RuleArn": default_rule, "Conditions": [{"Field": "path-pattern", "Values": ["/x"]}]}),
        ("InvalidTarget", raw.register_targets, {"TargetGroupArn": arns["auth"], "Targets": [{"Id": "i-00000000000000bad"}]}),
        ("InvalidTarget", raw.register_targets, {"TargetGroupArn": ip_arn, "Targets": [{"Id": "not-an-ip"}]}),
        ("InvalidTarget", raw.deregister_targets, {"TargetGroupArn": arns["auth"], "Targets": [{"Id": INSTANCE_ID, "Port": 1}]}),
        ("TargetGroupNotFound", raw.register_targets, {"TargetGroupArn": missing_tg, "Targets": [{"Id": INSTANCE_ID}]}),
        ("ValidationError", raw.add_tags, {"ResourceArns": [arns["lb"]], "Tags": [{"Key": "aws:x", "Value": "1"}]}),
        ("DuplicateTagKeys", raw.add_tags, {"ResourceArns": [arns["lb"]], "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}),
        ("TargetGroupNotFound", raw.describe_tags, {"ResourceArns": [missing_tg]}),
        ("ValidationError", raw.describe_load_balancers, {"PageSize": 401}),
        ("ValidationError", raw.describe_load_balancers, {"Marker": "%%%"}),
    ]
    for expected, call, params in cases:
        assert client_error(call, **params)[0] == expected, (call, params)
    assert snapshot(elbv2) == before


def test_idempotent_creates_and_deletes(elbv2: Any) -> None:
    port = pick_port()
    arns = build(elbv2, port)
    again = elbv2.create_load_balancer(Name="demo", Subnets=["subnet-a", "subnet-b"])
    assert again["LoadBalancers"][0]["LoadBalancerArn"] == arns["lb"]
    health = {"HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 10, "HealthyThresholdCount": 2,
              "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200-299"}}
    group = elbv2.create_target_group(Name="auth", Protocol="HTTP", Port=8080, **health)
    assert group["TargetGroups"][0]["TargetGroupArn"] == arns["auth"]
    listener = elbv2.create_listener(
        LoadBalancerArn=arns["lb"], Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arns["auth"]}],
    )
    assert listener["Listeners"][0]["ListenerArn"] == arns["listener"]

    elbv2.delete_listener(ListenerArn=arns["listener"])
    assert client_error(elbv2.describe_rules, RuleArns=[arns["rule"]])[0] == "RuleNotFound"
    assert elbv2.describe_target_groups(Names=["random"])["TargetGroups"][0]["LoadBalancerArns"] == []
    elbv2.delete_target_group(TargetGroupArn=arns["random"])
    elbv2.delete_target_group(TargetGroupArn=arns["random"])  # gone already: still fine
    elbv2.delete_load_balancer(LoadBalancerArn=arns["lb"])
    elbv2.delete_load_balancer(LoadBalancerArn=arns["lb"])
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []


def test_delete_load_balancer_takes_listeners_and_rules(elbv2: Any) -> None:
    arns = build(elbv2, pick_port())
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arns["lb"], Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    assert client_error(elbv2.delete_load_balancer, LoadBalancerArn=arns["lb"])[0] == "OperationNotPermitted"
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=arns["lb"], Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
    )
    elbv2.delete_load_balancer(LoadBalancerArn=arns["lb"])
    assert client_error(elbv2.describe_listeners, ListenerArns=[arns["listener"]])[0] == "ListenerNotFound"
    assert client_error(elbv2.describe_rules, RuleArns=[arns["rule"]])[0] == "RuleNotFound"
    assert client_error(elbv2.describe_tags, ResourceArns=[arns["lb"]])[0] == "LoadBalancerNotFound"
    elbv2.delete_target_group(TargetGroupArn=arns["auth"])
    assert [g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]] == ["random"]


def test_modify_listener_rules_and_attributes(elbv2: Any) -> None:
    arns = build(elbv2, pick_port())
    weighted = elbv2.modify_listener(ListenerArn=arns["listener"], DefaultActions=[{
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": arns["auth"], "Weight": 3}, {"TargetGroupArn": arns["random"], "Weight": 1}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60},
        },
    }])["Listeners"][0]["DefaultActions"][0]
    assert "TargetGroupArn" not in weighted
    assert weighted["ForwardConfig"]["TargetGroups"][1] == {"TargetGroupArn": arns["random"], "Weight": 1}
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain", "MessageBody": "down"}}]
    elbv2.modify_listener(ListenerArn=arns["listener"], DefaultActions=fixed)
    default = elbv2.describe_rules(ListenerArn=arns["listener"])["Rules"][-1]
    assert default["Actions"] == [{**fixed[0], "Order": 1}]

    second = elbv2.create_rule(
        ListenerArn=arns["listener"], Priority=20,
        Conditions=[
            {"Field": "host-header", "Values": ["*.example.com"]},
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}},
            {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}},
        ],
        Actions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_302"}}],
    )["Rules"][0]
    assert second["Conditions"][0] == {
        "Field": "host-header", "Values": ["*.example.com"], "HostHeaderConfig": {"Values": ["*.example.com"]}
    }
    assert second["Actions"][0]["RedirectConfig"] == {
        "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_302"
    }
    swapped = elbv2.set_rule_priorities(RulePriorities=[
        {"RuleArn": arns["rule"], "Priority": 20}, {"RuleArn": second["RuleArn"], "Priority": 10},
    ])["Rules"]
    assert [r["Priority"] for r in swapped] == ["20", "10"]
    assert client_error(
        elbv2.set_rule_priorities, RulePriorities=[{"RuleArn": second["RuleArn"], "Priority": 20}]
    )[0] == "PriorityInUse"
    modified = elbv2.modify_rule(RuleArn=arns["rule"], Conditions=[
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["yes"]}},
    ])["Rules"][0]
    assert modified["Conditions"][0]["HttpHeaderConfig"] == {"HttpHeaderName": "X-Canary", "Values": ["yes"]}
    assert [r["Priority"] for r in elbv2.describe_rules(ListenerArn=arns["listener"])["Rules"]] == ["10", "20", "default"]

    changed = elbv2.modify_target_group_attributes(TargetGroupArn=arns["auth"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "5"},
        {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"},
    ])["Attributes"]
    assert len(changed) == 7
    assert {a["Key"]: a["Value"] for a in changed}["deregistration_delay.timeout_seconds"] == "5"
    assert client_error(elbv2.modify_target_group_attributes, TargetGroupArn=arns["auth"], Attributes=[
        {"Key": "slow_start.duration_seconds", "Value": "30"}
    ])[0] == "InvalidConfigurationRequest"
    group = elbv2.modify_target_group(TargetGroupArn=arns["auth"], HealthCheckPath="/ready", Matcher={"HttpCode": "200,202"})
    assert group["TargetGroups"][0]["HealthCheckPath"] == "/ready"
    lb_attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arns["lb"])["Attributes"]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "60"} in lb_attributes


def test_target_group_serves_one_load_balancer(elbv2: Any) -> None:
    arns = build(elbv2, pick_port())
    other = elbv2.create_load_balancer(Name="other")["LoadBalancers"][0]["LoadBalancerArn"]
    assert client_error(
        elbv2.create_listener, LoadBalancerArn=other, Port=pick_port(),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arns["auth"]}],
    )[0] == "TargetGroupAssociationLimit"
    # every load balancer shares the bind address: a port serves one listener
    taken = elbv2.describe_listeners(ListenerArns=[arns["listener"]])["Listeners"][0]["Port"]
    assert client_error(
        elbv2.create_listener, LoadBalancerArn=other, Port=taken,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )[0] == "DuplicateListener"


def test_pagination_with_marker_and_page_size(elbv2: Any) -> None:
    names = [f"lb-{i}" for i in range(7)]
    for name in reversed(names):
        elbv2.create_load_balancer(Name=name)
        elbv2.create_target_group(Name=f"tg-{name}", Protocol="HTTP", Port=80)
    seen, pages, marker = [], 0, None
    while True:
        kwargs = {"PageSize": 3} | ({"Marker": marker} if marker else {})
        page = elbv2.describe_load_balancers(**kwargs)
        seen += [lb["LoadBalancerName"] for lb in page["LoadBalancers"]]
        pages += 1
        marker = page.get("NextMarker")
        if not marker:
            break
    assert (seen, pages) == (names, 3)
    paginator = elbv2.get_paginator("describe_target_groups")
    groups = [
        g["TargetGroupName"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 2})
        for g in page["TargetGroups"]
    ]
    assert groups == [f"tg-{name}" for name in names]
    named = elbv2.describe_load_balancers(Names=["lb-5", "lb-1", "lb-3"], PageSize=2)
    assert [lb["LoadBalancerName"] for lb in named["LoadBalancers"]] == ["lb-1", "lb-3"]
    rest = elbv2.describe_load_balancers(Names=["lb-5", "lb-1", "lb-3"], PageSize=2, Marker=named["NextMarker"])
    assert [lb["LoadBalancerName"] for lb in rest["LoadBalancers"]] == ["lb-5"]
    assert "NextMarker" not in rest


def test_aws_cli(server: ServerProcess, elbv2: Any) -> None:
    created = aws_cli(server.endpoint, "elbv2", "create-load-balancer", "--name", "cli-lb",
                      "--subnets", "subnet-a", "subnet-b")
    assert created.returncode == 0, created.stderr
    cli_lb = json.loads(created.stdout)["LoadBalancers"][0]
    group = aws_cli(server.endpoint, "elbv2", "create-target-group", "--name", "cli-tg", "--protocol", "HTTP",
                    "--port", "8080", "--health-check-path", "/health", "--matcher", "HttpCode=200-299")
    assert group.returncode == 0, group.stderr
    described = aws_cli(server.endpoint, "elbv2", "describe-load-balancers")
    assert described.returncode == 0, described.stderr
    lbs = json.loads(described.stdout)["LoadBalancers"]
    assert [(lb["LoadBalancerName"], lb["DNSName"], lb["State"]["Code"]) for lb in lbs] == [
        ("cli-lb", "127.0.0.1", "active")
    ]
    assert lbs[0]["LoadBalancerArn"] == cli_lb["LoadBalancerArn"]
    assert elbv2.describe_target_groups(Names=["cli-tg"])["TargetGroups"][0]["Matcher"] == {"HttpCode": "200-299"}
    missing = aws_cli(server.endpoint, "elbv2", "describe-load-balancers", "--names", "nope")
    assert missing.returncode != 0
    assert "LoadBalancerNotFound" in missing.stderr
