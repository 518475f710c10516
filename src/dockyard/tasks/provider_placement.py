"""Capacity provider strategies at placement time: which strategy applies, how the
tasks split over its providers, and the constraint that keeps a share on its
provider's instances.

Role: the store-facing half of `scheduler.providers` (pure rules and split). The
API (RunTask, CreateService, UpdateService) calls `resolve_strategy` to check a
request's strategy against the cluster; `tasks.placement.place_tasks` calls `shares`
and places each share with `share_constraints`.

Membership: a container instance belongs to capacity provider P when its attribute
`ecs.capacity-provider-name` is P (the agent sets it from `--capacity-provider` /
ECS_CAPACITY_PROVIDER, or PutAttributes does). The constraint is a memberOf on that
attribute, evaluated on the scheduler's attribute index like any other. FARGATE and
FARGATE_SPOT shares add no constraint: any instance that fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dockyard.errors import InvalidParameterException
from dockyard.scheduler.filters import MAX_CONSTRAINTS
from dockyard.scheduler.providers import FARGATE_PROVIDERS, parse_strategy_items, split
from dockyard.store import Kind, Tx

PROVIDER_ATTRIBUTE = "ecs.capacity-provider-name"
BOTH_GIVEN = (
    "Specifying both a launch type and capacity provider strategy is not supported. "
    "Remove one and try again."
)
NOT_ASSOCIATED = (
    "The specified capacity provider strategy cannot contain a capacity provider that is "
    "not associated with the cluster. Associate the capacity provider with the cluster or "
    "specify a valid capacity provider and try again."
)


def resolve_strategy(cluster: Mapping[str, Any], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The capacity provider strategy a RunTask/CreateService request runs with: its
    own, else (no launchType either) the cluster's default; [] means launchType.

    Raises InvalidParameterException for both given, a malformed strategy, or a
    provider the cluster does not list."""
    given = params.get("capacityProviderStrategy")
    if given and params.get("launchType"):
        raise InvalidParameterException(BOTH_GIVEN)
    if given is None and not params.get("launchType"):
        given = cluster.get("defaultCapacityProviderStrategy") or []
    strategy = [normalized(item) for item in given or []]
    check_for_cluster(cluster, strategy)
    return strategy


def normalized(item: Mapping[str, Any]) -> dict[str, Any]:
    """A strategy item as ECS describes it: base and weight always present."""
    return {
        "capacityProvider": item.get("capacityProvider", ""),
        "weight": int(item.get("weight", 0) or 0),
        "base": int(item.get("base", 0) or 0),
    }


def check_for_cluster(cluster: Mapping[str, Any], strategy: Sequence[Mapping[str, Any]]) -> None:
    """ECS's item rules, then: every provider is associated with the cluster."""
    items = parse_strategy_items(strategy)
    listed = set(cluster.get("capacityProviders") or [])
    for item in items:
        if item.provider not in listed:
            raise InvalidParameterException(NOT_ASSOCIATED)


def provider_counts(
    tx: Tx, cluster_arn: str, group: str, providers: Iterable[str], started_by: str | None = None
) -> dict[str, int]:
    """Tasks of `group` (of one deployment: `started_by`) still wanted (desiredStatus
    RUNNING) on each of `providers` (a strategy's: at most 6): one indexed count each,
    no document read."""
    where: dict[str, Any] = {
        "cluster": cluster_arn,
        "task_group": group,
        "desired_status": "RUNNING",
    }
    if started_by is not None:
        where["started_by"] = started_by
    return {name: tx.count(Kind.TASK, {**where, "capacity_provider": name}) for name in providers}


def shares(
    tx: Tx,
    cluster_arn: str,
    strategy: Sequence[Mapping[str, Any]],
    count: int,
    group: str,
    *,
    keep_split: bool,
    started_by: str | None = None,
) -> list[tuple[str, int]]:
    """(provider, tasks) for `count` new tasks. `keep_split`: bases and weights count the
    wanted tasks of the group (and deployment, `started_by`) already placed (services);
    otherwise this call alone (RunTask, as ECS applies a strategy per call)."""
    items = parse_strategy_items(strategy)
    existing = {}
    if keep_split:
        names = {item.provider for item in items}
        existing = provider_counts(tx, cluster_arn, group, names, started_by)
    return split(items, count, existing)


def share_constraints(
    provider: str, constraints: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """`constraints` plus "instance in `provider`" (none for FARGATE*). At the limit of
    10 constraints it joins the last memberOf expression instead of adding one."""
    if provider in FARGATE_PROVIDERS:
        return list(constraints)
    expression = f"attribute:{PROVIDER_ATTRIBUTE} == {provider}"
    out = list(constraints)
    if len(out) < MAX_CONSTRAINTS:
        return [*out, {"type": "memberOf", "expression": expression}]
    for index in range(len(out) - 1, -1, -1):
        if str(out[index].get("type", "")).lower() == "memberof":
            joined = f"({out[index]['expression']}) and {expression}"
            out[index] = {"type": "memberOf", "expression": joined}
            return out
    return [*out, {"type": "memberOf", "expression": expression}]


def check_cluster_providers(
    tx: Tx, names: Sequence[str], default: Sequence[Mapping[str, Any]]
) -> None:
    """A cluster's capacityProviders and defaultCapacityProviderStrategy (CreateCluster,
    PutClusterCapacityProviders): existing ACTIVE providers (or FARGATE*), no duplicates,
    and a default strategy drawn from the list."""
    if len(set(names)) != len(names):
        raise InvalidParameterException(
            "The specified capacity providers cannot contain duplicates."
        )
    for name in names:
        if name in FARGATE_PROVIDERS:
            continue
        rows = tx.find(Kind.CAPACITY_PROVIDER, {"name": name, "status": "ACTIVE"})
        if not rows:
            raise InvalidParameterException(
                f"The specified capacity provider {name} does not exist. Specify a valid "
                "capacity provider and try again."
            )
    check_for_cluster({"capacityProviders": list(names)}, default)
