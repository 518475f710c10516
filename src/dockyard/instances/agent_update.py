"""The agentUpdateStatus lifecycle of a container instance (UpdateContainerAgent).

    UpdateContainerAgent -> PENDING (document; the hub sends `update` to the agent)
    agent: STAGING (downloading) -> STAGED (unpacked, hash checked) -> UPDATING (exec)
    RegisterContainerInstance by the restarted agent with the target agentVersion
        -> UPDATED; with another version after UPDATING -> FAILED
    agent: FAILED with a reason (hash mismatch, unpack or import failure)

The target and the failure reason live in the document's private `agentUpdate` field
(not shown: ECS has no member for them; the reason is logged by the server and the
agent). A reconnecting agent whose update is PENDING, STAGING or STAGED is sent the
update again (AWS: "when the agent reconnects, it resumes where it stopped").
The transitions are pure functions of the document; `record_status` is the one store
write. Callers: api/ecs/agent_update.py (the ECS action), api/ecs/container_instances.py
(registration), api/agent_channel.py (the agents' messages); agent/update.py is the
agent's side (download, install, restart).
"""

from __future__ import annotations

import logging
from typing import Any

from dockyard.errors import AwsError, ClientException
from dockyard.store import Kind, Store

log = logging.getLogger("dockyard.agent_update")
PRIVATE = "agentUpdate"  # {"targetVersion", "requestedAt", "reason"}: not in the API shape
ORDER = ("PENDING", "STAGING", "STAGED", "UPDATING")  # forward only
IN_PROGRESS = frozenset(ORDER)
RESEND = frozenset({"PENDING", "STAGING", "STAGED"})  # resent to a reconnecting agent
STALE_S = 600.0  # an update stuck this long in progress may be requested again


class NoUpdateAvailableException(AwsError):
    code = "NoUpdateAvailableException"


class MissingVersionException(AwsError):
    code = "MissingVersionException"


class UpdateInProgressException(AwsError):
    code = "UpdateInProgressException"


def check_update(doc: dict[str, Any], target: str, now: float) -> None:
    """Refuse as ECS does: no version known, an update under way, nothing newer; and
    (Dockyard) an agent that is not connected cannot be told."""
    version = (doc.get("versionInfo") or {}).get("agentVersion")
    if not version:
        raise MissingVersionException(
            "The container instance's agent has not reported its version (versionInfo); "
            "Amazon ECS cannot determine whether an update is available."
        )
    private = doc.get(PRIVATE) or {}
    if (
        doc.get("agentUpdateStatus") in IN_PROGRESS
        and now - float(private.get("requestedAt", 0)) < STALE_S
    ):
        raise UpdateInProgressException(
            f"An agent update to {private.get('targetVersion')} is already in progress "
            f"({doc['agentUpdateStatus']}) on this container instance."
        )
    if version == target:
        raise NoUpdateAvailableException(
            f"There is no update available for this agent: it already runs {version}."
        )
    if not doc.get("agentConnected"):
        raise ClientException(
            "The container instance's agent is not connected; it cannot be updated now."
        )


def pending_target(doc: dict[str, Any]) -> str | None:
    """The version to (re)send to this instance's agent when it connects, if any."""
    if doc.get("agentUpdateStatus") in RESEND:
        target = (doc.get(PRIVATE) or {}).get("targetVersion")
        return str(target) if target else None
    return None


def on_registered(doc: dict[str, Any], version_info: dict[str, Any]) -> None:
    """A (re)registering agent reports its version: the end of an update under way."""
    status = doc.get("agentUpdateStatus")
    private = doc.get(PRIVATE) or {}
    target = private.get("targetVersion")
    if status not in IN_PROGRESS or not target:
        return
    version = version_info.get("agentVersion")
    if version == target:
        doc["agentUpdateStatus"] = "UPDATED"
        private.pop("reason", None)
    elif status == "UPDATING":
        doc["agentUpdateStatus"] = "FAILED"
        private["reason"] = f"The agent restarted with version {version}, not {target}."
    doc[PRIVATE] = private


def on_status(doc: dict[str, Any], message: dict[str, Any]) -> bool:
    """An agent's `update_status` message; True when the document changed. Only for
    the update under way, and only forward (a late STAGING never undoes UPDATING)."""
    status = message.get("status")
    private = doc.get(PRIVATE) or {}
    current = doc.get("agentUpdateStatus")
    if current not in IN_PROGRESS or message.get("version") != private.get("targetVersion"):
        return False
    if status == "FAILED":
        doc["agentUpdateStatus"] = "FAILED"
        private["reason"] = str(message.get("reason") or "The agent could not update.")[:1024]
        doc[PRIVATE] = private
        return True
    if status not in IN_PROGRESS or ORDER.index(status) <= ORDER.index(current):
        return False
    doc["agentUpdateStatus"] = status
    return True


def record_status(store: Store, instance_arn: str, message: dict[str, Any]) -> None:
    """Apply an agent's `update_status` message to its instance document."""
    with store.transaction() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, instance_arn)
        if doc is None or not on_status(doc, message):
            return
        tx.update(Kind.CONTAINER_INSTANCE, instance_arn, doc)
    if doc["agentUpdateStatus"] == "FAILED":
        log.warning("agent update of %s failed: %s", instance_arn, doc[PRIVATE].get("reason"))
    else:
        log.info("agent update of %s: %s", instance_arn, doc["agentUpdateStatus"])
