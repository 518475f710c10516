"""Task definitions: Register, Describe, List, ListFamilies, Deregister, Delete.

Revisions count up per family and are never reused: a deleted revision's row
stays (DELETE_IN_PROGRESS) so the next registration still gets max + 1.
"""

from __future__ import annotations

from typing import Any

from dockyard.api.ecs.tags import check_tags
from dockyard.api.ecs.task_definition_rules import (
    check_task_definition,
    normalize_container,
    parse_task_cpu,
    parse_task_memory,
)
from dockyard.api.pagination import finish, page_of, paginate_list
from dockyard.arns import parse_arn
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import ClientException, InvalidParameterException
from dockyard.store import Kind, Tx
from dockyard.tasks import fargate

STATUSES = {"ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"}
NOT_FOUND = "Unable to describe task definition."


def split_reference(ref: str) -> tuple[str, int | None]:
    """`family`, `family:revision` or an ARN -> (family, revision or None)."""
    arn = parse_arn(ref)
    if arn is not None:
        if arn.service != "ecs" or arn.resource_type != "task-definition":
            raise ClientException(f"'{ref}' is not a task definition ARN.")
        ref = arn.resource_path
    family, sep, revision = ref.partition(":")
    if not sep:
        return family, None
    if not revision.isdigit() or int(revision) < 1:
        raise ClientException(f"Invalid revision number in '{ref}'.")
    return family, int(revision)


def find_task_definition(tx: Tx, ref: str) -> dict[str, Any] | None:
    """Resolve a reference; a bare family means its latest ACTIVE revision."""
    family, revision = split_reference(ref)
    if revision is None:
        rows = tx.find(
            Kind.TASK_DEFINITION,
            {"family": family, "status": "ACTIVE"},
            order_by=["revision"],
            descending=True,
            limit=1,
        )
    else:
        rows = tx.find(Kind.TASK_DEFINITION, {"family": family, "revision": revision})
    return rows[0] if rows else None


def register_task_definition(ctx: ApiContext, params: Params) -> Result:
    check_task_definition(params)
    tags = params.get("tags", [])
    check_tags(tags)
    network_mode = params.get("networkMode", "bridge")
    family = params["family"]
    with ctx.store.transaction() as tx:
        revision = (tx.max(Kind.TASK_DEFINITION, "revision", {"family": family}) or 0) + 1
        arn = ctx.identity.ecs(f"task-definition/{family}:{revision}")
        doc: dict[str, Any] = {key: value for key, value in params.items() if key not in {"tags"}}
        doc.update(
            taskDefinitionArn=arn,
            revision=revision,
            status="ACTIVE",
            containerDefinitions=[
                normalize_container(c, network_mode) for c in params["containerDefinitions"]
            ],
            volumes=params.get("volumes", []),
            placementConstraints=params.get("placementConstraints", []),
            compatibilities=fargate.compatibilities(
                network_mode,
                parse_task_cpu(params["cpu"]) if "cpu" in params else None,
                parse_task_memory(params["memory"]) if "memory" in params else None,
            ),
            requiresAttributes=_requires_attributes(params),
            registeredAt=ctx.now(),
            registeredBy=ctx.identity.iam_root(),
        )
        tx.insert(Kind.TASK_DEFINITION, arn, doc, family=family, revision=revision, status="ACTIVE")
        tx.put_tags(arn, tags)
    result: Result = {"taskDefinition": doc}
    if tags:
        result["tags"] = tags
    return result


def _requires_attributes(params: Params) -> list[dict[str, str]]:
    """Attributes an instance must have to run this, as ECS derives them."""
    required = []
    containers = params["containerDefinitions"]
    if any("healthCheck" in c for c in containers):
        required.append({"name": "ecs.capability.container-health-check"})
    if any(c.get("dockerLabels") for c in containers):
        required.append({"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"})
    return required


