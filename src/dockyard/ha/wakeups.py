"""What a commit by another server wakes on this one, by the kinds it wrote (pure).

    kinds (notify.py: names of the kinds written; None: unknown, e.g. after a reconnect)
      -> desired   rescan the desired sets of this server's agents (tasks, instances)
      -> services  (leader) reconcile every service: the payload names kinds, not services
      -> lb        (leader) wake the load-balancer controller
A write of any other kind (alarms, scaling, account settings, tags, history) wakes nothing:
the controllers that read those poll them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.store import Kind


def _names(*kinds: Kind) -> frozenset[str]:
    return frozenset(kind.name for kind in kinds)


DESIRED = _names(Kind.TASK, Kind.CONTAINER_INSTANCE)
SERVICES = _names(
    Kind.SERVICE,
    Kind.TASK,
    Kind.CONTAINER_INSTANCE,
    Kind.INSTANCE_CAPACITY,
    Kind.CLUSTER,
    Kind.CAPACITY_PROVIDER,
    Kind.TARGET_GROUP,
    Kind.TARGET,
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
    services: bool
    lb: bool


def wakeups(kinds: frozenset[str] | None, leader: bool) -> Wake:
    if kinds is None:
        return Wake(desired=True, services=leader, lb=leader)
    return Wake(
        desired=bool(kinds & DESIRED),
        services=leader and bool(kinds & SERVICES),
        lb=leader and bool(kinds & LB),
    )
