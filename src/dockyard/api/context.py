"""What every action handler receives."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dockyard.alarms.actions import ActionRouter
from dockyard.arns import Identity
from dockyard.metrics import MetricsStore
from dockyard.store import Store

Params = dict[str, Any]
Result = dict[str, Any]


@dataclass
class ApiContext:
    """Shared by all requests of one server: the store, the identity and the clock."""

    store: Store
    identity: Identity = field(default_factory=Identity)
    clock: Callable[[], float] = time.time
    seed: int | None = None
    # Datapoints (CloudWatch metrics), kept apart from the control store; None: no metrics.
    metrics: MetricsStore | None = None
    # Where alarms send their actions (Application Auto Scaling registers its prefix).
    alarm_actions: ActionRouter | None = None
    # Called after a commit that changed what some instances should run (their ARNs);
    # the server wires it to the agent hub, which pushes each one its desired tasks.
    on_desired_change: Callable[[set[str]], None] | None = None
    # Called after a commit that changed the load balancer model (the LB controller's wake).
    on_lb_change: Callable[[], None] | None = None
    # Called when agents reported task status changes (the service controller's wake).
    on_task_change: Callable[[], None] | None = None

    def now(self) -> float:
        return round(self.clock(), 3)

    def rng(self) -> random.Random:
        """Randomness for placement; seeded in tests for determinism."""
        return random.Random(self.seed)

    def tasks_changed(self) -> None:
        if self.on_task_change is not None:
            self.on_task_change()

    def lb_changed(self) -> None:
        if self.on_lb_change is not None:
            self.on_lb_change()

    def desired_changed(self, instance_arns: Iterable[str]) -> None:
        arns = {arn for arn in instance_arns if arn}
        if arns and self.on_desired_change is not None:
            self.on_desired_change(arns)


Handler = Callable[[ApiContext, Params], Result]
