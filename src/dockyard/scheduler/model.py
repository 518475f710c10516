"""The scheduler's inputs and outputs as plain frozen data.

Role: the vocabulary shared by `state`, `filters`, `rank` and `placement`, and the
seam to the rest of Dockyard: the store builds `InstanceView`s, the API layer
builds a `TaskRequest` with `task_request_from_definition` and turns a
`PlacementResult` into RunTask `tasks`/`failures` or a service event.

Units are ECS's: cpu in CPU units (1024 = one vCPU), memory in MiB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# ECS's classic dynamic host port range; pass the agent's real range when known.
DEFAULT_DYNAMIC_PORT_RANGE = (49153, 65535)


@dataclass(frozen=True, slots=True)
class InstanceView:
    """One container instance as the scheduler sees it at planning time.

    `remaining_*` and `used_ports_*` already account for the tasks running (or
    placed) there; `pending_dynamic_*` counts dynamic host ports promised to
    tasks whose agent has not bound them yet. `reserved_ports_*` are the ports the
    agent registered as unavailable (ECS_RESERVED_PORTS: 22, 2375, 51678, ...).
    """

    arn: str
    instance_id: str
    registered_cpu: int
    registered_memory: int
    remaining_cpu: int
    remaining_memory: int
    status: str = "ACTIVE"
    agent_connected: bool = True
    attributes: Mapping[str, str | None] = field(default_factory=dict)
    registered_at: float = 0.0
    agent_version: str = ""
    running_tasks_count: int = 0
    pending_tasks_count: int = 0  # placed, not yet RUNNING (a commit counts here)
    task_groups: Mapping[str, int] = field(default_factory=dict)
    reserved_ports_tcp: frozenset[int] = frozenset()
    reserved_ports_udp: frozenset[int] = frozenset()
    used_ports_tcp: frozenset[int] = frozenset()
    used_ports_udp: frozenset[int] = frozenset()
    pending_dynamic_tcp: int = 0
    pending_dynamic_udp: int = 0


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """What one task needs from an instance.

    `ports_*` are static host ports; `dynamic_ports_*` how many host ports the
    agent will pick from `dynamic_port_range` (inclusive) at start. `group` is the
    ECS task group: `service:<name>` for services, `family:<family>` by default.
    """

    task_definition: str
    cpu: int
    memory: int
    group: str
    ports_tcp: frozenset[int] = frozenset()
    ports_udp: frozenset[int] = frozenset()
    dynamic_ports_tcp: int = 0
    dynamic_ports_udp: int = 0
    dynamic_port_range: tuple[int, int] = DEFAULT_DYNAMIC_PORT_RANGE
    enis: int = 0  # awsvpc: one address of the instance's pool (ENI_POOL_ATTRIBUTE)


# awsvpc on Dockyard: the agent's address pool (agent/config.py) is the instance's ENI
# limit. Its size is this attribute; the addresses in use are counted per instance under
# the pseudo task group ENI_GROUP (kept with the other group counts, so it survives a
# restart), which no real task group may be named (api/ecs/tasks.py refuses it).
ENI_POOL_ATTRIBUTE = "dockyard.awsvpc-pool-size"
ENI_GROUP = "dockyard:awsvpc-eni"


@dataclass(frozen=True, slots=True)
class Placement:
    """A task assigned to an instance; `ClusterState.release(p)` gives it back."""

    instance_arn: str
    instance_id: str
    request: TaskRequest


@dataclass(frozen=True, slots=True)
class Failure:
    """An ECS `Failure`: `{"arn": <container instance>, "reason": "RESOURCE:MEMORY"}`."""

    arn: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"arn": self.arn, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ClosestMatch:
    """The instance that passed the most filters, for the service event message.

    `detail` completes ECS's sentence "The closest matching container-instance
    <id> ...", e.g. "has insufficient memory available."
    """

    instance_arn: str
    reason: str
    detail: str

    @property
    def instance_id(self) -> str:
        """The container instance id: the last segment of its ARN."""
        return self.instance_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class PlacementResult:
    """The outcome of `place()`: what was placed, and why the rest was not.

    `failures` is empty when every task was placed; otherwise it holds one entry
    per container instance with the reason of the first filter that rejected it
    when the first task could not be placed (as ECS RunTask reports).
    """

    placements: list[Placement]
    failures: list[Failure]
    unplaced: int = 0
    closest: ClosestMatch | None = None

    def event_message(self, service_name: str) -> str | None:
        """ECS's service event for an unplaceable task, or None if all placed."""
        if not self.unplaced:
            return None
        head = (
            f"service {service_name} was unable to place a task because no container "
            "instance met all of its requirements."
        )
        if self.closest is None:
            return f"{head} Reason: No Container Instances were found in your cluster."
        return (
            f"{head} The closest matching container-instance {self.closest.instance_id} "
            f"{self.closest.detail} For more information, see the Troubleshooting "
            "section of the Amazon ECS Developer Guide."
        )
