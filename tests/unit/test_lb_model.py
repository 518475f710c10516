"""The ALB model snapshot, read from a real SQLite store; also the document builders the
other LB tests (unit and e2e) use to fill a store as the ELBv2 API would."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.acm import keys
from dockyard.elbv2 import trust_store_contents
from dockyard.lb.model import load_model
from dockyard.store import Kind, SqlStore, Tx, open_store

PREFIX = "arn:aws:elasticloadbalancing:us-east-1:000000000000:"


def put_lb(tx: Tx, name: str, attributes: dict[str, str] | None = None) -> str:
    arn = f"{PREFIX}loadbalancer/app/{name}/{zlib.crc32(name.encode()):016x}"
    doc = {
        "LoadBalancerArn": arn,
        "LoadBalancerName": name,
        "State": {"Code": "active"},
        "Type": "application",
        "Attributes": [{"Key": k, "Value": v} for k, v in (attributes or {}).items()],
    }
    tx.insert(Kind.LOAD_BALANCER, arn, doc, name=name, status="active")
    return arn


def forward(*groups: str, weights: tuple[int, ...] = (), sticky_s: int | None = None) -> list[Any]:
    if len(groups) == 1 and not weights:
        return [{"Type": "forward", "TargetGroupArn": groups[0]}]
    config: dict[str, Any] = {
        "TargetGroups": [
            {"TargetGroupArn": g, "Weight": w}
            for g, w in zip(groups, weights or (1,) * len(groups), strict=True)
        ]
    }
    if sticky_s is not None:
        config["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": sticky_s}
    return [{"Type": "forward", "ForwardConfig": config}]


def fixed(status: str, body: str | None = None, content_type: str = "text/plain") -> list[Any]:
    config: dict[str, Any] = {"StatusCode": status, "ContentType": content_type}
    if body is not None:
        config["MessageBody"] = body
    return [{"Type": "fixed-response", "FixedResponseConfig": config}]


def put_listener(tx: Tx, lb_arn: str, port: int, actions: list[Any]) -> str:
    arn = lb_arn.replace(":loadbalancer/", ":listener/") + f"/{port:016x}"
    doc = {
        "ListenerArn": arn,
        "LoadBalancerArn": lb_arn,
        "Port": port,
        "Protocol": "HTTP",
        "DefaultActions": actions,
    }
    tx.insert(Kind.LISTENER, arn, doc, load_balancer=lb_arn, port=port)
    return arn


def put_rule(
    tx: Tx, listener_arn: str, priority: int, conditions: list[Any], actions: list[Any]
) -> str:
    arn = listener_arn.replace(":listener/", ":listener-rule/") + f"/{priority:016x}"
    doc = {
        "RuleArn": arn,
        "Priority": str(priority),
        "IsDefault": False,
        "Conditions": conditions,
        "Actions": actions,
    }
    tx.insert(Kind.RULE, arn, doc, listener=listener_arn, priority=str(priority))
    return arn


def put_group(tx: Tx, name: str, attributes: dict[str, str] | None = None, **fields: Any) -> str:
    arn = f"{PREFIX}targetgroup/{name}/{zlib.crc32(name.encode()):016x}"
    doc = {
        "TargetGroupArn": arn,
        "TargetGroupName": name,
        "Protocol": "HTTP",
        "Port": 80,
        "TargetType": "ip",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/health",
        "HealthCheckIntervalSeconds": 1,
        "HealthCheckTimeoutSeconds": 1,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200"},
        **fields,
        "Attributes": [{"Key": k, "Value": v} for k, v in (attributes or {}).items()],
    }
    tx.insert(Kind.TARGET_GROUP, arn, doc, name=name)
    return arn


def put_target(tx: Tx, group_arn: str, target_id: str, port: int, state: str = "initial") -> str:
    key = f"{group_arn}|{target_id}|{port}"
    doc = {
        "Target": {"Id": target_id, "Port": port},
        "HealthCheckPort": str(port),
        "TargetHealth": {"State": state},
        "registeredAt": 0.0,
        "source": "test",
    }
    tx.insert(Kind.TARGET, key, doc, target_group=group_arn, state=state)
    return key


def put_instance(tx: Tx, instance_id: str, host_ip: str, status: str = "ACTIVE") -> None:
    arn = f"arn:aws:ecs:us-east-1:000000000000:container-instance/c/{instance_id}-{status}"
    doc = {
        "containerInstanceArn": arn,
        "ec2InstanceId": instance_id,
        "status": status,
        "attributes": [{"name": "dockyard.host-ip", "value": host_ip}],
    }
    tx.insert(
        Kind.CONTAINER_INSTANCE, arn, doc, cluster="c", instance_id=instance_id, status=status
    )


def drain(tx: Tx, key: str, since: float | None) -> None:
    row = tx.get_row(Kind.TARGET, key)
    assert row is not None
    doc = dict(row["doc"])
    doc["TargetHealth"] = {"State": "draining"}
    if since is not None:
        doc["drainingSince"] = since
    tx.update(Kind.TARGET, key, doc, state="draining")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    store = open_store(f"sqlite:///{tmp_path / 'lb.db'}")
    yield store
    store.close()


def test_empty_store_has_no_model(store: SqlStore) -> None:
    with store.read() as tx:
        assert load_model(tx).listeners == ()


def test_model_resolves_rules_groups_and_targets(store: SqlStore) -> None:
    with store.transaction() as tx:
        lb = put_lb(tx, "web", {"idle_timeout.timeout_seconds": "120"})
        blue = put_group(
            tx,
            "blue",
            {"stickiness.enabled": "true", "deregistration_delay.timeout_seconds": "7"},
            TargetType="instance",
            HealthCheckPort="8081",
            Matcher={"HttpCode": "200-299"},
        )
        green = put_group(tx, "green")
        put_group(tx, "idle")
        listener = put_listener(tx, lb, 8080, forward(blue))
        put_rule(tx, listener, 20, [{"Field": "path-pattern", "Values": ["/b"]}], forward(blue))
        put_rule(
            tx,
            listener,
            5,
            [
                {
                    "Field": "http-header",
                    "HttpHeaderConfig": {"HttpHeaderName": "X", "Values": ["1"]},
                }
            ],
            forward(green),
        )
        put_instance(tx, "i-1", "127.0.1.1", status="INACTIVE")
        put_instance(tx, "i-1", "127.0.1.2")
        put_target(tx, blue, "i-1", 20001, state="healthy")
        put_target(tx, blue, "i-gone", 20002)
        put_target(tx, green, "127.0.0.5", 20003)
    with store.read() as tx:
        model = load_model(tx)
    (listener_model,) = model.listeners
    assert listener_model.idle_timeout_s == 120
    assert [r.priority for r in listener_model.rules] == [5, 20]
    assert listener_model.rules[0].conditions[0].header == "X"
    groups = {g.name: g for g in model.target_groups}
    assert groups["blue"].in_use and groups["green"].in_use and not groups["idle"].in_use
    assert groups["blue"].health_port == 8081 and groups["green"].health_port is None
    assert groups["blue"].stickiness_s == 86400 and groups["blue"].deregistration_delay_s == 7
    assert groups["blue"].matcher == "200-299"
    addresses = {t.id: t.address for t in model.targets}
    assert addresses == {"i-1": "127.0.1.2", "i-gone": None, "127.0.0.5": "127.0.0.5"}
    assert {t.id: t.instance_live for t in model.targets} == {
        "i-1": True,
        "i-gone": False,
        "127.0.0.5": True,
    }
    assert {t.id: t.state for t in model.targets}["i-1"] == "healthy"
    assert len({t.server for t in model.targets}) == 3


def test_model_reads_only_the_certificates_and_trust_stores_listeners_name(
    store: SqlStore,
) -> None:
    cert = "arn:aws:acm:us-east-1:000000000000:certificate/"
    trust = f"{PREFIX}truststore/"
    with store.transaction() as tx:
        lb = put_lb(tx, "web")
        listener = put_listener(tx, lb, 8443, fixed("200"))
        doc = tx.get(Kind.LISTENER, listener)
        assert doc is not None
        named = {
            **doc,
            "Protocol": "HTTPS",
            "Certificates": [{"CertificateArn": f"{cert}used"}],
            "_ListenerCertificates": [f"{cert}sni", f"{cert}deleted", f"{cert}keyless"],
            "MutualAuthentication": {"Mode": "verify", "TrustStoreArn": f"{trust}used/1"},
        }
        tx.update(Kind.LISTENER, listener, named)
        for name in ("used", "sni", "other", "keyless"):
            arn = f"{cert}{name}"
            doc = {"CertificateArn": arn, "_Fingerprint": name}
            tx.insert(Kind.CERTIFICATE, arn, doc, domain_name=name)
            if name != "keyless":  # a certificate from before 0014 whose key was not found
                keys.put_key(tx, arn, "KEY")
        for name in ("used", "other"):
            arn = f"{trust}{name}/1"
            doc = {"TrustStoreArn": arn, "_BundleSha256": name}
            tx.insert(Kind.TRUST_STORE, arn, doc, name=name)
            trust_store_contents.put_bundle(tx, arn, "PEM", name)
    with store.read() as tx:
        model = load_model(tx)
    (https,) = model.listeners
    assert https.tls is not None and https.mtls is not None
    assert https.tls.certificates == ((f"{cert}used", "used"), (f"{cert}sni", "sni"))
    assert https.mtls.bundle_sha256 == "used"
    assert model.stored_states == {"web": (lb, {"Code": "active"})}
