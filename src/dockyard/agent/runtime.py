"""The agent's seam to its container engine: types, errors, and the `ContainerRuntime` protocol.

The agent (one asyncio task per ECS task) is the only caller. Implementations:
`runtime_docker.DockerRuntime` (Docker Engine API; JSON mapping in
`runtime_docker_mapping`, stream threads in `runtime_docker_streams`, deadlines in
`runtime_timeouts`) and `runtime_fake.FakeRuntime` (in memory, for
simulated hosts and benchmarks); `dockyard.testing.runtime_contract` checks both.
`runtime_ports` picks dynamic host ports and retries a start whose port was taken;
`runtime_events` fans events out to subscribers.

Errors carry the ECS stoppedReason prefix (`ecs_name`) and whether a retry can help:

    ContainerRuntimeError           (DockerClientError)                 retryable
    +-- CannotPullContainerError    image missing locally, pull failed  retryable
    |   +-- ImageNotFoundError      no such image, bad reference        permanent
    +-- CannotCreateContainerError  the engine refused the config       permanent
    +-- CannotStartContainerError   exec missing, static port taken     permanent
    |   +-- HostPortInUseError      port taken at start; `run` retries dynamic ones
    |   +-- NoFreeHostPortError     dynamic range exhausted             retryable
    +-- CannotStopContainerError                                        retryable
    +-- RuntimeUnavailableError     engine unreachable                  retryable
        +-- DockerTimeoutError      a call outlived its deadline        retryable
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

LABEL_TASK_ARN = "com.dockyard.task-arn"
LABEL_CONTAINER_NAME = "com.dockyard.container-name"
LABEL_CLUSTER = "com.dockyard.cluster"
LABEL_CONTAINER_INSTANCE = "com.dockyard.container-instance"

PortProtocol = Literal["tcp", "udp"]
ContainerStatus = Literal["created", "running", "exited"]
HealthStatus = Literal["HEALTHY", "UNHEALTHY", "UNKNOWN"]
EventAction = Literal["create", "start", "die", "oom", "health_status", "destroy"]

MIN_CPU_SHARES = 2  # the kernel's minimum; ECS maps cpu 0 or 1 to 2 shares (Docker reads 0 as 1024)
MIN_MEMORY_MIB = 6  # Docker refuses smaller hard limits; ECS validates the same floor


# --- errors -------------------------------------------------------------------------------


class ContainerRuntimeError(Exception):
    """A runtime failure; `reason` is what ECS shows as the task's stoppedReason."""

    ecs_name = "DockerClientError"
    retryable = True

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable

    @property
    def reason(self) -> str:
        return f"{self.ecs_name}: {self.message}"


class CannotPullContainerError(ContainerRuntimeError):
    ecs_name = "CannotPullContainerError"


class ImageNotFoundError(CannotPullContainerError):
    retryable = False


class CannotCreateContainerError(ContainerRuntimeError):
    ecs_name = "CannotCreateContainerError"
    retryable = False


class CannotStartContainerError(ContainerRuntimeError):
    ecs_name = "CannotStartContainerError"
    retryable = False


class HostPortInUseError(CannotStartContainerError):
    """Docker could not bind a host port (`port` when its message names it)."""

    def __init__(self, message: str, port: int | None) -> None:
        super().__init__(message)
        self.port = port


class NoFreeHostPortError(CannotStartContainerError):
    retryable = True


class CannotStopContainerError(ContainerRuntimeError):
    ecs_name = "CannotStopContainerError"


class RuntimeUnavailableError(ContainerRuntimeError):
    ecs_name = "RuntimeUnavailableError"


class DockerTimeoutError(RuntimeUnavailableError):
    ecs_name = "DockerTimeoutError"


# --- specs and states ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortMapping:
    """An ECS portMapping; `host_port` 0 asks the runtime for a dynamic port."""

    container_port: int
    protocol: PortProtocol = "tcp"
    host_port: int = 0
    host_ip: str = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class PortBinding:
    """A host port actually bound for a container port."""

    container_port: int
    protocol: PortProtocol
    host_ip: str
    host_port: int


