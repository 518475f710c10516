"""Runtime-API plan: what to do to HAProxy's servers so they match the model, without a reload.

    (model, show stat, now) -> Plan
        add     live target without a server: add, enable health, enable, health down
        address server whose target moved: set addr/port
        ready   live target whose server sits in MAINT or DRAIN (re-registered)
        drain   draining target still taking new requests
        remove  draining target whose drain ended, or an idle server nobody owns
        maint   draining target at the end of the delay whose sessions may outlive it
                (connection_termination off): no new requests; deleted once idle
        delete  TARGET rows whose deregistration is complete
        stamp   draining targets without `drainingSince` (the clock starts now)

A drain ends as ELB ends it: as soon as HAProxy shows the server in DRAIN/MAINT
with no current session (`scur`) and no queued request (`qcur`), or when
`deregistration_delay.timeout_seconds` has passed, whichever is first. A draining
target without a server (left out by a reload) is done once no old worker is
left that could still be serving it (`old_workers`).

Only backends that HAProxy runs are planned: a backend that appears or
disappears is a structural change, which the controller handles with a reload
(if that reload failed, the backends both sides know are still kept right).
Pure; the controller applies the plan, and level-triggering heals any step
that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.lb.model import LbModel, Target, TargetGroup, backend_name
from dockyard.lb.render import server_options, serves
from dockyard.lb.runtime_api import ServerStat, Stats


@dataclass(frozen=True)
class ServerOp:
    kind: str  # add | address | ready | drain | maint | remove
    backend: str
    server: str
    address: str = ""
    port: int = 0
    options: str = ""
    up: bool = False  # ready/add: keep it UP (it was healthy) instead of DOWN until `rise`
    cookie: bool = False  # add: the backend uses dynamic cookies
    key: str = ""  # remove of a draining target: its row goes once the server is gone


@dataclass
class Plan:
    ops: list[ServerOp] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # target keys
    stamp: list[str] = field(default_factory=list)  # target keys

    def __bool__(self) -> bool:
        return bool(self.ops or self.delete or self.stamp)


def plan_runtime(model: LbModel, stats: Stats, now: float, *, old_workers: bool = True) -> Plan:
    plan = Plan()
    groups = {g.arn: g for g in model.target_groups if backend_name(g) in stats.backends}
    current = stats.by_ref()
    owned: set[tuple[str, str]] = set()
    for target in model.targets:
        group = groups.get(target.group)
        if group is None:
            continue
        ref = (backend_name(group), target.server)
        owned.add(ref)
        stat = current.get(ref)
        if target.draining:
            _drain(plan, target, group, stat, now, old_workers=old_workers)
        elif serves(target, group):
            _keep(plan, target, group, stat)
    for ref, stat in current.items():
        if ref not in owned and _planned_backend(ref[0], model):  # else: gone at next reload
            if stat.status.startswith("MAINT") and not _idle(stat):
                continue  # a drain that ended with its sessions left open
            plan.ops.append(ServerOp("remove", stat.backend, stat.server))
    return plan


def _planned_backend(backend: str, model: LbModel) -> bool:
    return any(backend_name(g) == backend and g.in_use for g in model.target_groups)


def _keep(plan: Plan, target: Target, group: TargetGroup, stat: ServerStat | None) -> None:
    backend = backend_name(group)
    assert target.address is not None
    if stat is None:
        plan.ops.append(
            ServerOp(
                "add",
                backend,
                target.server,
                target.address,
                target.port,
                server_options(group),
                cookie=group.stickiness_s is not None,
            )
        )
        return
    if stat.address != f"{target.address}:{target.port}":
        plan.ops.append(ServerOp("address", backend, target.server, target.address, target.port))
    if stat.status.startswith(("MAINT", "DRAIN")):
        up = target.state == "healthy" or stat.status.startswith("DRAIN")
        plan.ops.append(ServerOp("ready", backend, target.server, up=up))


def _idle(stat: ServerStat) -> bool:
    return stat.current_sessions == 0 and stat.queued == 0


def _drain(
    plan: Plan,
    target: Target,
    group: TargetGroup,
    stat: ServerStat | None,
    now: float,
    *,
    old_workers: bool,
) -> None:
    if target.draining_since is None:
        plan.stamp.append(target.key)
        since = now
    else:
        since = target.draining_since
    expired = not group.in_use or now - since >= group.deregistration_delay_s
    if stat is None:
        if expired or not old_workers:
            plan.delete.append(target.key)
        return
    draining = stat.status.startswith(("DRAIN", "MAINT"))
    if not draining and not expired:
        plan.ops.append(ServerOp("drain", stat.backend, stat.server))
        return
    if (draining and _idle(stat)) or (expired and group.terminate_on_deregistration):
        plan.ops.append(ServerOp("remove", stat.backend, stat.server, key=target.key))
    elif expired:
        if not stat.status.startswith("MAINT"):
            plan.ops.append(ServerOp("maint", stat.backend, stat.server, key=target.key))
    else:
        return
    plan.delete.append(target.key)
