"""Target health as ELBv2 reports it, from HAProxy's view of a server: a pure function.

    draining target               -> draining   Target.DeregistrationInProgress
    group not used by a listener  -> unused     Target.NotInUse
    instance gone                 -> unused     Target.InvalidState
    not (yet) a live server, or   -> initial    Elb.RegistrationInProgress (or as stored)
      no host address known yet
    UP (also "UP 1/2", DRAIN)     -> healthy
    DOWN, never healthy, not yet
      `fall` failed checks        -> initial    Elb.InitialHealthChecking
    DOWN otherwise                -> unhealthy  Target.ResponseCodeMismatch (L7STS),
                                                Target.Timeout (L4/L6/L7TOUT),
                                                Target.FailedHealthChecks (the rest:
                                                L4CON refused, L6RSP, L7RSP, ...)

Network load balancers' TCP checks are HAProxy's plain `check` (a connect): L4OK is
healthy, L4TOUT Target.Timeout, L4CON (refused or reset) Target.FailedHealthChecks, as
ELB reports an NLB target whose health check connection failed.

Neighbours: `runtime_api.ServerStat` (input), `controller.py` (writes the result
into TARGET rows when it changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dockyard.lb.model import LbModel, Target, TargetGroup, backend_name
from dockyard.lb.render import serves
from dockyard.lb.runtime_api import ServerStat

Health = dict[str, str]
TIMEOUTS = {"L4TOUT", "L6TOUT", "L7TOUT"}
OK_CHECKS = ("L4OK", "L6OK", "L7OK")  # L7OKC too; "" and INI: no check ran yet


def _health(state: str, reason: str | None = None, description: str | None = None) -> Health:
    health = {"State": state}
    if reason is not None:
        health["Reason"] = reason
    if description is not None:
        health["Description"] = description
    return health


DRAINING = _health(
    "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
)
NOT_IN_USE = _health(
    "unused",
    "Target.NotInUse",
    "Target group is not configured to receive traffic from the load balancer",
)
INVALID = _health("unused", "Target.InvalidState", "Target is in the stopped state")
REGISTERING = _health("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
CHECKING = _health("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
HEALTHY = _health("healthy")


def _failed_initial_checks(stat: ServerStat, group: TargetGroup) -> bool:
    """Whether a target that never was healthy has failed `UnhealthyThresholdCount` checks.

    HAProxy counts failed checks (`chkfail`) only while a server is UP, and a new server
    is held DOWN, so: its last check failed and it has been DOWN for that many intervals.
    """
    if stat.check_failures >= group.unhealthy_threshold:
        return True
    status = stat.check_status
    failing = status not in {"", "INI"} and not status.startswith(OK_CHECKS)
    return failing and stat.changed_s >= group.interval_s * group.unhealthy_threshold


def target_health(target: Target, group: TargetGroup | None, stat: ServerStat | None) -> Health:
    if target.draining:
        return DRAINING
    if group is None or not group.in_use:
        return NOT_IN_USE
    if not target.instance_live:
        return INVALID
    if target.address is None or stat is None or stat.status.startswith("MAINT"):
        return dict(target.health) if target.state in {"healthy", "unhealthy"} else REGISTERING
    if stat.up:
        return HEALTHY
    if target.state == "initial" and not _failed_initial_checks(stat, group):
        return CHECKING
    if stat.check_status == "L7STS":
        codes = f"[{stat.check_code}]" if stat.check_code else "[]"
        return _health(
            "unhealthy",
            "Target.ResponseCodeMismatch",
            f"Health checks failed with these codes: {codes}",
        )
    if stat.check_status in TIMEOUTS:
        return _health("unhealthy", "Target.Timeout", "Request timed out")
    return _health("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def health_changes(
    model: LbModel, stats: Mapping[tuple[str, str], ServerStat] | None
) -> dict[str, Health]:
    """Target key -> new TargetHealth, for the targets whose health differs from the stored one.

    `stats` None means HAProxy is not running: servers keep their stored health
    (only draining/unused, which need no HAProxy, are still derived).
    """
    groups = {g.arn: g for g in model.target_groups}
    changes: dict[str, Health] = {}
    for target in model.targets:
        group = groups.get(target.group)
        stat = None
        if stats is not None and group is not None:
            stat = stats.get((backend_name(group), target.server))
        if stats is None and serves(target, group):
            health: Mapping[str, Any] = target.health or REGISTERING
        else:
            health = target_health(target, group, stat)
        if dict(health) != dict(target.health) or health["State"] != target.state:
            changes[target.key] = dict(health)
    return changes
