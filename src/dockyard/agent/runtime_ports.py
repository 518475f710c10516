"""Dynamic host ports: pick a free one, and retry a start whose port got taken.

ECS gives a container with hostPort 0 a port from the dynamic range (49153-65535, or
the kernel's ephemeral range). That range overlaps the kernel's ephemeral ports
(32768-60999 here), so any client socket on the host may hold a port we want.
Two defences, both needed:

1. `DynamicPortPicker.pick` skips ports held by this agent's containers and tests a
   candidate by binding it on the mapping's host_ip before handing it out;
2. `run_with_port_retries` still expects the bind to race: when the engine reports
   the port taken at start, the runtime removes the container and we retry with
   fresh ports (up to PORT_BIND_ATTEMPTS), so the task never fails for it.

Neighbours: `runtime.HostPortPicker` is the protocol; both runtimes call
`run_with_port_retries` from their `run`.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from dockyard.agent.runtime import (
    CannotStartContainerError,
    ContainerSpec,
    ContainerState,
    HostPortInUseError,
    HostPortPicker,
    NoFreeHostPortError,
    PortBinding,
    PortMapping,
    PortProtocol,
)

log = logging.getLogger(__name__)

ECS_DYNAMIC_RANGE = (49153, 65535)
KERNEL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Each attempt's ports passed a bind test a few ms earlier, so a second collision is
# already unlikely; 5 only covers a burst of clients opening sockets at that moment.
PORT_BIND_ATTEMPTS = 5


class DynamicPortPicker:
    """Free host ports from one range for one agent's containers.

    Starts at a random port and walks the range, so agents on one host (or one
    agent after a restart) do not all try the same ports first, and a freed port
    is reused only after a full lap. The agent owns the reservations: `adopt` the
    ports of containers found at startup, `release_bindings` after a remove.
    `probe=False` skips the bind test (simulated hosts, where no socket is real).
    """

    def __init__(
        self,
        port_range: tuple[int, int] = ECS_DYNAMIC_RANGE,
        *,
        probe: bool = True,
        rng: random.Random | None = None,
        start: int | None = None,
    ) -> None:
        low, high = port_range
        if not 0 < low <= high <= 65535:
            raise ValueError(f"bad port range {port_range}")
        self.low, self.high = low, high
        self._probe = probe
        self._in_use: set[tuple[PortProtocol, int]] = set()
        # where the walk begins: random unless a test pins it
        self._cursor = start if start is not None else (rng or random.Random()).randint(low, high)
        if not low <= self._cursor <= high:
            raise ValueError(f"start {start} outside {port_range}")

    @classmethod
    def from_kernel_range(
        cls,
        path: Path = KERNEL_RANGE_FILE,
        *,
        probe: bool = True,
        rng: random.Random | None = None,
    ) -> DynamicPortPicker:
        """Use the kernel's ephemeral range, as ECS does when told to."""
        low, high = (int(part) for part in path.read_text().split())
        return cls((low, high), probe=probe, rng=rng)

    @property
    def in_use(self) -> frozenset[tuple[PortProtocol, int]]:
        return frozenset(self._in_use)

    def pick(self, protocol: PortProtocol, host_ip: str) -> int:
        size = self.high - self.low + 1
        start = self._cursor - self.low
        for step in range(size):
            port = self.low + (start + step) % size
            if (protocol, port) in self._in_use:
                continue
            if self._probe and not self._free(host_ip, port, protocol):
                continue
            self._in_use.add((protocol, port))
            self._cursor = self.low + (port - self.low + 1) % size
            return port
        raise NoFreeHostPortError(
            f"no free {protocol} host port in {self.low}-{self.high} on {host_ip or '*'}"
        )

    @staticmethod
    def _free(host_ip: str, port: int, protocol: PortProtocol) -> bool:
        try:
            return can_bind(host_ip, port, protocol)
        except OSError as exc:
            raise CannotStartContainerError(
                f"cannot bind host ports on {host_ip!r}: {exc.strerror or exc}"
            ) from exc

    def reserve(self, port: int, protocol: PortProtocol) -> None:
        self._in_use.add((protocol, port))

    def release(self, port: int, protocol: PortProtocol) -> None:
        self._in_use.discard((protocol, port))

    def adopt(self, bindings: Iterable[PortBinding]) -> None:
        """Reserve the ports of containers found running (agent restart)."""
        for binding in bindings:
            self.reserve(binding.host_port, binding.protocol)

    def release_bindings(self, bindings: Iterable[PortBinding]) -> None:
        """Give a removed container's ports back."""
        for binding in bindings:
            self.release(binding.host_port, binding.protocol)


def can_bind(host_ip: str, port: int, protocol: PortProtocol) -> bool:
    """Whether host_ip:port is free right now (no SO_REUSEADDR: TIME_WAIT counts as taken)."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    address = "" if host_ip in ("0.0.0.0", "::") else host_ip
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise  # e.g. EADDRNOTAVAIL: host_ip is not an address of this host
    return True


async def run_with_port_retries(
    spec: ContainerSpec,
    picker: HostPortPicker,
    start: Callable[[tuple[PortMapping, ...]], Awaitable[ContainerState]],
) -> ContainerState:
    """Assign host ports and call `start` (which must clean up its container on failure).

    Static host ports are reserved as given; a conflict on one is permanent. A
    conflict on a picked port releases the attempt's ports and retries.
    """
    last: HostPortInUseError | None = None
    for attempt in range(1, PORT_BIND_ATTEMPTS + 1):
        mappings, picked = _assign(spec.port_mappings, picker)
        try:
            return await start(mappings)
        except HostPortInUseError as exc:
            _release(picker, mappings)
            dynamic_ports = {port for _, port in picked}
            if not picked or (exc.port is not None and exc.port not in dynamic_ports):
                raise
            log.info(
                "%s: host port taken at start (%s), attempt %d/%d; picking another",
                spec.docker_name,
                exc.message,
                attempt,
                PORT_BIND_ATTEMPTS,
            )
            last = exc
        except BaseException:
            _release(picker, mappings)
            raise
    assert last is not None
    raise HostPortInUseError(
        f"host ports were taken at start {PORT_BIND_ATTEMPTS} times; last: {last.message}",
        last.port,
    )


def _assign(
    mappings: tuple[PortMapping, ...], picker: HostPortPicker
) -> tuple[tuple[PortMapping, ...], list[tuple[PortProtocol, int]]]:
    assigned: list[PortMapping] = []
    picked: list[tuple[PortProtocol, int]] = []
    try:
        for mapping in mappings:
            if mapping.host_port:
                picker.reserve(mapping.host_port, mapping.protocol)
                assigned.append(mapping)
                continue
            port = picker.pick(mapping.protocol, mapping.host_ip)
            picked.append((mapping.protocol, port))
            assigned.append(
                PortMapping(mapping.container_port, mapping.protocol, port, mapping.host_ip)
            )
    except BaseException:
        _release(picker, tuple(assigned))
        raise
    return tuple(assigned), picked


def _release(picker: HostPortPicker, mappings: tuple[PortMapping, ...]) -> None:
    for mapping in mappings:
        picker.release(mapping.host_port, mapping.protocol)
