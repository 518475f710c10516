"""The agent's task manager: converges this host's containers to the desired task set.

    desired set (from the server) --apply_desired--> one TaskWorker per task
    runtime events (one stream)   --on_event-------> the task's worker
    worker state changes          --report---------> outbox -> server

A full desired set (`apply_desired`) is level-triggered: tasks the server no
longer lists (given up while this agent was away) are stopped here. A delta
(`apply_delta`, wire/generations.py decides which) adds or changes the tasks it
lists and stops the ones it removes. At start the manager lists the engine's
containers with this instance's label and holds them until the first full set
arrives: known tasks are adopted, unknown ones stopped. Nothing runs twice:
container names are unique per task and container.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from dockyard.agent.awsvpc import LABEL_AWSVPC_ADDRESS
from dockyard.agent.metrics import RunningTask, reservation, service_of
from dockyard.agent.runtime import (
    LABEL_CONTAINER_INSTANCE,
    LABEL_TASK_ARN,
    ContainerState,
    RuntimeEvent,
)
from dockyard.agent.task_worker import TaskWorker, WorkerContext
from dockyard.wire.agent import DesiredTask, TaskReport

log = logging.getLogger("dockyard.agent")
MAX_FINISHED = 10_000  # tombstones kept after cleanup


class TaskManager:
    def __init__(self, ctx: WorkerContext, cleanup_wait_s: float) -> None:
        self.ctx = ctx
        self.cleanup_wait_s = cleanup_wait_s
        self.workers: dict[str, TaskWorker] = {}
        self.orphans: dict[str, list[ContainerState]] = {}
        # Final state of tasks already cleaned up: a task that ended never starts again,
        # even if a desired set that still lists it arrives late.
        self.finished: dict[str, TaskReport] = {}
        self.synced = asyncio.Event()  # set once the first desired set was applied
        self.desired: dict[str, DesiredTask] = {}  # latest desired entry per task (metrics)
        self._send: Callable[[TaskReport], None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._cleaning: set[str] = set()
        ctx.report = self._report

    # -- start-up -------------------------------------------------------------------------
    async def discover(self) -> None:
        """Find this instance's containers (an agent restart) before any desired set."""
        found = await self.ctx.runtime.list_containers(
            {LABEL_CONTAINER_INSTANCE: self.ctx.instance_arn, LABEL_TASK_ARN: None}
        )
        grouped: dict[str, list[ContainerState]] = defaultdict(list)
        for state in found:
            if state.task_arn:
                grouped[state.task_arn].append(state)
        self.orphans = dict(grouped)
        for arn, states in self.orphans.items():
            for state in states:
                for binding in state.ports:
                    self.ctx.picker.reserve(binding.host_port, binding.protocol)
                address = state.labels.get(LABEL_AWSVPC_ADDRESS)
                if address and self.ctx.awsvpc is not None:  # held until the task is gone
                    self.ctx.awsvpc.adopt(arn, address)
        log.info("found %d container(s) of %d task(s) on the engine", len(found), len(grouped))

    # -- outbox ---------------------------------------------------------------------------
    def attach(self, send: Callable[[TaskReport], None]) -> list[TaskReport]:
        """A connection is up: route reports to it; returns every task's current state."""
        self._send = send
        return [w.state() for w in self.workers.values()] + list(self.finished.values())

    def detach(self) -> None:
        self._send = None

    def _report(self, report: TaskReport) -> None:
        if self._send is not None:
            self._send(report)
        if report.get("lastStatus") == "STOPPED":
            self._schedule_cleanup(report["taskArn"])

    # -- inputs ---------------------------------------------------------------------------
    def apply_desired(self, tasks: list[DesiredTask]) -> None:
        """The full set: start or update what it lists, stop what it does not."""
        listed = {desired["taskArn"] for desired in tasks}
        for desired in tasks:
            self._upsert(desired)
        self._stop_unlisted([arn for arn in self.workers if arn not in listed])
        for arn in list(self.orphans):
            if arn not in listed:
                self._spawn(self._remove_orphan(arn, self.orphans.pop(arn)))
        self.synced.set()

    def apply_delta(self, tasks: list[DesiredTask], removed: list[str]) -> None:
        """Changes since the set this agent holds: upsert `tasks`, stop `removed`."""
        for desired in tasks:
            self._upsert(desired)
        self._stop_unlisted(removed)

    def _upsert(self, desired: DesiredTask) -> None:
        arn = desired["taskArn"]
        self.desired[arn] = desired
        worker = self.workers.get(arn)
        if worker is None and arn in self.finished:
            if self._send is not None:
                self._send(self.finished[arn])
            return
        if worker is None:
            adopted = self.orphans.pop(arn, None)
            worker = TaskWorker(self.ctx, desired)
            self.workers[arn] = worker
            worker.start(adopted)
        worker.set_desired(desired["desiredStatus"])

    def _stop_unlisted(self, arns: list[str]) -> None:
        for arn in arns:
            worker = self.workers.get(arn)
            if worker is not None and not worker.done:
                log.info("task %s is no longer desired here; stopping it", arn)
                worker.set_desired("STOPPED")

    def on_event(self, event: RuntimeEvent) -> None:
        arn = event.labels.get(LABEL_TASK_ARN)
        worker = self.workers.get(arn or "")
        if worker is not None:
            worker.on_event(event)

    def container_id(self, task_arn: str, container: str | None) -> str | None:
        """The engine id of a task's container (first one when no name is given)."""
        worker = self.workers.get(task_arn)
        if worker is None:
            return None
        records = list(worker.containers.values())
        record = next((r for r in records if container in (None, r.name)), None)
        return record.runtime_id if record else None

    def running_tasks(self) -> list[RunningTask]:
        """Tasks with running containers, for the metrics sampler."""
        out = []
        for arn, worker in self.workers.items():
            ids = tuple(
                c.runtime_id
                for c in worker.containers.values()
                if c.status == "RUNNING" and c.runtime_id
            )
            if ids:
                desired = self.desired.get(arn)
                out.append(
                    RunningTask(
                        arn,
                        service_of(desired.get("group") if desired else None),
                        reservation(
                            worker.definition, desired.get("overrides") if desired else None
                        ),
                        ids,
                    )
                )
        return out

    # -- cleanup --------------------------------------------------------------------------
    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _remove_orphan(self, arn: str, states: list[ContainerState]) -> None:
        """Containers of a task the server does not list: stop now, remove after the wait."""
        log.info("stopping %d container(s) of task %s, unknown to the server", len(states), arn)
        for state in states:
            if state.status == "running":
                await self.ctx.runtime.stop(state.id, self.ctx.default_stop_timeout_s)
        finished = max((s.finished_at or 0.0) for s in states)
        await asyncio.sleep(max(0.0, finished + self.cleanup_wait_s - time.time()))
        for state in states:
            await self.ctx.runtime.remove(state.id)
            for binding in state.ports:
                self.ctx.picker.release(binding.host_port, binding.protocol)
        if self.ctx.awsvpc is not None:
            self.ctx.awsvpc.release(arn)

    def _schedule_cleanup(self, arn: str) -> None:
        if arn in self._cleaning:
            return
        self._cleaning.add(arn)

        async def later() -> None:
            await asyncio.sleep(self.cleanup_wait_s)
            worker = self.workers.get(arn)
            if worker is not None:
                with contextlib.suppress(Exception):
                    await worker.cleanup()
                self.finished[arn] = worker.state()
                self.workers.pop(arn, None)
            self.desired.pop(arn, None)
            self._cleaning.discard(arn)
            while len(self.finished) > MAX_FINISHED:
                self.finished.pop(next(iter(self.finished)))

        self._spawn(later())

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        for worker in self.workers.values():
            await worker.cancel()
