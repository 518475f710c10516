"""The scaling controller: alarm invocations and scheduled actions -> desiredCount.

Neighbours: the alarm controller hands each action naming a scaling policy
(`arn:aws:autoscaling:...`) to `ScalingController.sink` through the router on
`ApiContext.alarm_actions`; the sink only queues it (the alarm controller may be
inside its own transaction), and the loop evaluates it in a transaction of its own:

    invocation -> policy + scalable target + service -> autoscaling.policy (pure)
               -> Decision -> set_desired_count (UpdateService's path) + service event
               + scaling activity + cooldown state -> the service controller wakes

Every ~2 s the loop also runs scheduled actions that are due (`autoscaling.schedule`):
they change MinCapacity/MaxCapacity, and the desired count follows into the new bounds.
Decisions AWS reports (scaled, or not scaled at a limit) become scaling activities;
skips AWS does not report (cooldown, suspension, no matching step) are only logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from dockyard.alarms.actions import AlarmInvocation
from dockyard.autoscaling import policy, schedule
from dockyard.autoscaling.records import find_service, find_target, record_activity
from dockyard.context import ApiContext
from dockyard.controllers.services.desired import set_desired_count
from dockyard.services.documents import add_event
from dockyard.store import Kind, Tx
from dockyard.store.offload import off_loop

log = logging.getLogger("dockyard.controllers.scaling")
PREFIX = "arn:aws:autoscaling:"
INTERVAL_S = 2.0


@dataclass(frozen=True)
class ScalingSettings:
    interval_s: float = INTERVAL_S  # how often scheduled actions are checked


def load_service(tx: Tx, ctx: ApiContext, target: dict[str, Any]) -> dict[str, Any] | None:
    service = find_service(tx, ctx.identity, target["ResourceId"])  # either ARN format
    return service if service is not None and service["status"] == "ACTIVE" else None


def apply_desired(
    tx: Tx, target: dict[str, Any], service: dict[str, Any], desired: int, *, cause: str, now: float
) -> dict[str, Any]:
    """Set desiredCount as UpdateService does, with a service event and an activity."""
    before = int(service["desiredCount"])
    set_desired_count(service, desired, now)
    add_event(
        service,
        f"(service {service['serviceName']}) Application Auto Scaling set the desired count "
        f"from {before} to {desired}: {cause}.",
        now,
    )
    tx.update(Kind.SERVICE, service["serviceArn"], service)
    return record_activity(
        tx,
        target,
        description=f"Setting desired count to {desired}.",
        cause=cause,
        now=now,
        message=f"Successfully set desired count to {desired}. "
        "Change successfully fulfilled by ecs.",
    )


def record_not_scaled(
    tx: Tx, target: dict[str, Any], decision: policy.Decision, cause: str, now: float
) -> dict[str, Any]:
    reason: dict[str, Any] = {"Code": decision.not_scaled, "CurrentCapacity": decision.desired}
    if decision.not_scaled == policy.AT_MAX:
        reason["MaxCapacity"] = target["MaxCapacity"]
    elif decision.not_scaled == policy.AT_MIN:
        reason["MinCapacity"] = target["MinCapacity"]
    return record_activity(
        tx,
        target,
        description=f"Setting desired count to {decision.desired}.",
        cause=cause,
        now=now,
        status="Failed",
        message=f"Desired count not changed: {decision.not_scaled}.",
        not_scaled=[reason],
    )


def clamp_to_bounds(ctx: ApiContext, tx: Tx, target: dict[str, Any], cause: str) -> bool:
    """After a min/max change: bring desiredCount into [min, max]; True when it changed."""
    service = load_service(tx, ctx, target)
    if service is None:
        return False
    capacity = policy.Capacity(
        int(service["desiredCount"]), target["MinCapacity"], target["MaxCapacity"]
    )
    decision = policy.clamp_only(capacity, policy.Cooldown())
    if not decision.scaled:
        return False
    apply_desired(tx, target, service, decision.desired, cause=cause, now=ctx.now())
    return True


def _decide(
    scaling_policy: dict[str, Any],
    invocation: AlarmInvocation,
    capacity: policy.Capacity,
    target: dict[str, Any],
    now: float,
) -> policy.Decision:
    cooldown = policy.Cooldown.from_doc(target.get("_cooldown"))
    suspended = policy.Suspended.from_doc(target.get("SuspendedState"))
    if scaling_policy["PolicyType"] == "TargetTrackingScaling":
        config = scaling_policy["TargetTrackingScalingPolicyConfiguration"]
        return policy.target_tracking(
            capacity,
            invocation.metric_value,
            float(config["TargetValue"]),
            cooldown=cooldown,
            suspended=suspended,
            disable_scale_in=bool(config.get("DisableScaleIn")),
            scale_out_cooldown=float(config.get("ScaleOutCooldown", 300)),
            scale_in_cooldown=float(config.get("ScaleInCooldown", 300)),
            now=now,
        )
    if invocation.threshold is None:
        return policy.Decision(capacity.current, False, policy.NO_DATA, cooldown)
    return policy.step_scaling(
        capacity,
        invocation.metric_value,
        invocation.threshold,
        scaling_policy["StepScalingPolicyConfiguration"],
        cooldown=cooldown,
        suspended=suspended,
        now=now,
    )


def handle_invocation(ctx: ApiContext, invocation: AlarmInvocation) -> bool:
    """Evaluate one alarm invocation of a scaling policy; True when desiredCount changed."""
    with ctx.store.transaction() as tx:
        scaling_policy = tx.get(Kind.SCALING_POLICY, invocation.action_arn)
        if scaling_policy is None:
            log.info(
                "alarm %s names an unknown policy %s", invocation.alarm_name, invocation.action_arn
            )
            return False
        target = find_target(
            tx,
            scaling_policy["ServiceNamespace"],
            scaling_policy["ResourceId"],
            scaling_policy["ScalableDimension"],
        )
        service = load_service(tx, ctx, target) if target is not None else None
        if target is None or service is None:
            return False
        now = ctx.now()
        capacity = policy.Capacity(
            int(service["desiredCount"]), target["MinCapacity"], target["MaxCapacity"]
        )
        decision = _decide(scaling_policy, invocation, capacity, target, now)
        cause = (
            f"monitor alarm {invocation.alarm_name} in state {invocation.state} "
            f"triggered policy {scaling_policy['PolicyName']}"
        )
        if decision.scaled:
            apply_desired(tx, target, service, decision.desired, cause=cause, now=now)
            target["_cooldown"] = decision.cooldown.to_doc()
            tx.update(Kind.SCALABLE_TARGET, target["ScalableTargetARN"], target)
            return True
        if decision.recorded:
            record_not_scaled(tx, target, decision, cause, now)
        else:
            log.debug("%s: not scaled (%s)", cause, decision.not_scaled)
        return False


def run_scheduled(ctx: ApiContext, now: float) -> bool:
    """Run every scheduled action that is due; True when some desiredCount changed."""
    changed = False
    with ctx.store.read() as tx:
        keys = [doc["ScheduledActionARN"] for doc in tx.find(Kind.SCHEDULED_ACTION)]
    for key in keys:
        try:
            changed |= _run_one(ctx, key, now)
        except Exception:
            log.exception("scheduled action %s failed; retrying next tick", key)
    return changed


def _run_one(ctx: ApiContext, key: str, now: float) -> bool:
    with ctx.store.transaction() as tx:
        action = tx.get(Kind.SCHEDULED_ACTION, key)
        if action is None:
            return False
        last = float(action.get("_lastRun") or action["CreationTime"])
        due = schedule.next_run(
            schedule.parse(action["Schedule"]),
            last,
            timezone=action.get("Timezone"),
            start=action.get("StartTime"),
            end=action.get("EndTime"),
            created=float(action["CreationTime"]),
        )
        if due is None or due > now:
            return False
        action["_lastRun"] = now
        tx.update(Kind.SCHEDULED_ACTION, key, action)
        target = find_target(
            tx, action["ServiceNamespace"], action["ResourceId"], action["ScalableDimension"]
        )
        if target is None or (target.get("SuspendedState") or {}).get("ScheduledScalingSuspended"):
            return False
        wanted = action.get("ScalableTargetAction") or {}
        for field in ("MinCapacity", "MaxCapacity"):
            if field in wanted:
                target[field] = int(wanted[field])
        target["MaxCapacity"] = max(target["MaxCapacity"], target["MinCapacity"])
        tx.update(Kind.SCALABLE_TARGET, target["ScalableTargetARN"], target)
        cause = f"scheduled action name {action['ScheduledActionName']} was triggered"
        record_activity(
            tx,
            target,
            description=f"Setting min capacity to {target['MinCapacity']} and max capacity to "
            f"{target['MaxCapacity']}",
            cause=cause,
            now=now,
            message=f"Successfully set min capacity to {target['MinCapacity']} and max capacity "
            f"to {target['MaxCapacity']}",
        )
        bound = "minimum" if "MinCapacity" in wanted else "maximum"
        value = target["MinCapacity"] if bound == "minimum" else target["MaxCapacity"]
        return clamp_to_bounds(ctx, tx, target, f"{bound} capacity was set to {value}")


class ScalingController:
    """Queues alarm invocations (the sink) and applies them, plus scheduled actions."""

    def __init__(self, ctx: ApiContext, settings: ScalingSettings | None = None) -> None:
        self.ctx = ctx
        self.settings = settings or ScalingSettings()
        self._queue: deque[AlarmInvocation] = deque()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def sink(self, invocation: AlarmInvocation) -> None:
        """The ActionSink: queue and wake the loop (safe from any thread)."""
        self._queue.append(invocation)
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def register(self) -> None:
        if self.ctx.alarm_actions is not None:
            self.ctx.alarm_actions.register(PREFIX, self.sink)

    def drain(self) -> bool:
        changed = False
        while self._queue:
            invocation = self._queue.popleft()
            try:
                changed |= handle_invocation(self.ctx, invocation)
            except Exception:
                log.exception("scaling policy %s: invocation failed", invocation.action_arn)
        return changed

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.register()
        next_schedule = 0.0
        store = self.ctx.store  # its work runs off the event loop when it blocks
        while True:
            changed = await off_loop(store, self.drain)
            if self._loop.time() >= next_schedule:
                next_schedule = self._loop.time() + self.settings.interval_s
                try:
                    changed |= await off_loop(store, run_scheduled, self.ctx, self.ctx.now())
                except Exception:
                    log.exception("scheduled actions pass failed; retrying")
            if changed:
                self.ctx.tasks_changed()
            self._wake.clear()
            if self._queue:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.interval_s)
