"""What each agent should run, kept as generations and sent as deltas (server side).

    ctx.desired_changed(instances, task_arns) -> changed()   (after a commit)
        -> flush(), once per event-loop turn: one read transaction for every task named
           (or a rescan of an instance when no task was named) -> InstanceView.record
        -> wake(instance): that connection's sender calls message_for()

The bookkeeping (generations, acknowledgements, what was sent) is pure code in
wire/generations.py; this module adds the store reads and a cache of task
definitions (immutable once registered). Work per change is proportional to the
tasks that changed, not to the tasks of the instance: an instance's whole set is
read only on connect, on a resync that needs a full set, when a caller did not name
its tasks, and on a slow safety rescan.

Threads: not thread-safe; on a blocking store the agent hub makes every call from one
thread of its own (api/agent_channel.py `Serial`), which `schedule` then defers the
flush to, so the reads never run on the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dockyard.lifecycle import LIVE_STATUSES
from dockyard.store import Kind, Store, Tx
from dockyard.store.base import in_chunks
from dockyard.wire.agent import ACK_TIMEOUT_S, DesiredMessage, WireTask
from dockyard.wire.generations import InstanceView

MAX_DEFINITIONS = 4096  # task definitions kept in memory


def wire_task(doc: dict[str, Any] | None) -> WireTask | None:
    """A task document as a desired entry; None when it is no longer live."""
    if doc is None or doc.get("lastStatus") not in LIVE_STATUSES:
        return None
    entry: WireTask = {
        "taskArn": doc["taskArn"],
        "desiredStatus": doc["desiredStatus"],
        "lastStatus": doc["lastStatus"],
        "taskDefinitionArn": doc["taskDefinitionArn"],
        "overrides": doc.get("overrides", {}),
        "containers": [
            {"name": c["name"], "containerArn": c["containerArn"]} for c in doc["containers"]
        ],
    }
    if doc.get("group"):
        entry["group"] = doc["group"]
    return entry


class DesiredSets:
    """The server's view of every agent's desired set (kept across its reconnects)."""

    def __init__(
        self,
        store: Store,
        wake: Callable[[str], None],
        *,
        ack_timeout_s: float = ACK_TIMEOUT_S,
        schedule: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.store = store
        self.wake = wake
        # How the flush is deferred until the current burst of changes is in (None: to
        # the end of this event-loop turn, or now when called outside a loop).
        self.schedule = schedule
        self.ack_timeout_s = ack_timeout_s
        self.views: dict[str, InstanceView] = {}
        self._generations = itertools.count(time.time_ns())
        self._definitions: dict[str, dict[str, Any]] = {}
        self._changed_tasks: set[str] = set()
        self._docs: dict[str, dict[str, Any]] = {}  # committed documents handed over
        self._rescan: set[str] = set()
        self._flush_scheduled = False

    def view(self, instance_arn: str) -> InstanceView:
        view = self.views.get(instance_arn)
        if view is None:
            view = self.views[instance_arn] = InstanceView(lambda: next(self._generations))
        return view

    # -- changes ----------------------------------------------------------------------------
    def changed(
        self,
        instance_arns: Iterable[str],
        task_arns: Iterable[str] | None,
        docs: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """Note a commit's changes; they are read once, at the end of this loop turn -
        except tasks whose committed document the writer handed over (`docs`: a
        scale-up's placements are not read back)."""
        tracked = [arn for arn in instance_arns if arn in self.views]
        if not tracked:
            return
        if task_arns is None:
            self._rescan.update(tracked)
        else:
            self._changed_tasks.update(task_arns)
            if docs is not None:
                self._docs.update(docs)
            else:
                for arn in task_arns:  # a later commit without a document: read it
                    self._docs.pop(arn, None)
        if self._flush_scheduled:
            return
        if self.schedule is not None:
            self._flush_scheduled = True
            self.schedule(self.flush)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the loop (tests, tools): read now
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        tasks, self._changed_tasks = self._changed_tasks, set()
        given, self._docs = self._docs, {}
        rescan, self._rescan = self._rescan, set()
        woken: set[str] = set()
        with self.store.read() as tx:
            docs = self._read_tasks(tx, tasks - given.keys()) if len(given) < len(tasks) else {}
            docs.update(given)
            for task_arn in tasks:
                doc = docs.get(task_arn)
                instance = (doc or {}).get("containerInstanceArn")
                view = self.views.get(instance or "")
                if view is not None and view.record(task_arn, wire_task(doc)):
                    woken.add(str(instance))
            for instance in rescan:
                view = self.views.get(instance)
                if view is not None and view.reconcile(self._read_instance(tx, instance)):
                    woken.add(instance)
        for instance in woken:
            self.wake(instance)

    def reported_stopped(self, instance_arn: str, task_arns: Iterable[str]) -> None:
        """The agent said these tasks STOPPED: they leave its set without a message."""
        view = self.views.get(instance_arn)
        if view is not None:
            for arn in task_arns:
                view.forget(arn)
                self._docs.pop(arn, None)  # a document handed over before it stopped: stale

    # -- messages ---------------------------------------------------------------------------
    def message_for(
        self, instance_arn: str, now: float, *, sync: int | None = None, rescan: bool = False
    ) -> DesiredMessage | None:
        """The next message for this instance's agent, if any.

        `sync`: the generation the agent says it holds (on connect, or in a resync
        request); `rescan`: diff the store's whole set for the instance first.
        """
        view = self.view(instance_arn)
        if sync is not None:
            plan = view.plan_sync(sync)
            if plan == "full":
                return view.full(self.read_instance(instance_arn), self.definition, now)
            rescan = True
            if plan == "resend":
                self._reconcile(instance_arn, view)
                return view.resend(self.definition, now) or view.full(
                    self.read_instance(instance_arn), self.definition, now
                )
        if rescan:
            self._reconcile(instance_arn, view)
        if view.overdue(now, self.ack_timeout_s):
            return view.resend(self.definition, now) or view.full(
                self.read_instance(instance_arn), self.definition, now
            )
        return view.delta(self.definition, now)

    def _reconcile(self, instance_arn: str, view: InstanceView) -> None:
        view.reconcile(self.read_instance(instance_arn))

    # -- store reads ------------------------------------------------------------------------
    def read_instance(self, instance_arn: str) -> list[WireTask]:
        with self.store.read() as tx:
            return self._read_instance(tx, instance_arn)

    @staticmethod
    def _read_tasks(tx: Tx, task_arns: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The named tasks that exist, by ARN: one `SELECT ... IN` per chunk, not one
        query per task (a scale-up step names hundreds)."""
        docs = in_chunks(task_arns, lambda c: tx.find(Kind.TASK, {"arn": c}))
        return {doc["taskArn"]: doc for doc in docs}

    @staticmethod
    def _read_instance(tx: Tx, instance_arn: str) -> list[WireTask]:
        rows = tx.find(Kind.TASK, {"instance": instance_arn, "last_status": list(LIVE_STATUSES)})
        return [entry for doc in rows if (entry := wire_task(doc)) is not None]

    def definition(self, arn: str) -> dict[str, Any]:
        """A task definition by ARN, from memory when it was read before."""
        found = self._definitions.get(arn)
        if found is None:
            with self.store.read() as tx:
                found = tx.get(Kind.TASK_DEFINITION, arn) or {}
            if len(self._definitions) >= MAX_DEFINITIONS:
                self._definitions.pop(next(iter(self._definitions)))
            self._definitions[arn] = found
        return found
