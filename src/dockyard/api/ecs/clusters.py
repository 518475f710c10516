"""Clusters: CreateCluster, DescribeClusters, ListClusters, UpdateCluster, DeleteCluster.

A deleted cluster stays describable as INACTIVE (as in ECS) and CreateCluster
with its name makes it ACTIVE again under the same ARN.
"""

from __future__ import annotations

import re
from typing import Any

from dockyard.accounts.records import effective
from dockyard.api.ecs.tags import check_tags
from dockyard.api.pagination import finish, page_of
from dockyard.arns import parse_arn
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import (
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    ClusterNotFoundException,
    InvalidParameterException,
)
from dockyard.lifecycle import PENDING_STATUSES
from dockyard.store import Kind, Tx
from dockyard.tasks.provider_placement import check_cluster_providers, normalized
from dockyard.tasks.totals import totals_of

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")
DEFAULT_SETTINGS = [{"name": "containerInsights", "value": "disabled"}]
VALID_SETTINGS = {"containerInsights": {"enabled", "disabled", "enhanced"}}


def cluster_name(ref: str) -> str:
    """The cluster name in a name-or-ARN reference."""
    arn = parse_arn(ref)
    if arn is None:
        return ref
    if arn.service != "ecs" or arn.resource_type != "cluster" or not arn.resource_path:
        raise InvalidParameterException(f"The ARN '{ref}' is not a valid cluster ARN.")
    return arn.resource_path


def find_cluster(tx: Tx, ref: str | None) -> dict[str, Any] | None:
    rows = tx.find(Kind.CLUSTER, {"name": cluster_name(ref or "default")})
    return rows[0] if rows else None


def resolve_cluster(tx: Tx, ref: str | None) -> dict[str, Any]:
    """The ACTIVE cluster named by `ref` (name or ARN; default "default")."""
    cluster = find_cluster(tx, ref)
    if cluster is None or cluster["status"] != "ACTIVE":
        raise ClusterNotFoundException()
    return cluster


def _check_settings(settings: list[dict[str, str]]) -> None:
    for setting in settings:
        # name and value are optional in the model; a setting lacking either is invalid
        name, value = setting.get("name", ""), setting.get("value", "")
        allowed = VALID_SETTINGS.get(name)
        if allowed is None or value not in allowed:
            raise InvalidParameterException(
                f"Invalid cluster setting {name}={value}: "
                "containerInsights must be enabled, disabled or enhanced."
            )


def _counts(tx: Tx, arn: str) -> dict[str, int]:
    instances = tx.count(
        Kind.CONTAINER_INSTANCE, {"cluster": arn, "status": ["ACTIVE", "DRAINING"]}
    )
    tasks = totals_of(tx.store).counts(tx, arn)  # in memory, not counted per call
    running = tasks.get("RUNNING", 0)
    pending = sum(tasks.get(s, 0) for s in PENDING_STATUSES)
    return {
        "registeredContainerInstancesCount": instances,
        "runningTasksCount": running,
        "pendingTasksCount": pending,
        "activeServicesCount": tx.count(Kind.SERVICE, {"cluster": arn, "status": "ACTIVE"}),
    }


def present_cluster(tx: Tx, cluster: dict[str, Any], include: set[str]) -> dict[str, Any]:
    """The AWS shape of a cluster document (counts, and the `include`d parts)."""
    out = {k: v for k, v in cluster.items() if k not in {"settings", "configuration"}}
    out.update(_counts(tx, cluster["clusterArn"]))
    if "SETTINGS" in include:
        out["settings"] = cluster.get("settings", DEFAULT_SETTINGS)
    if "CONFIGURATIONS" in include and cluster.get("configuration"):
        out["configuration"] = cluster["configuration"]
    if "TAGS" in include:
        out["tags"] = tx.get_tags(cluster["clusterArn"])
    if "STATISTICS" in include:
        out["statistics"] = [
            {"name": "runningEC2TasksCount", "value": str(out["runningTasksCount"])},
            {"name": "runningFargateTasksCount", "value": "0"},
            {"name": "pendingEC2TasksCount", "value": str(out["pendingTasksCount"])},
            {"name": "pendingFargateTasksCount", "value": "0"},
            {"name": "activeEC2ServiceCount", "value": str(out["activeServicesCount"])},
            {"name": "activeFargateServiceCount", "value": "0"},
            {"name": "drainingEC2ServiceCount", "value": "0"},
            {"name": "drainingFargateServiceCount", "value": "0"},
        ]
    return out


