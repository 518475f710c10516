"""What the service reconcile reads (views of the store) and what it returns (a Plan).

Pure data: no store, no clock, no Docker. `loop.py` builds these views from the
store documents and applies the Plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.scheduler.providers import StrategyItem
from dockyard.scheduler.rank import Stage


@dataclass(frozen=True, slots=True)
class ServiceView:
    name: str
    desired_count: int
    scheduling_strategy: str = "REPLICA"  # REPLICA | DAEMON
    maximum_percent: int = 200
    minimum_healthy_percent: int = 100
    circuit_breaker_enable: bool = False
    circuit_breaker_rollback: bool = False
    health_check_grace_s: float = 0.0
    status: str = "ACTIVE"  # ACTIVE | DRAINING (being deleted: scale to 0)
    last_event: str | None = None  # newest event message, to avoid repeating it
    # The placement strategy's ranking stages; scale-in follows them (scale_in.py).
    placement_strategy: tuple[Stage, ...] = ()
    # The primary deployment's capacity provider strategy; scale-in keeps its split.
    capacity_provider_strategy: tuple[StrategyItem, ...] = ()


@dataclass(frozen=True, slots=True)
class DeploymentView:
    id: str  # "ecs-svc/1234567890123456789"; tasks carry it as startedBy
    status: str  # PRIMARY | ACTIVE
    task_definition: str
    rollout_state: str = "IN_PROGRESS"  # IN_PROGRESS | COMPLETED | FAILED
    created_at: float = 0.0
    failed_tasks: int = 0  # as stored; reconcile recomputes it from tasks


# Not frozen, but treated as immutable (hashable by value): a step builds one per live
# task, and a frozen dataclass's __init__ (object.__setattr__ per field) cost ~3x as
# much: 4-5 ms of a 1,000-task service's ~15 ms step (issue 9).
@dataclass(slots=True, unsafe_hash=True)
class TaskView:
    arn: str
    deployment_id: str  # startedBy
    last_status: str  # PROVISIONING..STOPPED
    desired_status: str  # RUNNING | STOPPED
    instance_arn: str
    created_at: float = 0.0
    started_at: float | None = None  # set once it reached RUNNING
    # Health as far as known: "HEALTHY", "UNHEALTHY" or "UNKNOWN" (no health check, or
    # not decided yet); `health_known` says whether this task has a health signal at all.
    health: str = "UNKNOWN"
    health_known: bool = False
    stop_code: str | None = None  # ECS stopCode once stopping/stopped
    protected: bool = False  # scale-in protection enabled and unexpired (UpdateTaskProtection)
    capacity_provider: str = ""  # capacityProviderName ("" when placed by launch type)

    @property
    def live(self) -> bool:
        return self.last_status != "STOPPED"

    @property
    def wanted(self) -> bool:
        """Live and not already asked to stop."""
        return self.live and self.desired_status == "RUNNING"

    @property
    def healthy(self) -> bool:
        """Counts toward minimumHealthyPercent: RUNNING, and HEALTHY when health is known."""
        if not self.wanted or self.last_status != "RUNNING":
            return False
        return self.health == "HEALTHY" if self.health_known else True

    @property
    def failed_to_start(self) -> bool:
        """ECS's circuit-breaker failure: stopped without ever reaching RUNNING."""
        return (
            self.last_status == "STOPPED"
            and self.started_at is None
            and self.stop_code not in {"ServiceSchedulerInitiated", "UserInitiated"}
        )


@dataclass(slots=True, unsafe_hash=True)  # not frozen, as TaskView: one per instance per step
class InstanceView:
    arn: str
    status: str  # ACTIVE | DRAINING
    eligible: bool = True  # meets the service's placement constraints (DAEMON)
    agent_connected: bool = True
    attributes: tuple[tuple[str, str], ...] = ()  # (name, value), for spread on scale-in
    remaining_cpu: int = 0  # for binpack on scale-in
    remaining_memory: int = 0


@dataclass(frozen=True, slots=True)
class Start:
    deployment_id: str
    count: int
    instance_arn: str | None = None  # DAEMON: this instance


@dataclass(frozen=True, slots=True)
class Stop:
    task_arn: str
    reason: str


@dataclass(frozen=True, slots=True)
class DeploymentChange:
    """A change to one deployment (None = unchanged); `new` creates a deployment (rollback)."""

    id: str
    status: str | None = None  # PRIMARY | ACTIVE | INACTIVE (= remove)
    rollout_state: str | None = None
    rollout_state_reason: str | None = None
    failed_tasks: int | None = None
    new_task_definition: str | None = None  # set on a new deployment (rollback)
    # A rollback: the failed deployment it replaces and the one whose revision it runs again
    # (the deployment history follows them, controllers/services/history.py).
    rollback_of: str | None = None
    rollback_to: str | None = None


@dataclass
class Plan:
    start: list[Start] = field(default_factory=list)
    stop: list[Stop] = field(default_factory=list)
    deployments: list[DeploymentChange] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    steady: bool = False  # the service is in steady state after this step

    @property
    def empty(self) -> bool:
        return not (self.start or self.stop or self.deployments or self.events)
