"""Container instances: Register, Describe, List (with cluster-query filters), Deregister.

An instance is a host whose agent registered it. Re-registration (an agent
restart) keeps the ARN: by `containerInstanceArn`, or by the same instance id
in the identity document.
"""

from __future__ import annotations

import json
import math
from typing import Any

from dockyard.accounts.records import long_arn_format
from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.instance_refs import (
    check_attribute,
    find_instance,
    instance_arn,
    is_agent_attribute,
)
from dockyard.api.ecs.tags import check_tags
from dockyard.api.pagination import finish, page_of, paginate_list
from dockyard.arns import new_ec2_instance_id, new_id
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import ClientException, InvalidParameterException
from dockyard.instance_types import with_defaults
from dockyard.instances import agent_update
from dockyard.lifecycle import LIVE_STATUSES, StopCode
from dockyard.resources import normalize_registered
from dockyard.store import Kind, Tx
from dockyard.tasks import capacity
from dockyard.tasks.provider_placement import PROVIDER_ATTRIBUTE
from dockyard.tasks.reports import give_up

LIVE = ["ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING"]
STATUSES = {"ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"}


def present_instance(tx: Tx, doc: dict[str, Any], include: set[str]) -> dict[str, Any]:
    """The AWS shape: the document plus remainingResources and task counts from its
    capacity row (`tasks.capacity`), without control-plane bookkeeping fields."""
    out = capacity.compose(doc, capacity.read(tx, doc["containerInstanceArn"]))
    for attribute in doc.get("attributes", []):  # membership (tasks/provider_placement.py)
        if attribute["name"] == PROVIDER_ATTRIBUTE and attribute.get("value"):
            out["capacityProviderName"] = attribute["value"]
    if "TAGS" in include:
        out["tags"] = tx.get_tags(doc["containerInstanceArn"])
    if "CONTAINER_INSTANCE_HEALTH" not in include:
        out.pop("healthStatus", None)
    out.pop(agent_update.PRIVATE, None)  # the update's target and failure reason
    return out


def _identity_document(params: Params) -> dict[str, Any]:
    """The instanceIdentityDocument, parsed ({} when none or not a JSON object)."""
    document = params.get("instanceIdentityDocument")
    if not document:
        return {}
    try:
        parsed = json.loads(document)
    except ValueError:
        raise InvalidParameterException("instanceIdentityDocument is not valid JSON.") from None
    return parsed if isinstance(parsed, dict) else {}


def _check_total_resources(total: list[dict[str, Any]]) -> None:
    """What the model leaves optional but a resource cannot lack: a name, finite numbers."""
    for resource in total:
        if not resource.get("name"):
            raise InvalidParameterException("Every resource in totalResources needs a name.")
        for field in ("doubleValue", "longValue", "integerValue"):
            value = resource.get(field)
            if value is not None and not math.isfinite(value):
                raise InvalidParameterException(
                    f"Resource {resource['name']} has an invalid {field}: {value}."
                )


def register_container_instance(ctx: ApiContext, params: Params) -> Result:
    _check_total_resources(params.get("totalResources", []))
    identity = _identity_document(params)
    ec2_id = str(identity["instanceId"]) if identity.get("instanceId") else None
    # Without CPU/MEMORY: derived from the identity document's instance type (or defaults).
    total = with_defaults(params.get("totalResources", []), identity)
    registered = normalize_registered(total)
    tags = params.get("tags", [])
    check_tags(tags)
    attributes = [
        {k: v for k, v in a.items() if k in {"name", "value"}} for a in params.get("attributes", [])
    ]
    for attribute in attributes:
        check_attribute(attribute)
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        existing = None
        if params.get("containerInstanceArn"):
            existing = find_instance(ctx, tx, cluster, params["containerInstanceArn"])
            if existing is None:
                raise ClientException("The referenced container instance was not found.")
        elif ec2_id:
            matches = tx.find(
                Kind.CONTAINER_INSTANCE,
                {"cluster": cluster["clusterArn"], "instance_id": ec2_id, "status": LIVE},
            )
            existing = matches[0] if matches else None
        now = ctx.now()
        if existing is not None:
            doc = existing
            custom = [a for a in doc.get("attributes", []) if not is_agent_attribute(a["name"])]
            doc["attributes"] = _merge(attributes, custom)
            doc["version"] = doc.get("version", 1) + 1
            doc["status"] = "ACTIVE"
        else:
            long = long_arn_format(tx, ctx.identity, "container-instance")  # the caller's
            name = cluster["clusterName"]
            arn = ctx.identity.ecs_scoped("container-instance", name, new_id(), long=long)
            doc = {
                "containerInstanceArn": arn,
                "ec2InstanceId": ec2_id or new_ec2_instance_id(),
                "version": 1,
                "status": "ACTIVE",
                "agentConnected": False,
                "attributes": attributes,
                "registeredAt": now,
                "attachments": [],
                "healthStatus": {"overallStatus": "OK", "details": []},
            }
        doc["versionInfo"] = params.get("versionInfo", {})
        agent_update.on_registered(doc, doc["versionInfo"])  # UPDATED / FAILED
        doc["registeredResources"] = registered
        if existing is None:
            # Capacity first: the instance's insert puts it in the in-memory state.
            capacity.write(
                tx,
                doc["containerInstanceArn"],
                capacity.from_document(doc),
                cluster=cluster["clusterArn"],
            )
            tx.insert(
                Kind.CONTAINER_INSTANCE,
                doc["containerInstanceArn"],
                doc,
                cluster=cluster["clusterArn"],
                instance_id=doc["ec2InstanceId"],
                status="ACTIVE",
            )
        else:
            tx.update(Kind.CONTAINER_INSTANCE, doc["containerInstanceArn"], doc, status="ACTIVE")
        tx.put_tags(doc["containerInstanceArn"], tags)
        ctx.instances_changed({doc["containerInstanceArn"]})  # service controller's queue
        return {"containerInstance": present_instance(tx, doc, {"TAGS"})}


