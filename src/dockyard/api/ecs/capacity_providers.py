"""Capacity providers: Create/Describe/Update/DeleteCapacityProvider and
PutClusterCapacityProviders.

On Dockyard a capacity provider names a group of container instances: an instance
belongs to provider P when its attribute `ecs.capacity-provider-name` is P (see
`tasks.provider_placement`). The Auto Scaling group of AWS's model is kept as given
(`autoScalingGroupArn` is an opaque name, unique per provider as in ECS) with
managedScaling / managedTerminationProtection / managedDraining stored and described
with ECS's defaults; nothing scales instances. FARGATE and FARGATE_SPOT are reserved,
always described, and any cluster may list them.
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.api.ecs.clusters import present_cluster, resolve_cluster
from dockyard.api.ecs.tags import check_tags
from dockyard.api.pagination import finish, page_of
from dockyard.arns import parse_arn
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import (
    ClientException,
    InvalidParameterException,
    ResourceInUseException,
    UnsupportedFeatureException,
)
from dockyard.scheduler.providers import FARGATE_PROVIDERS
from dockyard.store import Kind, Tx
from dockyard.tasks.provider_placement import check_cluster_providers, normalized

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
RESERVED_PREFIXES = ("aws", "ecs", "fargate")
MANAGED_SCALING_DEFAULTS: dict[str, Any] = {
    "status": "DISABLED",
    "targetCapacity": 100,
    "minimumScalingStepSize": 1,
    "maximumScalingStepSize": 10000,
    "instanceWarmupPeriod": 300,
}
IN_USE = "The specified capacity provider is in use and cannot be removed."


def provider_name(ref: str) -> str:
    """The name in a name-or-ARN reference."""
    arn = parse_arn(ref)
    if arn is None:
        return ref
    if arn.service != "ecs" or arn.resource_type != "capacity-provider":
        raise InvalidParameterException(f"'{ref}' is not a capacity provider ARN.")
    return arn.resource_path


def _reserved(ctx: ApiContext, name: str) -> dict[str, Any]:
    return {
        "capacityProviderArn": ctx.identity.ecs(f"capacity-provider/{name}"),
        "name": name,
        "status": "ACTIVE",
        "tags": [],
        "type": "FARGATE",
    }


def _find(tx: Tx, name: str) -> dict[str, Any] | None:
    rows = tx.find(Kind.CAPACITY_PROVIDER, {"name": name})
    return rows[0] if rows else None


def _active(tx: Tx, ref: str) -> dict[str, Any]:
    name = provider_name(ref)
    if name in FARGATE_PROVIDERS:
        raise InvalidParameterException(
            f"The {name} capacity provider is reserved and cannot be changed or deleted."
        )
    doc = _find(tx, name)
    if doc is None or doc["status"] != "ACTIVE":
        raise InvalidParameterException(
            "The specified capacity provider does not exist. Specify a valid capacity "
            "provider and try again."
        )
    return doc


def _scaling(given: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    scaling = {**current, **(given or {})}
    low, high = scaling["minimumScalingStepSize"], scaling["maximumScalingStepSize"]
    if low > high:
        raise InvalidParameterException(
            "The minimumScalingStepSize must be less than or equal to the maximumScalingStepSize."
        )
    return scaling


def _asg(given: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
    """autoScalingGroupProvider with ECS's defaults filled in (and checked)."""
    base = current or {
        "managedScaling": dict(MANAGED_SCALING_DEFAULTS),
        "managedTerminationProtection": "DISABLED",
        "managedDraining": "ENABLED",
    }
    out = {**base, **{k: v for k, v in given.items() if k != "managedScaling"}}
    out["managedScaling"] = _scaling(given.get("managedScaling"), base["managedScaling"])
    if (
        out["managedTerminationProtection"] == "ENABLED"
        and out["managedScaling"]["status"] != "ENABLED"
    ):
        raise InvalidParameterException(
            "The managed termination protection setting for the capacity provider is invalid. "
            "To enable managed termination protection for a capacity provider, managed "
            "scaling must be enabled."
        )
    return out


