"""awsvpc tasks on the server: network configuration, the ENI attachment, placement needs.

    RunTask / CreateService  networkConfiguration.awsvpcConfiguration checked and kept
    new task (placement)     attachments: [ElasticNetworkInterface, PRECREATED, subnetId],
                             id = the task's id as a UUID (found from its ARN by one get)
    agent report "eni"       -> ATTACHED with privateIPv4Address, macAddress,
                                networkInterfaceId; containers' networkInterfaces
    task STOPPED             -> attachment DELETED (the agent gave the address back)

The agent picks the address from its pool (agent/awsvpc.py). Placement sends awsvpc
tasks only to instances whose agent has a pool: ECS's own attribute
`ecs.capability.task-eni` as an implicit memberOf constraint. The service controller
registers an awsvpc task in its `ip` target groups as <privateIPv4Address>:<containerPort>
(`ip_targets`). Pure: no store, no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from dockyard.errors import InvalidParameterException

ENI = "ElasticNetworkInterface"
TASK_ENI_ATTRIBUTE = "ecs.capability.task-eni"
NEEDS_ENI = {"type": "memberOf", "expression": f"attribute:{TASK_ENI_ATTRIBUTE} exists"}
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5


def is_awsvpc(definition: Mapping[str, Any]) -> bool:
    return definition.get("networkMode") == "awsvpc"


def check_network_configuration(
    definition: Mapping[str, Any], config: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """ECS's rules: awsvpc needs awsvpcConfiguration with subnets; other modes refuse it.
    Returns the configuration to keep (ECS's defaults filled in), None for other modes."""
    vpc = (config or {}).get("awsvpcConfiguration")
    if not is_awsvpc(definition):
        if vpc is not None:
            raise InvalidParameterException(
                "Network Configuration is not valid for the given networkMode of this task "
                "definition."
            )
        return None
    if vpc is None:
        raise InvalidParameterException(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )
    subnets = list(vpc.get("subnets") or [])
    if not subnets:
        raise InvalidParameterException("subnets can not be empty.")
    if len(subnets) > MAX_SUBNETS:
        raise InvalidParameterException(f"At most {MAX_SUBNETS} subnets can be given.")
    groups = list(vpc.get("securityGroups") or [])
    if len(groups) > MAX_SECURITY_GROUPS:
        raise InvalidParameterException(
            f"At most {MAX_SECURITY_GROUPS} security groups can be given."
        )
    public = vpc.get("assignPublicIp", "DISABLED")
    if public not in {"ENABLED", "DISABLED"}:
        raise InvalidParameterException("assignPublicIp must be ENABLED or DISABLED.")
    return {
        "awsvpcConfiguration": {
            "subnets": subnets,
            "securityGroups": groups,
            "assignPublicIp": public,
        }
    }


def implicit_constraints(definition: Mapping[str, Any]) -> list[dict[str, str]]:
    """What placement adds for the definition's network mode."""
    return [dict(NEEDS_ENI)] if is_awsvpc(definition) else []


def precreated_attachment(network: Mapping[str, Any] | None, task_id: str) -> dict[str, Any]:
    """The task's ENI attachment. Its id is the task's 32-hex-digit id written as a UUID
    (ECS's attachment ids are UUIDs), so an attachment ARN leads to its task without a
    scan (`attachment_task_id`, SubmitAttachmentStateChanges)."""
    subnets = ((network or {}).get("awsvpcConfiguration") or {}).get("subnets") or []
    details = [{"name": "subnetId", "value": subnets[0]}] if subnets else []
    attachment_id = str(uuid.UUID(hex=task_id))
    return {"id": attachment_id, "type": ENI, "status": "PRECREATED", "details": details}


def attachment_task_id(attachment_id: str) -> str | None:
    """The id of the task an ENI attachment id belongs to (None: not a UUID)."""
    try:
        return uuid.UUID(attachment_id).hex
    except ValueError:
        return None


def _eni(task: Mapping[str, Any]) -> dict[str, Any] | None:
    return next((a for a in task.get("attachments", []) if a.get("type") == ENI), None)


def attach(task: dict[str, Any], eni: Mapping[str, Any]) -> bool:
    """The agent's report of the task's address: attachment ATTACHED. Returns changed."""
    address = eni.get("privateIPv4Address")
    attachment = _eni(task)
    if attachment is None or not isinstance(address, str) or attachment["status"] == "DELETED":
        return False
    details = {d["name"]: d["value"] for d in attachment.get("details", [])}
    wanted = dict(details)
    for key in ("networkInterfaceId", "macAddress", "privateIPv4Address"):
        value = eni.get(key)
        if isinstance(value, str):
            wanted[key] = value
    wanted.setdefault("privateDnsName", f"ip-{address.replace('.', '-')}.ec2.internal")
    if attachment["status"] == "ATTACHED" and wanted == details:
        return False
    attachment["status"] = "ATTACHED"
    attachment["details"] = [{"name": k, "value": v} for k, v in wanted.items()]
    for container in task.get("containers", []):
        container["networkInterfaces"] = [
            {"attachmentId": attachment["id"], "privateIpv4Address": address}
        ]
    return True


def detach(task: dict[str, Any]) -> bool:
    """The task stopped: its interface is gone."""
    attachment = _eni(task)
    if attachment is None or attachment["status"] == "DELETED":
        return False
    attachment["status"] = "DELETED"
    return True


def task_address(task: Mapping[str, Any]) -> str | None:
    attachment = _eni(task)
    if attachment is None or attachment.get("status") != "ATTACHED":
        return None
    for detail in attachment.get("details", []):
        if detail.get("name") == "privateIPv4Address":
            return str(detail["value"])
    return None


def ip_targets(
    service: Mapping[str, Any], task: Mapping[str, Any]
) -> list[tuple[str, dict[str, Any]]] | None:
    """(target group ARN, {"Id": address, "Port": containerPort}) per loadBalancers entry
    for an awsvpc task; None when the task is not an awsvpc task (the caller uses host
    ports); [] while its address is not known yet."""
    if _eni(task) is None:
        return None
    address = task_address(task)
    if address is None:
        return []
    names = {c["name"] for c in task.get("containers", [])}
    return [
        (lb["targetGroupArn"], {"Id": address, "Port": int(lb["containerPort"])})
        for lb in service.get("loadBalancers", [])
        if lb.get("containerName") in names and lb.get("containerPort")
    ]
