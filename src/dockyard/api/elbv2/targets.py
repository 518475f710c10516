"""Targets: RegisterTargets, DeregisterTargets, DescribeTargetHealth.

The target rows and the functions that write them (also called by the ECS service
controller) are in the domain module `elbv2/targets.py`; this module validates the
requests (InvalidTarget, TooManyTargets) and answers DescribeTargetHealth.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from dockyard.api.elbv2 import attributes
from dockyard.api.elbv2.refs import get_target_group, notify_lb
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import (
    InvalidTarget,
    TooManyTargets,
    ValidationError,
)
from dockyard.elbv2.targets import (
    NOT_REGISTERED,
    deregister_targets,
    health_check_port,
    register_targets,
    target_key,
)
from dockyard.store import Kind, Tx

MAX_TARGETS = 1000
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


def target_group_attribute(doc: Mapping[str, Any], key: str) -> str:
    """A target group's attribute value (its default when never set)."""
    return attributes.value(doc, key, attributes.TARGET_GROUP)


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
