"""Target rows: registration and deregistration, shared by the ELBv2 API and the ECS
service controller.

A target is a row of Kind.TARGET keyed `<target group arn>|<id>|<port>` (columns
target_group, state) whose document is

    {"Target": {"Id", "Port"}, "HealthCheckPort": "8080",
     "TargetHealth": {"State", "Reason", "Description"},
     "registeredAt": 1714560000.0, "drainingSince": None, "source": "api" | <task ARN>}

`api/elbv2/targets.py` (RegisterTargets, DeregisterTargets) validates and calls these;
`controllers/services/targets.py` registers a service's tasks with `source` = the task
ARN. Both write `initial` on registration and `draining` on deregistration; the LB
controller (`lb/`) keeps TargetHealth current from HAProxy and deletes a draining target
once HAProxy shows it idle, or at the latest after the group's deregistration delay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.elbv2.errors import TargetGroupNotFound
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


def target_key(tg_arn: str, target_id: str, port: int) -> str:
    return f"{tg_arn}|{target_id}|{port}"


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