@dataclass(frozen=True, slots=True)
class Ulimit:
    name: str
    soft_limit: int
    hard_limit: int


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """An ECS container healthCheck; `command` is ["CMD-SHELL", "..."] or ["CMD", exe, ...]."""

    command: tuple[str, ...]
    interval_s: float = 30
    timeout_s: float = 5
    retries: int = 3
    start_period_s: float = 0

    @classmethod
    def from_ecs(cls, check: Mapping[str, Any]) -> HealthCheck:
        """From the task definition's dict, with ECS's defaults for absent keys."""
        return cls(
            command=tuple(check["command"]),
            interval_s=float(check.get("interval", 30)),
            timeout_s=float(check.get("timeout", 5)),
            retries=int(check.get("retries", 3)),
            start_period_s=float(check.get("startPeriod", 0)),
        )


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container of one task, as the agent wants it run.

    `labels` are Dockyard's own (cluster, container instance); the runtime adds the
    task-arn and container-name labels and merges them over `docker_labels`.
    `command`/`entry_point` None keep the image's. `cpu_shares` are ECS cpu units.
    """

    task_arn: str
    container_name: str
    image: str
    command: tuple[str, ...] | None = None
    entry_point: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    user: str | None = None
    hostname: str | None = None
    cpu_shares: int = 0
    cpu_limit_units: int = 0  # hard CPU ceiling in cpu units (task-level cpu); 0: none
    memory_mib: int | None = None  # hard limit
    memory_reservation_mib: int | None = None  # soft limit
    port_mappings: tuple[PortMapping, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()  # (container id or name, alias)
    ulimits: tuple[Ulimit, ...] = ()
    health_check: HealthCheck | None = None
    stop_timeout_s: float = 30
    docker_labels: Mapping[str, str] = field(default_factory=dict)
    init_process_enabled: bool = False  # linuxParameters.initProcessEnabled: docker-init as PID 1
    log_driver: str | None = None  # Docker's log driver (awslogs runs as json-file, shipped)
    log_options: Mapping[str, str] = field(default_factory=dict)
    # None: its own bridge network; "container:<id>": join that container's network
    # namespace (awsvpc tasks, agent/netns.py), so no ports, links or hostname of its own
    network_mode: str | None = None

    @property
    def docker_name(self) -> str:
        return container_docker_name(self.task_arn, self.container_name)

    def all_labels(self) -> dict[str, str]:
        return {
            **self.docker_labels,
            **self.labels,
            LABEL_TASK_ARN: self.task_arn,
            LABEL_CONTAINER_NAME: self.container_name,
        }


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What the engine reports about one container."""

    id: str
    name: str
    labels: Mapping[str, str]
    status: ContainerStatus
    image: str = ""
    exit_code: int | None = None  # set once exited
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None
    health_status: HealthStatus = "UNKNOWN"  # UNKNOWN also when there is no health check
    ports: tuple[PortBinding, ...] = ()
    error: str | None = None  # the engine's error text (e.g. exec failed)
    oom_killed: bool = False
    network_mode: str = ""  # Docker's HostConfig.NetworkMode ("bridge", "container:<id>")

    @property
    def task_arn(self) -> str | None:
        return self.labels.get(LABEL_TASK_ARN)

    @property
    def container_name(self) -> str | None:
        return self.labels.get(LABEL_CONTAINER_NAME)


@dataclass(frozen=True, slots=True)
class RuntimeEvent:
    """A container lifecycle event (only containers carrying a Dockyard task label)."""

    container_id: str
    labels: Mapping[str, str]
    action: EventAction
    time: float  # epoch seconds
    exit_code: int | None = None  # on "die"
    health_status: HealthStatus | None = None  # on "health_status"


