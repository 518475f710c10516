"""PutAttributes, ListAttributes, DeleteAttributes on container instances.

Custom attributes live in the instance document next to the ones the agent
reports; ECS allows 10 custom attributes per resource.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.ecs.clusters import resolve_cluster
from dockyard.api.ecs.instance_refs import check_attribute, find_instance, is_agent_attribute
from dockyard.api.pagination import page_of, paginate_list
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import (
    AttributeLimitExceededException,
    InvalidParameterException,
    TargetNotFoundException,
)
from dockyard.store import Kind, Tx

TARGET_TYPE = "container-instance"
MAX_CUSTOM = 10


def _target(
    ctx: ApiContext, tx: Tx, cluster: dict[str, Any], attribute: dict[str, Any]
) -> dict[str, Any]:
    if attribute.get("targetType", TARGET_TYPE) != TARGET_TYPE:
        raise InvalidParameterException("targetType must be container-instance.")
    target_id = attribute.get("targetId")
    if not target_id:
        raise InvalidParameterException(
            f"Attribute '{attribute['name']}' needs a targetId (a container instance ARN or id)."
        )
    doc = find_instance(ctx, tx, cluster, target_id)
    if doc is None or doc["status"] == "INACTIVE":
        raise TargetNotFoundException(
            f"Could not find {target_id}. Check the target and try again."
        )
    return doc


def _out(attribute: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    out = {"name": attribute["name"], "targetType": TARGET_TYPE}
    if attribute.get("value") is not None:
        out["value"] = attribute["value"]
    out["targetId"] = doc["containerInstanceArn"]
    return out


def put_attributes(ctx: ApiContext, params: Params) -> Result:
    for attribute in params["attributes"]:
        check_attribute(attribute)
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        changed: dict[str, dict[str, Any]] = {}
        out = []
        for attribute in params["attributes"]:
            doc = _target(ctx, tx, cluster, attribute)
            doc = changed.setdefault(doc["containerInstanceArn"], doc)
            current = {a["name"]: a for a in doc.get("attributes", [])}
            entry = {"name": attribute["name"]}
            if attribute.get("value") is not None:
                entry["value"] = attribute["value"]
            current[attribute["name"]] = entry
            custom = [n for n in current if not is_agent_attribute(n)]
            if len(custom) > MAX_CUSTOM:
                raise AttributeLimitExceededException(
                    f"You can apply up to {MAX_CUSTOM} custom attributes per resource."
                )
            doc["attributes"] = list(current.values())
            out.append(_out(attribute, doc))
        for arn, doc in changed.items():
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
    return {"attributes": out}


def delete_attributes(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        changed: dict[str, dict[str, Any]] = {}
        out = []
        for attribute in params["attributes"]:
            doc = _target(ctx, tx, cluster, attribute)
            doc = changed.setdefault(doc["containerInstanceArn"], doc)
            doc["attributes"] = [a for a in doc["attributes"] if a["name"] != attribute["name"]]
            out.append(_out(attribute, doc))
        for arn, doc in changed.items():
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
    return {"attributes": out}


def list_attributes(ctx: ApiContext, params: Params) -> Result:
    if params["targetType"] != TARGET_TYPE:
        raise InvalidParameterException("targetType must be container-instance.")
    name, value = params.get("attributeName"), params.get("attributeValue")
    if value is not None and name is None:
        raise InvalidParameterException("attributeValue can only be given with attributeName.")
    page = page_of(params)
    with ctx.store.read() as tx:
        cluster = resolve_cluster(tx, params.get("cluster"))
        docs = tx.find(
            Kind.CONTAINER_INSTANCE,
            {"cluster": cluster["clusterArn"], "status": ["ACTIVE", "DRAINING"]},
        )
    rows = []
    for doc in docs:
        for attribute in doc.get("attributes", []):
            if name is not None and attribute["name"] != name:
                continue
            if value is not None and attribute.get("value") != value:
                continue
            rows.append(_out(attribute, doc))
    rows.sort(key=lambda a: (a["targetId"], a["name"]))
    items, token = paginate_list(rows, page, lambda a: f"{a['targetId']}\n{a['name']}")
    result: Result = {"attributes": items}
    if token:
        result["nextToken"] = token
    return result
