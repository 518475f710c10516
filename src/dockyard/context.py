"""What every action handler and controller receives: the request context.

A domain-level module (not in api/) so that controllers, lb, tasks, console and the
API handlers share it without importing one another; api/ only adds the wire
protocols on top.

The `on_*` callbacks touch asyncio objects (the agent hub's events, the LB controller's
wake, the service runner's queue); handlers and controllers call them after a commit,
on a blocking store from a worker thread (store/offload.py): `on_loop` hands such calls
to the server's event loop (`loop`), in the order they were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.alarms.actions import ActionRouter
from dockyard.arns import Identity
from dockyard.logs import LogStore
from dockyard.metrics import MetricsStore
from dockyard.store import Store

Params = dict[str, Any]
Result = dict[str, Any]


@dataclass(frozen=True)
class Changed:
    """What a commit changed, for the controllers that react to it (empty: nothing of
    that kind; `everything`: not known, reconcile all)."""

    task_groups: frozenset[tuple[str, str]] = frozenset()  # (cluster ARN, "service:NAME")
    services: frozenset[str] = frozenset()  # service ARNs
    target_groups: frozenset[str] = frozenset()  # target group ARNs
    instances: frozenset[str] = frozenset()  # instances joined, drained, left, (dis)connected
    everything: bool = False


@dataclass
class ApiContext:
    """Shared by all requests of one server: the store, the identity and the clock."""

    store: Store
    identity: Identity = field(default_factory=Identity)
    clock: Callable[[], float] = time.time
    seed: int | None = None
    # Datapoints (CloudWatch metrics), kept apart from the control store; None: no metrics.
    metrics: MetricsStore | None = None
    # Log groups, streams and events (CloudWatch Logs), in their own file; None: no logs.
    logs: LogStore | None = None
    # Where alarms send their actions (Application Auto Scaling registers its prefix).
    alarm_actions: ActionRouter | None = None
    # Called after a commit that changed what some instances should run (their ARNs, and
    # the changed tasks' ARNs when known: None makes the hub rescan those instances); the
    # server wires it to the agent hub, which sends each agent the changes.
    on_desired_change: (
        Callable[[set[str], frozenset[str] | None, Mapping[str, dict[str, Any]] | None], None]
        | None
    ) = None
    # Called after a commit that changed the load balancer model (the LB controller's wake).
    on_lb_change: Callable[[], None] | None = None
    # The service controller's queue (controllers/services/runner.py): what changed, so
    # only the services that depend on it are reconciled.
    on_change: Callable[[Changed], None] | None = None
    # Called after UpdateContainerAgent set an instance's update PENDING (its ARN): the
    # agent hub sends the agent the `update` message (api/ecs/agent_update.py).
    on_agent_update: Callable[[str], None] | None = None
    # Where Get{TrustStoreCaCertificatesBundle,TrustStoreRevocationContent} write the files
    # they answer with (<data-dir>/certs); None: those two are refused. Keys and bundles are
    # rows; HAProxy's files are the LB controller's (lb/tls_writer.py).
    certs_dir: Path | None = None
    # The server's event loop (set when the app starts): the callbacks above run there.
    loop: asyncio.AbstractEventLoop | None = None

    def on_loop(self, callback: Callable[..., None] | None, *args: Any) -> None:
        """`callback(*args)` now when on the event loop (or without one), else handed to
        the loop (`call_soon_threadsafe`: FIFO, so commits' callbacks keep their order)."""
        if callback is None:
            return
        loop = self.loop
        if loop is None or _running_loop() is loop:
            callback(*args)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
            loop.call_soon_threadsafe(callback, *args)

    def now(self) -> float:
        return round(self.clock(), 3)

    def rng(self) -> random.Random:
        """Randomness for placement; seeded in tests for determinism."""
        return random.Random(self.seed)

    def tasks_changed(self, groups: Iterable[tuple[str, str | None]] | None = None) -> None:
        """Tasks changed state; `groups`: their (cluster ARN, task group) pairs, None when
        not known (every service is then reconciled)."""
        if self.on_change is not None:
            if groups is None:
                self.on_loop(self.on_change, Changed(everything=True))
            else:
                pairs = frozenset((c, g) for c, g in groups if g and g.startswith("service:"))
                if pairs:
                    self.on_loop(self.on_change, Changed(task_groups=pairs))

    def services_changed(self, service_arns: Iterable[str]) -> None:
        """Services' desired state changed (Create/Update/DeleteService, scaling)."""
        arns = frozenset(a for a in service_arns if a)
        if arns and self.on_change is not None:
            self.on_loop(self.on_change, Changed(services=arns))

    def targets_changed(self, target_group_arns: Iterable[str]) -> None:
        """Target health or registrations changed in these target groups."""
        arns = frozenset(a for a in target_group_arns if a)
        if arns and self.on_change is not None:
            self.on_loop(self.on_change, Changed(target_groups=arns))

    def instances_changed(self, instance_arns: Iterable[str]) -> None:
        """Container instances joined, drained, left or (dis)connected."""
        arns = frozenset(a for a in instance_arns if a)
        if arns and self.on_change is not None:
            self.on_loop(self.on_change, Changed(instances=arns))

    def lb_changed(self) -> None:
        self.on_loop(self.on_lb_change)

    def desired_changed(
        self,
        instance_arns: Iterable[str],
        task_arns: Iterable[str] | None = None,
        *,
        docs: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """What these instances should run changed; pass `task_arns` (the tasks placed or
        stopped) so the agent hub reads only those, not every task of the instances, or
        `docs` (task ARN -> the document just committed) so it reads none of them."""
        arns = {arn for arn in instance_arns if arn}
        if arns and self.on_desired_change is not None:
            if docs is not None:
                task_arns = docs.keys()
            tasks = None if task_arns is None else frozenset(a for a in task_arns if a)
            self.on_loop(self.on_desired_change, arns, tasks, docs)


Handler = Callable[[ApiContext, Params], Result]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a worker thread
        return None
