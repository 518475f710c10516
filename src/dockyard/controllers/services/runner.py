"""The event-driven service controller: a service is reconciled when something it
depends on changed, never on a fixed tick over every service.

    what changed (ctx.on_change)              -> which services are queued
    tasks of (cluster, "service:NAME")           that service (ARN built, no read)
    a service (Create/Update/DeleteService,      that service
      scaling's desiredCount)
    target groups (LB health write-back)         the services behind them (an index
                                                 this runner keeps from its steps)
    instances (join, drain, leave, agent         their clusters' services (one indexed
      connects or disconnects)                     read of service ARNs)
    unknown (`ctx.tasks_changed()`)              every service

Each queued key runs `loop.reconcile_service` (one transaction, one service); the
runner yields to the event loop between services. A service not settled after its
step (still converging, or waiting for time to pass: grace periods, draining targets,
protection expiry) is looked at again after INTERVAL_S, doubling while its steps
change nothing, up to RECHECK_MAX_S. A failing step is retried with backoff.
The safety pass (`queue.SafetyPass`) queues every service once per SAFETY_PERIOD_S,
spread over the period, for whatever no event announced; with more than
SAFETY_PERIOD_S / SAFETY_SPACING_S services the pass lengthens to SAFETY_SPACING_S per
service, so its cost stays bounded (at most two steps a second) at any cluster size.

Task changes are paced: a service stepped less than its pace ago is queued for its
pace after that step, not at once. The pace is TASK_PACE_S plus PACE_PER_TASK_S per live
task (1,000 tasks: 1.5 s). A step reads the service's live tasks, so without pacing a
scale-up's stream of agent reports (PENDING -> RUNNING, a few tasks per message) re-read
a 1,000-task service dozens of times a second (bench/README.md, issue 9); with it a
service is stepped at most once per pace for its tasks' sake, and a task that stopped
is replaced within its pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from dockyard.arns import short_form
from dockyard.context import ApiContext, Changed
from dockyard.controllers.services.loop import INTERVAL_S, Outcome, reconcile_service
from dockyard.controllers.services.queue import SafetyPass, WorkQueue
from dockyard.store import Kind
from dockyard.store.offload import off_loop, requests_first

log = logging.getLogger("dockyard.controllers.services")
SAFETY_PERIOD_S = 30.0
SAFETY_SPACING_S = 0.5  # least time between two safety-pass steps (1,000 services: 500 s)
TASK_PACE_S = 0.5  # least time between two steps of a service caused by its tasks,
PACE_PER_TASK_S = 0.001  # and this much more per live task of the service
RECHECK_MAX_S = 5.0
WAKE_DEBOUNCE_S = 0.02  # let a burst of reports land together
LIVE_SERVICE = ["ACTIVE", "DRAINING"]


def service_arn_of_group(cluster_arn: str, group: str) -> str | None:
    """arn:...:cluster/C + "service:S" -> arn:...:service/C/S (the service's ARN)."""
    prefix, sep, cluster_name = cluster_arn.rpartition(":cluster/")
    if not sep or not group.startswith("service:"):
        return None
    return f"{prefix}:service/{cluster_name}/{group.removeprefix('service:')}"


def cluster_of_instance(instance_arn: str) -> str | None:
    """arn:...:container-instance/C/ID -> arn:...:cluster/C."""
    prefix, sep, path = instance_arn.rpartition(":container-instance/")
    cluster_name = path.split("/", 1)[0]
    return f"{prefix}:cluster/{cluster_name}" if sep and "/" in path else None


class ServiceRunner:
    """Owns the queue; `notify` is the context's `on_change` hook (any thread)."""

    def __init__(self, ctx: ApiContext, *, recheck_s: float = INTERVAL_S) -> None:
        self.ctx = ctx
        self.recheck_s = recheck_s
        self.queue = WorkQueue(base_delay_s=0.1, max_delay_s=30.0)
        self.safety = SafetyPass(SAFETY_PERIOD_S, SAFETY_SPACING_S)
        self._lock = threading.Lock()
        self._pending: list[Changed] = [Changed(everything=True)]  # everything once at start
        self._by_target_group: dict[str, set[str]] = defaultdict(set)
        self._short_services: set[str] = set()  # short-format service ARNs seen (resolve)
        self._idle_steps: dict[str, int] = {}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.steps = 0
        self._last_step: dict[str, float] = {}  # service -> when its last step ran
        self._live_tasks: dict[str, int] = {}  # service -> live tasks at its last step

    def notify(self, changed: Changed) -> None:
        with self._lock:
            self._pending.append(changed)
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    # -- changes -> keys ----------------------------------------------------------------

    def resolve(self) -> None:
        """Queue the services the pending changes concern."""
        with self._lock:
            pending, self._pending = self._pending, []
        everything = any(c.everything for c in pending)
        clusters: set[str] = set()
        short_instances: set[str] = set()  # short ARNs name no cluster: the store does
        for change in pending:
            for cluster_arn, group in change.task_groups:
                arn = service_arn_of_group(cluster_arn, group)
                if arn is not None:
                    self._add_paced(arn)
                    if short_form(arn) in self._short_services:  # serviceLongArnFormat off
                        self._add_paced(short_form(arn))
            self.queue.add_all(change.services)
            self._short_services.update(a for a in change.services if a == short_form(a))
            for group_arn in change.target_groups:
                self.queue.add_all(self._by_target_group.get(group_arn, ()))
            clusters |= {c for c in map(cluster_of_instance, change.instances) if c}
            short_instances |= {a for a in change.instances if not cluster_of_instance(a)}
        if everything or clusters or short_instances:
            with self.ctx.store.read() as tx:
                rows = [tx.get_row(Kind.CONTAINER_INSTANCE, a) for a in sorted(short_instances)]
                clusters |= {str(row["cluster"]) for row in rows if row is not None}
                where: dict[str, object] = {"status": LIVE_SERVICE}
                if not everything:
                    where["cluster"] = sorted(clusters)
                arns = tx.distinct(Kind.SERVICE, "arn", where) if everything or clusters else []
            self.queue.add_all(arns)
            self._short_services.update(a for a in arns if a == short_form(a))

    def _add_paced(self, arn: str) -> None:
        """Queue a service whose tasks changed, at most once per TASK_PACE_S."""
        last = self._last_step.get(arn)
        if last is None or self._loop is None:
            self.queue.add(arn)
            return
        now = self._loop.time()
        pace = TASK_PACE_S + PACE_PER_TASK_S * self._live_tasks.get(arn, 0)
        self.queue.add_after(arn, last + pace - now, now)

    def _remember(self, arn: str, outcome: Outcome) -> None:
        for group_arn in outcome.target_groups:
            self._by_target_group[group_arn].add(arn)
        for group_arn, arns in list(self._by_target_group.items()):
            if arn in arns and group_arn not in outcome.target_groups:
                arns.discard(arn)

    # -- one key ------------------------------------------------------------------------

    def process(self, arn: str, now: float) -> tuple[set[str], dict[str, dict[str, Any]]]:
        """Run one step for `arn` (popped from the queue) and schedule what follows;
        returns the instances and the tasks it started or stopped (their documents)."""
        self._last_step[arn] = now
        try:
            outcome = reconcile_service(self.ctx, arn)
        except Exception:
            delay = self.queue.retry(arn, now)
            log.exception("service %s: reconcile step failed; retrying in %.1fs", arn, delay)
            return set(), {}
        finally:
            self.queue.done(arn)
            self.steps += 1
        self.queue.forget(arn)
        self._remember(arn, outcome)
        if outcome.gone:  # nothing more to pace or back off: forget it
            self._last_step.pop(arn, None)
            self._live_tasks.pop(arn, None)
        else:
            self._live_tasks[arn] = outcome.live_tasks
        if outcome.more:  # a capped step (loop.MAX_STARTS_PER_STEP): the rest now
            self._idle_steps.pop(arn, None)
            self.queue.add(arn)
        elif outcome.settled:
            self._idle_steps.pop(arn, None)
        else:
            idle = 0 if outcome.progressed else self._idle_steps.get(arn, 0) + 1
            self._idle_steps[arn] = idle
            delay = min(self.recheck_s * 2**idle, RECHECK_MAX_S)
            self.queue.add_after(arn, delay, now)
        return outcome.touched, outcome.tasks

    def safety_pass(self, now: float) -> None:
        if self.safety.due(now):
            with self.ctx.store.read() as tx:
                arns = tx.distinct(Kind.SERVICE, "arn", {"status": LIVE_SERVICE})
            self.safety.start(arns, now)
        self.queue.add_all(self.safety.take(now))

    def wait_s(self, now: float) -> float:
        """How long the loop may sleep: until the next delayed key or safety release."""
        deadlines = [
            d for d in (self.queue.next_due(), self.safety.next_release()) if d is not None
        ]
        return max(0.0, min(deadlines, default=now + SAFETY_PERIOD_S) - now)

    # -- the loop -----------------------------------------------------------------------

    def _resolve_and_sweep(self, clock: Callable[[], float]) -> None:
        self.resolve()
        self.safety_pass(clock())

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.ctx.on_change = self.notify
        clock = self._loop.time
        store = self.ctx.store  # its work runs off the event loop when it blocks
        while True:
            self._wake.clear()
            try:
                await off_loop(store, self._resolve_and_sweep, clock)
            except Exception:
                log.exception("service controller: reading what changed failed; retrying")
            arn = self.queue.pop(clock())
            if arn is not None:
                touched, docs = await off_loop(store, self.process, arn, clock())
                self.ctx.desired_changed(touched, docs=docs)
                await requests_first()  # one service at a time
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.wait_s(clock()))
            if self._wake.is_set():
                await asyncio.sleep(WAKE_DEBOUNCE_S)