def _merge(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = {a["name"]: a for a in second}
    merged.update({a["name"]: a for a in first})
    return list(merged.values())


def describe_container_instances(ctx: ApiContext, params: Params) -> Result:
    include = set(params.get("include", []))
    instances, failures = [], []
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        for ref in params["containerInstances"]:
            doc = find_instance(ctx, tx, cluster, ref)
            if doc is None:
                failures.append({"arn": instance_arn(ctx, tx, cluster, ref), "reason": "MISSING"})
            else:
                instances.append(present_instance(tx, doc, include))
    return {"containerInstances": instances, "failures": failures}


def list_container_instances(ctx: ApiContext, params: Params) -> Result:
    page = page_of(params)
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidParameterException(f"Invalid status '{status}'.")
    matches = None
    if params.get("filter"):
        from dockyard.api.ecs.filters import instance_filter

        matches = instance_filter(params["filter"])
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        where: dict[str, Any] = {"cluster": cluster["clusterArn"]}
        where["status"] = status if status else ["ACTIVE", "DRAINING"]
        if matches is None:
            rows = tx.find(Kind.CONTAINER_INSTANCE, where, after=page.after, limit=page.fetch)
            items, token = finish(rows, page, lambda d: [d["containerInstanceArn"]])
        else:
            docs = [d for d in tx.find(Kind.CONTAINER_INSTANCE, where) if matches(tx, d)]
            items, token = paginate_list(docs, page, lambda d: d["containerInstanceArn"])
    result: Result = {"containerInstanceArns": [d["containerInstanceArn"] for d in items]}
    if token:
        result["nextToken"] = token
    return result


def deregister_container_instance(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        doc = find_instance(ctx, tx, cluster, params["containerInstance"])
        if doc is None or doc["status"] == "INACTIVE":
            raise InvalidParameterException("The referenced container instance was not found.")
        record = capacity.read(tx, doc["containerInstanceArn"]) or capacity.from_document(doc)
        if record.running + record.pending and not params.get("force"):
            raise InvalidParameterException(
                "Found running tasks on the instance. Stop them or use --force."
            )
        # Forced: its tasks are given up here (services replace them elsewhere) and the
        # agent, still connected, gets an empty desired set and stops their containers.
        now = ctx.now()
        given_up: list[str] = []
        for task in tx.find(
            Kind.TASK, {"instance": doc["containerInstanceArn"], "last_status": list(LIVE_STATUSES)}
        ):
            given_up.append(task["taskArn"])
            give_up(
                tx,
                task["taskArn"],
                "Container instance deregistered.",
                stop_code=StopCode.USER_INITIATED.value,
                now=now,
            )
        doc["status"] = "INACTIVE"
        tx.update(Kind.CONTAINER_INSTANCE, doc["containerInstanceArn"], doc, status="INACTIVE")
        result = {"containerInstance": present_instance(tx, doc, set())}
    ctx.desired_changed({doc["containerInstanceArn"]}, given_up)
    ctx.instances_changed({doc["containerInstanceArn"]})
    return result


def update_container_instances_state(ctx: ApiContext, params: Params) -> Result:
    """ACTIVE <-> DRAINING. Draining: no new tasks there; the service controller moves
    service tasks away within each service's deployment bounds."""
    status = params["status"]
    if status not in {"ACTIVE", "DRAINING"}:
        raise InvalidParameterException("status must be ACTIVE or DRAINING.")
    refs = params["containerInstances"]
    if not 1 <= len(refs) <= 10:
        raise InvalidParameterException("containerInstances must list between 1 and 10 instances.")
    instances, failures = [], []
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        for ref in refs:
            doc = find_instance(ctx, tx, cluster, ref)
            if doc is None or doc["status"] not in {"ACTIVE", "DRAINING"}:
                failures.append({"arn": instance_arn(ctx, tx, cluster, ref), "reason": "MISSING"})
                continue
            if doc["status"] != status:
                doc["status"] = status
                tx.update(Kind.CONTAINER_INSTANCE, doc["containerInstanceArn"], doc, status=status)
            instances.append(present_instance(tx, doc, set()))
    ctx.instances_changed(i["containerInstanceArn"] for i in instances)
    return {"containerInstances": instances, "failures": failures}
