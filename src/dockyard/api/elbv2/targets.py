"""Targets: RegisterTargets, DeregisterTargets, DescribeTargetHealth, and the functions
the ECS service controller registers its tasks with.

A target is a row of Kind.TARGET keyed `<target group arn>|<id>|<port>` (columns
target_group, state) whose document is

    {"Target": {"Id", "Port"}, "HealthCheckPort": "8080",
     "TargetHealth": {"State", "Reason", "Description"},
     "registeredAt": 1714560000.0, "drainingSince": None, "source": "api" | <task ARN>}

The API writes `initial` on registration and `draining` on deregistration; the LB
controller keeps TargetHealth current from HAProxy and deletes drained targets
after the group's deregistration delay.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from dockyard.api.context import ApiContext, Params, Result
from dockyard.api.elbv2 import attributes
from dockyard.api.elbv2.errors import (
    InvalidTarget,
    TargetGroupNotFound,
    TooManyTargets,
    ValidationError,
)
from dockyard.api.elbv2.refs import get_target_group, notify_lb
from dockyard.store import Kind, Tx

INITIAL = {
    "State": "initial",
    "Reason": "Elb.RegistrationInProgress",
    "Description": "Target registration is in progress",
}
DRAINING = {
    "State": "draining",
    "Reason": "Target.DeregistrationInProgress",
    "Description": "Target deregistration is in progress",
}
NOT_REGISTERED = {
    "State": "unused",
    "Reason": "Target.NotRegistered",
    "Description": "Target is not registered to the target group",
}
MAX_TARGETS = 1000
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


def target_key(tg_arn: str, target_id: str, port: int) -> str:
    return f"{tg_arn}|{target_id}|{port}"


def target_group_attribute(doc: Mapping[str, Any], key: str) -> str:
    """A target group's attribute value (its default when never set)."""
    return attributes.value(doc, key, attributes.TARGET_GROUP)


def health_check_port(group: Mapping[str, Any], port: int) -> str:
    configured = str(group.get("HealthCheckPort", "traffic-port"))
    return str(port) if configured == "traffic-port" else configured


def register_targets(
    tx: Tx, tg_arn: str, targets: list[dict[str, Any]], now: float, source: str = "api"
) -> None:
    """Register targets (Port defaults to the group's); a draining one starts over."""
    group = tx.get(Kind.TARGET_GROUP, tg_arn)
    if group is None:
        raise TargetGroupNotFound()
    for target in targets:
        port = int(target.get("Port") or group["Port"])
        key = target_key(tg_arn, target["Id"], port)
        existing = tx.get(Kind.TARGET, key)
        if existing is not None and existing["TargetHealth"]["State"] != "draining":
            continue
        doc = {
            "Target": {"Id": target["Id"], "Port": port},
            "HealthCheckPort": health_check_port(group, port),
            "TargetHealth": dict(INITIAL),
            "registeredAt": now,
            "drainingSince": None,
            "source": source,
        }
        if existing is None:
            tx.insert(Kind.TARGET, key, doc, target_group=tg_arn, state=INITIAL["State"])
        else:
            tx.update(Kind.TARGET, key, doc, state=INITIAL["State"])


def deregister_targets(tx: Tx, tg_arn: str, targets: list[dict[str, Any]], now: float) -> None:
    """Start draining targets; one never put in service (initial, unused) goes at once."""
    group = tx.get(Kind.TARGET_GROUP, tg_arn) or {}
    for target in targets:
        port = target.get("Port") or group.get("Port")
        if port is None:
            continue
        key = target_key(tg_arn, target["Id"], int(port))
        doc = tx.get(Kind.TARGET, key)
        if doc is None:
            continue
        state = doc["TargetHealth"]["State"]
        if state in {"initial", "unused"}:
            tx.delete(Kind.TARGET, key)
        elif state != "draining":
            doc["TargetHealth"] = dict(DRAINING)
            doc["drainingSince"] = now
            tx.update(Kind.TARGET, key, doc, state=DRAINING["State"])


def _check_targets(tx: Tx, group: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    """AWS's InvalidTarget: an instance must be a registered container instance, an ip an IPv4."""
    for target in targets:
        port = target.get("Port")
        if port is not None and not 1 <= port <= 65535:
            raise ValidationError(f"Port must be between 1 and 65535; got {port}")
        target_id = target["Id"]
        if group.get("TargetType", "instance") == "ip":
            try:
                ipaddress.IPv4Address(target_id)
            except ValueError:
                raise InvalidTarget(
                    f"The IP address '{target_id}' is not a valid IPv4 address"
                ) from None
            continue
        live = INSTANCE_ID.match(target_id) and tx.count(
            Kind.CONTAINER_INSTANCE, {"instance_id": target_id, "status": ["ACTIVE", "DRAINING"]}
        )
        if not live:
            raise InvalidTarget(
                f"The following targets are not in a running state and cannot be registered: "
                f"'{target_id}'"
            )


def register_targets_action(ctx: ApiContext, params: Params) -> Result:
    arn, targets = params["TargetGroupArn"], params["Targets"]
    with ctx.store.transaction() as tx:
        group = get_target_group(tx, arn)
        _check_targets(tx, group, targets)
        register_targets(tx, arn, targets, ctx.now())
        if tx.count(Kind.TARGET, {"target_group": arn}) > MAX_TARGETS:
            raise TooManyTargets(f"A target group can have at most {MAX_TARGETS} targets")
    notify_lb(ctx)
    return {}


def deregister_targets_action(ctx: ApiContext, params: Params) -> Result:
    arn, targets = params["TargetGroupArn"], params["Targets"]
    with ctx.store.transaction() as tx:
        group = get_target_group(tx, arn)
        for target in targets:
            key = target_key(arn, target["Id"], int(target.get("Port") or group["Port"]))
            if tx.get(Kind.TARGET, key) is None:
                raise InvalidTarget(
                    f"The target '{target['Id']}' is not registered in target group '{arn}'"
                )
        deregister_targets(tx, arn, targets, ctx.now())
    notify_lb(ctx)
    return {}


def _describe(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ("Target", "HealthCheckPort", "TargetHealth")}


def describe_target_health(ctx: ApiContext, params: Params) -> Result:
    arn = params["TargetGroupArn"]
    with ctx.store.read() as tx:
        group = get_target_group(tx, arn)
        docs = [row["doc"] for row in tx.find_rows(Kind.TARGET, {"target_group": arn})]
    docs.sort(key=lambda d: (d["Target"]["Id"], d["Target"]["Port"]))
    wanted = params.get("Targets")
    if not wanted:
        return {"TargetHealthDescriptions": [_describe(d) for d in docs]}
    out: list[dict[str, Any]] = []
    for target in wanted:
        port = target.get("Port")
        matches = [
            d
            for d in docs
            if d["Target"]["Id"] == target["Id"] and port in (None, d["Target"]["Port"])
        ]
        if matches:
            out.extend(_describe(d) for d in matches)
        else:
            port = port or group["Port"]
            out.append(
                {
                    "Target": {"Id": target["Id"], "Port": port},
                    "HealthCheckPort": health_check_port(group, port),
                    "TargetHealth": dict(NOT_REGISTERED),
                }
            )
    return {"TargetHealthDescriptions": out}