def describe_task_definition(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        doc = find_task_definition(tx, params["taskDefinition"])
        if doc is None:
            raise ClientException(NOT_FOUND)
        result: Result = {"taskDefinition": doc}
        if "TAGS" in params.get("include", []):
            result["tags"] = tx.get_tags(doc["taskDefinitionArn"])
    return result


def list_task_definitions(ctx: ApiContext, params: Params) -> Result:
    status = params.get("status", "ACTIVE")
    if status not in STATUSES:
        raise InvalidParameterException(f"Invalid status '{status}'.")
    descending = params.get("sort", "ASC") == "DESC"
    page = page_of(params)
    where: dict[str, Any] = {"status": status}
    if params.get("familyPrefix"):
        where["family"] = params["familyPrefix"]
    with ctx.store.read() as tx:
        rows = tx.find(
            Kind.TASK_DEFINITION,
            where,
            order_by=["family", "revision"],
            descending=descending,
            after=page.after,
            limit=page.fetch,
        )
    items, token = finish(rows, page, lambda d: [d["family"], d["revision"]])
    result: Result = {"taskDefinitionArns": [d["taskDefinitionArn"] for d in items]}
    if token:
        result["nextToken"] = token
    return result


def list_task_definition_families(ctx: ApiContext, params: Params) -> Result:
    status = params.get("status", "ACTIVE")
    if status not in {"ACTIVE", "INACTIVE", "ALL"}:
        raise InvalidParameterException(f"Invalid status '{status}'.")
    page = page_of(params)
    prefix = ("family", params["familyPrefix"]) if params.get("familyPrefix") else None
    with ctx.store.read() as tx:
        everything = tx.distinct(Kind.TASK_DEFINITION, "family", prefix=prefix)
        active = set(
            tx.distinct(Kind.TASK_DEFINITION, "family", {"status": "ACTIVE"}, prefix=prefix)
        )
    if status == "ACTIVE":
        families = [f for f in everything if f in active]
    elif status == "INACTIVE":
        families = [f for f in everything if f not in active]
    else:
        families = everything
    items, token = paginate_list(families, page, lambda f: f)
    result: Result = {"families": items}
    if token:
        result["nextToken"] = token
    return result


def deregister_task_definition(ctx: ApiContext, params: Params) -> Result:
    ref = params["taskDefinition"]
    _, revision = split_reference(ref)
    if revision is None:
        raise ClientException(
            "A revision is required to deregister a task definition: use family:revision or "
            "the full ARN."
        )
    with ctx.store.transaction() as tx:
        doc = find_task_definition(tx, ref)
        if doc is None:
            raise ClientException("The specified task definition does not exist.")
        if doc["status"] == "ACTIVE":
            doc["status"] = "INACTIVE"
            doc["deregisteredAt"] = ctx.now()
            tx.update(Kind.TASK_DEFINITION, doc["taskDefinitionArn"], doc, status="INACTIVE")
    return {"taskDefinition": doc}


def delete_task_definitions(ctx: ApiContext, params: Params) -> Result:
    refs = params["taskDefinitions"]
    if not 1 <= len(refs) <= 10:
        raise InvalidParameterException("taskDefinitions must list between 1 and 10 revisions.")
    deleted, failures = [], []
    with ctx.store.transaction() as tx:
        for ref in refs:
            _, revision = split_reference(ref)
            doc = find_task_definition(tx, ref) if revision is not None else None
            if doc is None:
                failures.append(
                    {"arn": ref, "reason": "The specified task definition does not exist."}
                )
            elif doc["status"] == "ACTIVE":
                failures.append(
                    {
                        "arn": doc["taskDefinitionArn"],
                        "reason": "The specified task definition is still in ACTIVE status. "
                        "Please deregister the target and try again.",
                    }
                )
            else:
                if doc["status"] == "INACTIVE":
                    doc["status"] = "DELETE_IN_PROGRESS"
                    doc["deleteRequestedAt"] = ctx.now()
                    tx.update(
                        Kind.TASK_DEFINITION,
                        doc["taskDefinitionArn"],
                        doc,
                        status="DELETE_IN_PROGRESS",
                    )
                deleted.append(doc)
    return {"taskDefinitions": deleted, "failures": failures}
