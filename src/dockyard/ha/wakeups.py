"""What a commit by another server wakes on this one, by what it wrote (pure).

    Changes (notify.py: the kinds written and, for some kinds, what they touched;
             None: unknown, e.g. after a reconnect)
      -> desired   rescan the desired sets of this server's agents (tasks, instances)
      -> services  (leader) reconcile every service (the Changed's `everything`), or only
                   those the details name: task groups, services, instances, target groups
      -> lb        (leader) wake the load-balancer controller

Details (store/changes.py) are per kind: TASK -> (cluster ARN, group) pairs; SERVICE,
CONTAINER_INSTANCE, TARGET_GROUP -> their ARNs; TARGET -> target group ARNs. A kind written
without details is unknown: for TASK, SERVICE, CONTAINER_INSTANCE, TARGET_GROUP and TARGET
it wakes every service, as do CLUSTER and CAPACITY_PROVIDER. INSTANCE_CAPACITY wakes no
service (as on the server that wrote it: capacity freed is picked up by the service
runner's rechecks of unsettled services). A write of any other kind (alarms, scaling,
account settings, tags, history) wakes nothing: the controllers that read those poll them.
The server (server.py) turns a Wake into a `dockyard.context.Changed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.store import Kind

Key = str | tuple[str, str]  # an ARN, or a task's (cluster ARN, group)


@dataclass(frozen=True)
class Changes:
    """What commits of other servers wrote: the kinds, and per kind what they touched (a
    kind in `kinds` but not in `details`: unknown, anything of it may have changed)."""

    kinds: frozenset[str] = frozenset()
    details: Mapping[str, frozenset[Key]] = field(default_factory=dict)


def merge(a: Changes | None, b: Changes | None) -> Changes | None:
    """Both commits' changes: the union per kind; a kind unknown in either stays unknown."""
    if a is None or b is None:
        return None
    kinds = a.kinds | b.kinds
    details: dict[str, frozenset[Key]] = {}
    for kind in kinds:
        merged: set[Key] = set()
        for changes in (a, b):
            if kind in changes.kinds:
                part = changes.details.get(kind)
                if part is None:
                    break  # unknown in this one: unknown
                merged |= part
        else:
            details[kind] = frozenset(merged)
    return Changes(kinds, details)


def _names(*kinds: Kind) -> frozenset[str]:
    return frozenset(kind.name for kind in kinds)


DESIRED = _names(Kind.TASK, Kind.CONTAINER_INSTANCE)
EVERY_SERVICE = _names(Kind.CLUSTER, Kind.CAPACITY_PROVIDER)  # whatever the details
NARROWED = _names(  # the services these name; every service when their details are unknown
    Kind.TASK, Kind.SERVICE, Kind.CONTAINER_INSTANCE, Kind.TARGET_GROUP, Kind.TARGET
)
LB = _names(
    Kind.LOAD_BALANCER,
    Kind.LISTENER,
    Kind.RULE,
    Kind.TARGET_GROUP,
    Kind.TARGET,
    Kind.CERTIFICATE,
    Kind.CERTIFICATE_KEY,  # the leader writes HAProxy's files from these (lb/tls_writer.py)
    Kind.TRUST_STORE,
    Kind.TRUST_STORE_CONTENT,
    Kind.CONTAINER_INSTANCE,
)


@dataclass(frozen=True)
class Wake:
    desired: bool
    services: bool  # every service
    lb: bool
    task_groups: frozenset[tuple[str, str]] = frozenset()  # (cluster ARN, group)
    service_arns: frozenset[str] = frozenset()
    instances: frozenset[str] = frozenset()
    target_groups: frozenset[str] = frozenset()


def wakeups(changes: Changes | None, leader: bool) -> Wake:
    if changes is None:
        return Wake(desired=True, services=leader, lb=leader)
    kinds, details = changes.kinds, changes.details
    desired = bool(kinds & DESIRED)
    lb = leader and bool(kinds & LB)
    if not leader:
        return Wake(desired=desired, services=False, lb=False)
    unknown = any(kind not in details for kind in kinds & NARROWED)
    if unknown or kinds & EVERY_SERVICE:
        return Wake(desired=desired, services=True, lb=lb)

    def strings(kind: Kind) -> frozenset[str]:
        return frozenset(k for k in details.get(kind.name, ()) if isinstance(k, str))

    return Wake(
        desired=desired,
        services=False,
        lb=lb,
        task_groups=frozenset(k for k in details.get(Kind.TASK.name, ()) if isinstance(k, tuple)),
        service_arns=strings(Kind.SERVICE),
        instances=strings(Kind.CONTAINER_INSTANCE),
        target_groups=strings(Kind.TARGET_GROUP) | strings(Kind.TARGET),
    )