def _present(tx: Tx, doc: dict[str, Any], tags: bool) -> dict[str, Any]:
    out = dict(doc)
    if tags:
        out["tags"] = tx.get_tags(doc["capacityProviderArn"])
    return out


def create_capacity_provider(ctx: ApiContext, params: Params) -> Result:
    name = params["name"]
    if not NAME.match(name):
        raise InvalidParameterException(
            "The capacity provider name must be 1-255 letters, numbers, underscores and hyphens."
        )
    if name.lower().startswith(RESERVED_PREFIXES):
        raise InvalidParameterException(
            'The capacity provider name can\'t be prefixed with "aws", "ecs", or "fargate".'
        )
    if "managedInstancesProvider" in params:
        raise UnsupportedFeatureException(
            "Managed instances capacity providers are not supported: on Dockyard a capacity "
            "provider names a group of container instances (autoScalingGroupProvider)."
        )
    given = params.get("autoScalingGroupProvider")
    if not given:
        raise InvalidParameterException("autoScalingGroupProvider is required.")
    asg = _asg(given)
    tags = params.get("tags", [])
    check_tags(tags)
    arn = ctx.identity.ecs(f"capacity-provider/{name}")
    with ctx.store.transaction() as tx:
        existing = _find(tx, name)
        if existing is not None and existing["status"] == "ACTIVE":
            raise ClientException(
                "The specified capacity provider already exists. To change the configuration "
                "of an existing capacity provider, update the capacity provider."
            )
        for other in tx.find(Kind.CAPACITY_PROVIDER, {"status": "ACTIVE"}):
            group = other["autoScalingGroupProvider"]["autoScalingGroupArn"]
            if group == asg["autoScalingGroupArn"]:
                raise ClientException(
                    "The specified Auto Scaling group ARN is already being used by another "
                    "capacity provider. Specify a unique Auto Scaling group ARN and try again."
                )
        doc = {
            "capacityProviderArn": arn,
            "name": name,
            "status": "ACTIVE",
            "autoScalingGroupProvider": asg,
            "type": "EC2_AUTOSCALING",
        }
        if existing is None:
            tx.insert(Kind.CAPACITY_PROVIDER, arn, doc, name=name, status="ACTIVE")
        else:
            tx.delete_all_tags(arn)
            tx.update(Kind.CAPACITY_PROVIDER, arn, doc, status="ACTIVE")
        tx.put_tags(arn, tags)
        return {"capacityProvider": _present(tx, doc, True)}


def describe_capacity_providers(ctx: ApiContext, params: Params) -> Result:
    """Named providers (deleted ones as INACTIVE), or every ACTIVE one plus the reserved
    FARGATE and FARGATE_SPOT, paginated."""
    tags = "TAGS" in (params.get("include") or [])
    refs = params.get("capacityProviders") or []
    providers: list[dict[str, Any]] = []
    failures = []
    result: Result = {}
    with ctx.store.read() as tx:
        if refs:
            for ref in refs:
                name = provider_name(ref)
                doc = None if name in FARGATE_PROVIDERS else _find(tx, name)
                if name in FARGATE_PROVIDERS:
                    providers.append(_reserved(ctx, name))
                elif doc is None:
                    arn = ref if parse_arn(ref) else ctx.identity.ecs(f"capacity-provider/{ref}")
                    failures.append({"arn": arn, "reason": "MISSING"})
                else:
                    providers.append(_present(tx, doc, tags))
        else:
            page = page_of(params, default=10, maximum=10)
            reserved = [_reserved(ctx, n) for n in sorted(FARGATE_PROVIDERS)]
            rows = reserved + tx.find(
                Kind.CAPACITY_PROVIDER, {"status": "ACTIVE"}, order_by=["name"]
            )
            if page.after:
                rows = [r for r in rows if [r["name"]] > page.after]
            items, token = finish(rows[: page.fetch], page, lambda p: [p["name"]])
            providers = [p if p["type"] == "FARGATE" else _present(tx, p, tags) for p in items]
            if token:
                result["nextToken"] = token
    return {"capacityProviders": providers, "failures": failures, **result}