class EventStream(Protocol):
    """A subscription to runtime events: iterate it; `aclose()` unsubscribes."""

    def __aiter__(self) -> EventStream: ...

    async def __anext__(self) -> RuntimeEvent: ...

    async def aclose(self) -> None: ...


class HostPortPicker(Protocol):
    """Hands out free dynamic host ports; see `runtime_ports.DynamicPortPicker`."""

    def pick(self, protocol: PortProtocol, host_ip: str) -> int: ...

    def reserve(self, port: int, protocol: PortProtocol) -> None: ...

    def release(self, port: int, protocol: PortProtocol) -> None: ...


class ContainerRuntime(Protocol):
    """What the agent needs from a container engine. Every method is safe to retry."""

    async def ensure_image(self, image: str) -> None:
        """Return when `image` is present locally, pulling it if needed."""

    async def run(self, spec: ContainerSpec, dynamic_port_picker: HostPortPicker) -> ContainerState:
        """Create and start; host port 0 gets a picked port (retried if taken at start).

        Every bound port (dynamic and static) stays reserved in the picker; the agent
        releases them (`picker.release_bindings(state.ports)`) after removing the container.
        """

    async def stop(self, container_id: str, timeout_s: float) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; no-op if missing or stopped."""

    async def remove(self, container_id: str) -> None:
        """Force-remove with anonymous volumes; no-op if missing."""

    async def inspect(self, container_id: str) -> ContainerState | None:
        """The container's state by id or name, None if it does not exist."""

    async def list_containers(self, label_filter: Mapping[str, str | None]) -> list[ContainerState]:
        """All containers (any status) whose labels match; a None value matches any value."""

    def events(self) -> EventStream:
        """Subscribe now (call on the loop); events from here on, until `close()`.

        Events that happened before the call are not replayed: after a restart the
        agent rebuilds its view with `list_containers`, then follows events.
        """

    def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """stdout+stderr chunks; `follow` streams until the container exits."""

    async def close(self) -> None:
        """Stop background threads and streams; event subscriptions end."""


# --- helpers shared by implementations ------------------------------------------------------

_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def container_docker_name(task_arn: str, container_name: str) -> str:
    """`dockyard-<task id>-<container name>`: unique per task and container, so a task
    cannot get two containers of one name even if `run` is repeated."""
    task_id = task_arn.rsplit("/", 1)[-1]
    return _NAME_UNSAFE.sub("-", f"dockyard-{task_id}-{container_name}")


def validate_spec(spec: ContainerSpec) -> None:
    """Refuse what Docker would refuse, with ECS-like messages (both runtimes call this)."""
    if spec.network_mode and spec.network_mode.startswith("container:"):
        conflicts = [
            option
            for option, given in (
                ("port publishing", spec.port_mappings),
                ("links", spec.links),
                ("hostname", spec.hostname),
            )
            if given
        ]
        if conflicts:
            raise CannotCreateContainerError(
                f"container {spec.container_name}: conflicting options: "
                f"{', '.join(conflicts)} and the container type network mode"
            )
    if spec.memory_mib is not None and spec.memory_mib < MIN_MEMORY_MIB:
        raise CannotCreateContainerError(
            f"container {spec.container_name}: memory {spec.memory_mib} MiB is below the "
            f"minimum of {MIN_MEMORY_MIB} MiB"
        )
    if (
        spec.memory_mib is not None
        and spec.memory_reservation_mib is not None
        and spec.memory_reservation_mib > spec.memory_mib
    ):
        raise CannotCreateContainerError(
            f"container {spec.container_name}: memoryReservation "
            f"{spec.memory_reservation_mib} MiB exceeds memory {spec.memory_mib} MiB"
        )


def labels_match(labels: Mapping[str, str], label_filter: Mapping[str, str | None]) -> bool:
    return all(
        key in labels and (want is None or labels[key] == want)
        for key, want in label_filter.items()
    )
