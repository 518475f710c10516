"""Instance liveness: an agent silent for longer than the grace period loses its tasks.

Pure part: `plan_lost_hosts(instances, now, grace)` picks the instances whose agent
has been disconnected for longer than `grace`. The loop marks their live tasks
STOPPED (stoppedReason says the host was lost); when such an agent comes back, its
desired set no longer holds those tasks and it stops their containers itself.
The loop also forgets STOPPED tasks after the retention period, as ECS does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockyard.api.context import ApiContext
from dockyard.lifecycle import LIVE_STATUSES, StopCode
from dockyard.store import Kind
from dockyard.tasks.reports import give_up

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


def step(ctx: ApiContext, settings: InstanceSettings, *, prune: bool = True) -> set[str]:
    """One pass; returns the instances whose tasks were given up."""
    now = ctx.now()
    touched: set[str] = set()
    with ctx.store.transaction() as tx:
        instances = tx.find(Kind.CONTAINER_INSTANCE, {"status": ["ACTIVE", "DRAINING"]})
        by_arn = {d["containerInstanceArn"]: d for d in instances}
        for arn in plan_lost_hosts(instances, now, settings.grace_s):
            doc = by_arn[arn]
            rows = tx.find(Kind.TASK, {"instance": arn, "last_status": list(LIVE_STATUSES)})
            if not rows:
                continue
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
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
            touched.add(arn)
            log.warning("%s: %d task(s) stopped", reason, len(rows))
        for task in tx.find(Kind.TASK, {"last_status": "STOPPED"}) if prune else []:
            if now - float(task.get("stoppedAt", now)) > settings.task_retention_s:
                tx.delete(Kind.TASK, task["taskArn"])
                tx.delete_all_tags(task["taskArn"])
    return touched


PRUNE_EVERY = 30  # steps between scans for expired STOPPED tasks


async def run(ctx: ApiContext, settings: InstanceSettings) -> None:
    ticks = 0
    while True:
        ticks += 1
        try:
            step(ctx, settings, prune=ticks % PRUNE_EVERY == 1)
        except Exception:
            log.exception("instance controller step failed; retrying")
        await asyncio.sleep(settings.interval_s)