def update_capacity_provider(ctx: ApiContext, params: Params) -> Result:
    if "managedInstancesProvider" in params:
        raise UnsupportedFeatureException("Managed instances capacity providers are not supported.")
    with ctx.store.transaction() as tx:
        doc = _active(tx, params["name"])
        given = dict(params.get("autoScalingGroupProvider") or {})
        doc["autoScalingGroupProvider"] = _asg(given, doc["autoScalingGroupProvider"])
        doc["updateStatus"] = "UPDATE_COMPLETE"
        doc.pop("updateStatusReason", None)
        tx.update(Kind.CAPACITY_PROVIDER, doc["capacityProviderArn"], doc)
        return {"capacityProvider": _present(tx, doc, False)}


def delete_capacity_provider(ctx: ApiContext, params: Params) -> Result:
    """As ECS: while a cluster lists the provider nothing is deleted and the answer is
    the provider with updateStatus DELETE_FAILED and the reason."""
    with ctx.store.transaction() as tx:
        doc = _active(tx, params["capacityProvider"])
        users = [
            c["clusterName"]
            for c in tx.find(Kind.CLUSTER, {"status": "ACTIVE"})
            if doc["name"] in (c.get("capacityProviders") or [])
        ]
        if users:
            doc["updateStatus"] = "DELETE_FAILED"
            doc["updateStatusReason"] = (
                f"The capacity provider is associated with cluster {users[0]}. Remove it from "
                "the cluster with PutClusterCapacityProviders and try again."
            )
            tx.update(Kind.CAPACITY_PROVIDER, doc["capacityProviderArn"], doc)
            return {"capacityProvider": _present(tx, doc, False)}
        doc["status"] = "INACTIVE"
        doc["updateStatus"] = "DELETE_COMPLETE"
        doc.pop("updateStatusReason", None)
        tx.update(Kind.CAPACITY_PROVIDER, doc["capacityProviderArn"], doc, status="INACTIVE")
        return {"capacityProvider": _present(tx, doc, False)}


def put_cluster_capacity_providers(ctx: ApiContext, params: Params) -> Result:
    names = list(params["capacityProviders"])
    default = [normalized(item) for item in params["defaultCapacityProviderStrategy"]]
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params["cluster"])
        check_cluster_providers(tx, names, default)
        removed = set(cluster.get("capacityProviders") or []) - set(names)
        if removed:
            _check_unused(tx, cluster["clusterArn"], removed)
        cluster["capacityProviders"] = names
        cluster["defaultCapacityProviderStrategy"] = default
        tx.update(Kind.CLUSTER, cluster["clusterArn"], cluster)
        return {"cluster": present_cluster(tx, cluster, {"SETTINGS", "CONFIGURATIONS"})}


def _check_unused(tx: Tx, cluster_arn: str, removed: set[str]) -> None:
    """ResourceInUseException while a live service's strategy or a wanted task uses one."""
    for service in tx.find(
        Kind.SERVICE, {"cluster": cluster_arn, "status": ["ACTIVE", "DRAINING"]}
    ):
        used = {i["capacityProvider"] for i in service.get("capacityProviderStrategy") or []}
        if used & removed:
            raise ResourceInUseException(IN_USE)
    where = {
        "cluster": cluster_arn,
        "desired_status": "RUNNING",
        "capacity_provider": sorted(removed),
    }
    if tx.count(Kind.TASK, where):
        raise ResourceInUseException(IN_USE)