def create_cluster(ctx: ApiContext, params: Params) -> Result:
    name = params.get("clusterName", "default")
    if not NAME.match(name):
        raise InvalidParameterException(
            "Cluster name must be 1-255 characters: letters, numbers, hyphens and underscores."
        )
    tags = params.get("tags", [])
    check_tags(tags)
    settings = list(params.get("settings", []))
    _check_settings(settings)
    with ctx.store.transaction() as tx:
        if not any(s["name"] == "containerInsights" for s in settings):  # the account's
            insights = effective(tx, ctx.identity, ["containerInsights"])[0].value
            settings.append({"name": "containerInsights", "value": insights})
        existing = find_cluster(tx, name)
        if existing is not None and existing["status"] == "ACTIVE":
            return {
                "cluster": present_cluster(tx, existing, {"SETTINGS", "CONFIGURATIONS", "TAGS"})
            }
        providers = list(params.get("capacityProviders", []))
        default = [normalized(i) for i in params.get("defaultCapacityProviderStrategy", [])]
        check_cluster_providers(tx, providers, default)
        arn = ctx.identity.ecs(f"cluster/{name}")
        cluster = {
            "clusterArn": arn,
            "clusterName": name,
            "status": "ACTIVE",
            "settings": settings,
            "capacityProviders": providers,
            "defaultCapacityProviderStrategy": default,
        }
        for optional in ("configuration", "serviceConnectDefaults"):
            if optional in params:
                cluster[optional] = params[optional]
        if existing is None:
            tx.insert(Kind.CLUSTER, arn, cluster, name=name, status="ACTIVE")
        else:
            tx.delete_all_tags(arn)
            tx.update(Kind.CLUSTER, arn, cluster, status="ACTIVE")
        tx.put_tags(arn, tags)
        return {"cluster": present_cluster(tx, cluster, {"SETTINGS", "CONFIGURATIONS", "TAGS"})}


def describe_clusters(ctx: ApiContext, params: Params) -> Result:
    include = set(params.get("include", []))
    refs = params.get("clusters") or ["default"]
    clusters, failures = [], []
    with ctx.store.read() as tx:
        for ref in refs:
            cluster = find_cluster(tx, ref)
            if cluster is None:
                arn = ref if parse_arn(ref) else ctx.identity.ecs(f"cluster/{ref}")
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                clusters.append(present_cluster(tx, cluster, include))
    return {"clusters": clusters, "failures": failures}


def list_clusters(ctx: ApiContext, params: Params) -> Result:
    page = page_of(params)
    with ctx.store.read() as tx:
        rows = tx.find(
            Kind.CLUSTER,
            {"status": "ACTIVE"},
            order_by=["arn"],
            after=page.after,
            limit=page.fetch,
        )
    items, token = finish(rows, page, lambda c: [c["clusterArn"]])
    result: Result = {"clusterArns": [c["clusterArn"] for c in items]}
    if token:
        result["nextToken"] = token
    return result


def update_cluster(ctx: ApiContext, params: Params) -> Result:
    if "settings" in params:
        _check_settings(params["settings"])
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params["cluster"])
        if "settings" in params:
            merged = {s["name"]: s for s in cluster.get("settings", DEFAULT_SETTINGS)}
            merged.update({s["name"]: s for s in params["settings"]})
            cluster["settings"] = list(merged.values())
        for field in ("configuration", "serviceConnectDefaults"):
            if field in params:
                cluster[field] = params[field]
        tx.update(Kind.CLUSTER, cluster["clusterArn"], cluster)
        return {"cluster": present_cluster(tx, cluster, {"SETTINGS", "CONFIGURATIONS"})}


def update_cluster_settings(ctx: ApiContext, params: Params) -> Result:
    return update_cluster(ctx, {"cluster": params["cluster"], "settings": params["settings"]})


def delete_cluster(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.transaction() as tx:
        cluster = resolve_cluster(tx, params["cluster"])
        arn = cluster["clusterArn"]
        counts = _counts(tx, arn)
        if counts["registeredContainerInstancesCount"]:
            raise ClusterContainsContainerInstancesException(
                "The Cluster cannot be deleted while Container Instances are active or draining."
            )
        if tx.count(Kind.SERVICE, {"cluster": arn, "status": ["ACTIVE", "DRAINING"]}):
            raise ClusterContainsServicesException(
                "The Cluster cannot be deleted while Services are active."
            )
        if counts["runningTasksCount"] or counts["pendingTasksCount"]:
            raise ClusterContainsTasksException(
                "The Cluster cannot be deleted while Tasks are active."
            )
        cluster["status"] = "INACTIVE"
        tx.update(Kind.CLUSTER, arn, cluster, status="INACTIVE")
        return {"cluster": present_cluster(tx, cluster, set())}
