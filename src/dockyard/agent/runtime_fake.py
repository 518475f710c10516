"""`FakeRuntime`: the agent's `ContainerRuntime` protocol in memory.

For simulated hosts (`dockyard agent --fake-runtime`, the benchmarks) and agent
tests (`dockyard.testing.fake_runtime` re-exports it): no threads, no sockets, so
hundreds of fake agents share one process and one event loop. It keeps the contract of
`dockyard.agent.runtime_docker.DockerRuntime` where an agent can see it: container
names and labels, port bindings (dynamic ports from the agent's picker, retried through
`run_with_port_retries` when a port is held), events in Docker's order
(create, start, health_status, die, destroy), idempotent stop/remove.

Containers reach running at once (after `start_delay_s`). The test drives the world
with `kill` (crash or OOM), `set_health`, `hold_port` (another process holds a host
port), `write_log` and `add_image`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import itertools
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from typing import Any

from dockyard.agent.runtime import (
    CannotCreateContainerError,
    CannotStartContainerError,
    ContainerSpec,
    ContainerState,
    EventAction,
    HealthStatus,
    HostPortInUseError,
    HostPortPicker,
    ImageNotFoundError,
    PortBinding,
    PortMapping,
    PortProtocol,
    RuntimeEvent,
    RuntimeUnavailableError,
    labels_match,
    validate_spec,
)
from dockyard.agent.runtime_events import EventHub, EventSubscription
from dockyard.agent.runtime_ports import run_with_port_retries

_ids = itertools.count(1)  # process-wide, so ids stay unique across simulated hosts
_ANY_IP = ("", "0.0.0.0", "::")


@dataclasses.dataclass
class _Container:
    state: ContainerState
    log: bytearray = dataclasses.field(default_factory=bytearray)
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def update(self, **changes: Any) -> None:
        self.state = dataclasses.replace(self.state, **changes)
        self.notify()

    def notify(self) -> None:
        """Wake log followers: they wait on the event they captured."""
        old, self.changed = self.changed, asyncio.Event()
        old.set()


class FakeRuntime:
    """In-memory ContainerRuntime. `images=None` means every image exists."""

    def __init__(
        self,
        *,
        images: Iterable[str] | None = None,
        clock: Callable[[], float] = time.time,
        auto_healthy: bool = True,
        stop_exit_code: int = 0,
        start_delay_s: float = 0.0,
    ) -> None:
        self._images = None if images is None else set(images)
        self._clock = clock
        self._auto_healthy = auto_healthy
        self._stop_exit_code = stop_exit_code
        self._start_delay_s = start_delay_s
        self._containers: dict[str, _Container] = {}
        # Indexes over _containers (a simulated host runs hundreds: a scan per start made
        # the benchmark's simulation, not the server, the busy side): name -> id, and the
        # host IPs bound per (protocol, host port) by running containers.
        self._names: dict[str, str] = {}
        self._bound: dict[tuple[PortProtocol, int], list[str]] = {}
        self._held_ports: set[tuple[PortProtocol, str, int]] = set()
        self._hub = EventHub()
        self._closed = False

    # --- the protocol -----------------------------------------------------------------------

    async def ensure_image(self, image: str) -> None:
        self._check_open()
        if self._images is not None and image not in self._images:
            raise ImageNotFoundError(f"{image}: not found (fake registry)")

    async def run(self, spec: ContainerSpec, dynamic_port_picker: HostPortPicker) -> ContainerState:
        self._check_open()
        validate_spec(spec)
        if self._images is not None and spec.image not in self._images:
            raise ImageNotFoundError(f"{spec.image}: No such image")
        if self._start_delay_s:
            await asyncio.sleep(self._start_delay_s)
        return await run_with_port_retries(
            spec, dynamic_port_picker, functools.partial(self._start, spec)
        )

    async def _start(self, spec: ContainerSpec, ports: tuple[PortMapping, ...]) -> ContainerState:
        self._free_name(spec)
        joined = (spec.network_mode or "").removeprefix("container:")
        if joined != (spec.network_mode or ""):
            owner = self._find(joined)
            if owner is None or owner.state.status != "running":  # Docker's answer
                raise CannotStartContainerError(
                    f"cannot join network of a non running container: {joined}"
                )
        for mapping in ports:
            if self._port_taken(mapping.protocol, mapping.host_ip, mapping.host_port):
                raise HostPortInUseError(
                    f"Bind for {mapping.host_ip}:{mapping.host_port} failed: "
                    "port is already allocated",
                    mapping.host_port,
                )
        container_id = hashlib.sha256(f"fake-{next(_ids)}".encode()).hexdigest()
        bindings = tuple(
            PortBinding(m.container_port, m.protocol, m.host_ip, m.host_port) for m in ports
        )
        record = _Container(
            ContainerState(
                id=container_id,
                name=spec.docker_name,
                labels=spec.all_labels(),
                status="created",
                image=spec.image,
                ports=bindings,
                network_mode=spec.network_mode or "bridge",
            )
        )
        self._containers[container_id] = record
        self._names[record.state.name] = container_id
        self._emit(record, "create")
        record.update(status="running", started_at=self._clock())
        self._bind(record.state, +1)
        self._emit(record, "start")
        if spec.health_check is not None and self._auto_healthy:
            self.set_health(container_id, "HEALTHY")
        return record.state

    async def stop(self, container_id: str, timeout_s: float) -> None:
        record = self._find(container_id)
        if record is not None and record.state.status == "running":
            self._exit(record, self._stop_exit_code)

    async def remove(self, container_id: str) -> None:
        record = self._find(container_id)
        if record is None:
            return
        if record.state.status == "running":  # like `docker rm -f`: SIGKILL first
            self._exit(record, 137)
        self._forget(record.state)
        self._emit(record, "destroy")
        record.notify()

    async def inspect(self, container_id: str) -> ContainerState | None:
        record = self._find(container_id)
        return None if record is None else record.state

    async def list_containers(self, label_filter: Mapping[str, str | None]) -> list[ContainerState]:
        return [
            c.state for c in self._containers.values() if labels_match(c.state.labels, label_filter)
        ]

    def events(self) -> EventSubscription:
        return self._hub.subscribe()

    async def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        record = self._find(container_id)
        if record is None:
            return
        data = bytes(record.log)
        if tail is not None:
            data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
        if data:
            yield data
        sent = len(record.log)
        while follow:
            changed = record.changed
            if len(record.log) > sent:
                yield bytes(record.log[sent:])
                sent = len(record.log)
                continue
            if record.state.status == "exited" or record.state.id not in self._containers:
                return
            await changed.wait()

    async def close(self) -> None:
        self._closed = True
        self._hub.close()

    # --- driving the simulated world ----------------------------------------------------------

    def add_image(self, image: str) -> None:
        if self._images is not None:
            self._images.add(image)

    def kill(
        self,
        container_id: str,
        exit_code: int = 137,
        *,
        oom: bool = False,
        error: str | None = None,
    ) -> None:
        """The container's process ends by itself (crash, OOM kill)."""
        record = self._require(container_id)
        if record.state.status != "running":
            return
        if oom:
            record.update(oom_killed=True)
            self._emit(record, "oom")
        self._exit(record, exit_code, error=error)

    def set_health(self, container_id: str, status: HealthStatus) -> None:
        record = self._require(container_id)
        if record.state.health_status != status:
            record.update(health_status=status)
            self._emit(record, "health_status", health_status=status)

    def hold_port(
        self, port: int, protocol: PortProtocol = "tcp", host_ip: str = "0.0.0.0"
    ) -> None:
        """Another process listens on host_ip:port: starts binding it fail as in Docker."""
        self._held_ports.add((protocol, host_ip, port))

    def free_port(
        self, port: int, protocol: PortProtocol = "tcp", host_ip: str = "0.0.0.0"
    ) -> None:
        self._held_ports.discard((protocol, host_ip, port))

    def write_log(self, container_id: str, data: bytes) -> None:
        record = self._require(container_id)
        record.log += data
        record.notify()

    @property
    def containers(self) -> list[ContainerState]:
        return [c.state for c in self._containers.values()]

    # --- internals ----------------------------------------------------------------------------

    def _exit(self, record: _Container, exit_code: int, *, error: str | None = None) -> None:
        if record.state.status == "running":
            self._bind(record.state, -1)
        health = "UNKNOWN" if record.state.health_status == "UNKNOWN" else "UNHEALTHY"
        record.update(
            status="exited",
            exit_code=exit_code,
            finished_at=self._clock(),
            error=error,
            health_status=health,
        )
        self._emit(record, "die", exit_code=exit_code)

    def _free_name(self, spec: ContainerSpec) -> None:
        """As DockerRuntime: a leftover of this task container is replaced, else refuse."""
        name = spec.docker_name
        found = self._names.get(name)
        if found is None:
            return
        record = self._containers[found]
        state = record.state
        if (state.task_arn, state.container_name) != (spec.task_arn, spec.container_name):
            raise CannotCreateContainerError(
                f'Conflict. The container name "/{name}" is already in use'
            )
        if state.status == "running":
            self._bind(state, -1)
        self._forget(state)
        self._emit(record, "destroy")

    def _forget(self, state: ContainerState) -> None:
        del self._containers[state.id]
        if self._names.get(state.name) == state.id:
            del self._names[state.name]

    def _bind(self, state: ContainerState, sign: int) -> None:
        """A container's host ports taken (+1: it runs) or given back (-1: it stopped)."""
        for binding in state.ports:
            key = (binding.protocol, binding.host_port)
            ips = self._bound.setdefault(key, [])
            if sign > 0:
                ips.append(binding.host_ip)
            else:
                ips.remove(binding.host_ip)
                if not ips:
                    del self._bound[key]

    def _port_taken(self, protocol: PortProtocol, host_ip: str, port: int) -> bool:
        def overlaps(ip: str) -> bool:
            return ip == host_ip or ip in _ANY_IP or host_ip in _ANY_IP

        if any(p == protocol and n == port and overlaps(ip) for p, ip, n in self._held_ports):
            return True
        return any(overlaps(ip) for ip in self._bound.get((protocol, port), ()))

    def _find(self, container_id: str) -> _Container | None:
        record = self._containers.get(container_id)
        if record is None:  # by name, as Docker accepts
            found = self._names.get(container_id)
            record = None if found is None else self._containers.get(found)
        return record

    def _require(self, container_id: str) -> _Container:
        record = self._find(container_id)
        if record is None:
            raise KeyError(f"no fake container {container_id}")
        return record

    def _emit(
        self,
        record: _Container,
        action: EventAction,
        *,
        exit_code: int | None = None,
        health_status: HealthStatus | None = None,
    ) -> None:
        self._hub.publish(
            RuntimeEvent(
                container_id=record.state.id,
                labels=record.state.labels,
                action=action,
                time=self._clock(),
                exit_code=exit_code,
                health_status=health_status,
            )
        )

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeUnavailableError("fake runtime is closed")
