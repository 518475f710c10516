"""Instance liveness: an agent silent for longer than the grace period loses its tasks.

Pure part: `plan_lost_hosts(instances, now, grace)` picks the instances whose agent
has been disconnected for longer than `grace`. The loop marks their live tasks
STOPPED (stoppedReason says the host was lost); when such an agent comes back, its
desired set no longer holds those tasks and it stops their containers itself.
Which instances are away is kept in memory (`Away`, maintained by the agent hub), so
a pass reads only those, not every instance row; an instance whose tasks were given up
(or that had none) is forgotten until its agent comes and goes again or the slow reseed
finds it, so a pass costs nothing while no host is newly lost. A pass reads in a
read-only transaction and opens a write transaction only when there are tasks to give up.
The loop also forgets STOPPED tasks after the retention period, as ECS does: an
indexed range delete on (last_status, stopped_at), in batches of EXPIRY_BATCH tasks per
transaction, yielding between batches, so no pass holds the write lock or the event
loop for long at any number of tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockyard.context import ApiContext
from dockyard.lifecycle import LIVE_STATUSES, StopCode
from dockyard.store import Kind, Tx
from dockyard.store.offload import off_loop, requests_first
from dockyard.tasks.reports import give_up
from dockyard.wire import codec

log = logging.getLogger("dockyard.controllers.instances")


@dataclass(frozen=True)
class InstanceSettings:
    grace_s: float = 60.0
    task_retention_s: float = 3600.0
    interval_s: float = 2.0


def plan_lost_hosts(instances: Iterable[dict[str, Any]], now: float, grace_s: float) -> list[str]:
    """ARNs of instances whose agent has been away for longer than the grace period."""
    lost = []
    for doc in instances:
        if doc.get("agentConnected"):
            continue
        since = doc.get("disconnectedAt")
        if since is not None and now - float(since) > grace_s:
            lost.append(doc["containerInstanceArn"])
    return lost


def lost_reason(doc: dict[str, Any], grace_s: float) -> str:
    return (
        f"Host EC2 (instance {doc['ec2InstanceId']}) was lost: its agent has been disconnected "
        f"for more than {grace_s:g} seconds."
    )


def plan_expiry(
    tasks: Iterable[dict[str, Any]], now: float, retention_s: float
) -> tuple[list[str], dict[str, float]]:
    """(ARNs to delete, {ARN: stoppedAt to stamp}) for STOPPED tasks read by the expiry
    query: those past the retention go; unexpired ones were read because their row had
    no stamp yet (stopped before migration 0007): stamped from the document (or now)."""
    delete, stamp = [], {}
    for task in tasks:
        stopped = float(task.get("stoppedAt") or task.get("executionStoppedAt") or 0) or now
        if now - stopped > retention_s:
            delete.append(task["taskArn"])
        else:
            stamp[task["taskArn"]] = stopped
    return delete, stamp


EXPIRY_BATCH = 200  # tasks per transaction: a batch holds the write lock a few ms
EXPIRY_MAX_BATCHES = 50  # per pass; the rest waits for the next pass


def expire_batch(ctx: ApiContext, retention_s: float, batch: int = EXPIRY_BATCH) -> bool:
    """Delete one batch of STOPPED tasks past the retention (an indexed range on
    (last_status, stopped_at)); True when there may be more."""
    now = ctx.now()
    with ctx.store.transaction() as tx:
        rows = tx.find(
            Kind.TASK,
            {"last_status": "STOPPED"},
            order_by=("stopped_at",),
            descending=True,
            after=(now - retention_s,),
            limit=batch,
        )
        delete, stamp = plan_expiry(rows, now, retention_s)
        by_arn = {t["taskArn"]: t for t in rows}
        for arn in delete:
            tx.delete(Kind.TASK, arn)
            tx.delete_all_tags(arn)
        for arn, stopped in stamp.items():
            tx.update(Kind.TASK, arn, by_arn[arn], stopped_at=stopped)
    return len(rows) == batch


class Away:
    """Instances whose agent is not connected, with since when (process memory).

    Kept by the agent hub where agents connect and disconnect, seeded once at start
    (`AgentHub.mark_all_disconnected` touches every instance then anyway), so a
    controller pass costs O(disconnected instances), not O(instances). The store stays
    the truth: a pass re-reads each due instance before giving its tasks up, and a
    slow reseed (`seed`) heals anything the memory missed.
    """

    def __init__(self) -> None:
        self.since: dict[str, float] = {}

    def seed(self, since: dict[str, float]) -> None:
        self.since = dict(since)

    def disconnected(self, instance_arn: str, at: float) -> None:
        self.since[instance_arn] = at

    def connected(self, instance_arn: str) -> None:
        self.since.pop(instance_arn, None)

    def forget(self, instance_arn: str) -> None:
        """Stop watching an instance (deregistered, or its live tasks given up) until it
        disconnects again or the reseed finds it away."""
        self.since.pop(instance_arn, None)

    def due(self, now: float, grace_s: float) -> list[str]:
        """Instances away for longer than the grace period (pure: no store). A copy is
        iterated: on a blocking store a pass runs in a thread while the hub updates."""
        return [arn for arn, since in list(self.since.items()) if now - since > grace_s]


LIVE = sorted(LIVE_STATUSES)
# skips decoding connected instances (a hint only), in both spellings (wire/codec.py)
CONNECTED = ('"agentConnected":true', '"agentConnected": true')


def disconnected_since(tx: Tx) -> dict[str, float]:
    """{instance ARN: disconnectedAt} of ACTIVE/DRAINING instances whose agent is away
    (a full scan: at start and in the slow reseed only)."""
    out = {}
    for _arn, raw in tx.find_raw(Kind.CONTAINER_INSTANCE, {"status": ["ACTIVE", "DRAINING"]}):
        if isinstance(raw, str):
            if any(hint in raw for hint in CONNECTED):
                continue
            doc = codec.loads(raw)
        else:
            doc = dict(raw)
        if not doc.get("agentConnected") and doc.get("disconnectedAt") is not None:
            out[doc["containerInstanceArn"]] = float(doc["disconnectedAt"])
    return out


def step(
    ctx: ApiContext, settings: InstanceSettings, away: Away | None = None, *, prune: bool = True
) -> set[str]:
    """One pass; returns the instances whose tasks were given up. Without `away`
    (tests, tools), the disconnected instances are read from the store."""
    if away is None:
        away = Away()
        with ctx.store.read() as tx:
            away.seed(disconnected_since(tx))
    touched = give_up_lost_hosts(ctx, settings, away)
    if prune:
        for _ in range(EXPIRY_MAX_BATCHES):
            if not expire_batch(ctx, settings.task_retention_s):
                break
    return touched


def give_up_lost_hosts(ctx: ApiContext, settings: InstanceSettings, away: Away) -> set[str]:
    """Give up the live tasks of instances away past the grace period: reads only those
    (read-only), then writes only where there are live tasks; every instance read is
    forgotten (`Away.forget`) unless the store says it is away for a shorter time."""
    now = ctx.now()
    due = away.due(now, settings.grace_s)
    if not due:
        return set()
    with ctx.store.read() as tx:
        lost = [
            d["containerInstanceArn"]
            for d in _lost_with_tasks(tx, due, away, now, settings.grace_s)
        ]
    if not lost:
        return set()
    touched: set[str] = set()
    groups: set[tuple[str, str | None]] = set()
    stopped: list[str] = []
    with ctx.store.transaction() as tx:
        for doc in _lost_with_tasks(tx, lost, away, now, settings.grace_s):
            arn = doc["containerInstanceArn"]
            rows = tx.find(Kind.TASK, {"instance": arn, "last_status": LIVE})
            reason = lost_reason(doc, settings.grace_s)
            for task in rows:
                give_up(
                    tx,
                    task["taskArn"],
                    reason,
                    stop_code=StopCode.TERMINATION_NOTICE.value,
                    now=now,
                    instance=doc,
                )
                groups.add((task.get("clusterArn", ""), task.get("group")))
                stopped.append(task["taskArn"])
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
            touched.add(arn)
            log.warning("%s: %d task(s) stopped", reason, len(rows))
    for arn in touched:
        away.forget(arn)  # given up: watched again once it disconnects again
    if groups:
        ctx.tasks_changed(groups)
    if touched:
        ctx.desired_changed(touched, stopped)
    return touched


def _lost_with_tasks(
    tx: Tx, arns: Iterable[str], away: Away, now: float, grace_s: float
) -> list[dict[str, Any]]:
    """The documents of the instances of `arns` the store says are lost and that still
    hold live tasks; the others are forgotten (or, disconnected later than the memory
    knew, watched from then)."""
    lost = []
    for arn in arns:
        doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
        if doc is None or doc.get("status") not in {"ACTIVE", "DRAINING"}:
            away.forget(arn)  # deregistered
        elif not plan_lost_hosts([doc], now, grace_s):
            # The store says otherwise (connected, or a newer disconnectedAt): follow it.
            if doc.get("agentConnected") or doc.get("disconnectedAt") is None:
                away.forget(arn)
            else:
                away.disconnected(arn, float(doc["disconnectedAt"]))
        elif tx.find_keys(Kind.TASK, {"instance": arn, "last_status": LIVE}, limit=1):
            lost.append(doc)
        else:
            away.forget(arn)  # nothing to give up
    return lost


PRUNE_EVERY = 30  # steps between expiry passes
RESEED_EVERY = 900  # steps between full reseeds of `Away` from the store (a safety net)


def _read_disconnected(ctx: ApiContext) -> dict[str, float]:
    with ctx.store.read() as tx:
        return disconnected_since(tx)


async def run(ctx: ApiContext, settings: InstanceSettings, away: Away) -> None:
    """The loop; `away` is the agent hub's (seeded at start). Store work runs off the
    event loop on a blocking store (store/offload.py)."""
    ticks = 0
    while True:
        ticks += 1
        try:
            if ticks % RESEED_EVERY == 0:
                away.seed(await off_loop(ctx.store, _read_disconnected, ctx))
            await off_loop(ctx.store, give_up_lost_hosts, ctx, settings, away)
            if ticks % PRUNE_EVERY == 1:
                for _ in range(EXPIRY_MAX_BATCHES):
                    if not await off_loop(ctx.store, expire_batch, ctx, settings.task_retention_s):
                        break
                    await requests_first()  # a batch at a time
        except Exception:
            log.exception("instance controller step failed; retrying")
        await asyncio.sleep(settings.interval_s)
