"""awsvpc network mode on a Dockyard host: one address per task from a configured pool.

On AWS an awsvpc task gets its own elastic network interface. On a Dockyard host the
agent is given a pool (`--awsvpc-pool 127.0.2.0/24`, or ECS_AWSVPC_POOL in the env
file) and hands each awsvpc task one address of it. The task's containers share one
network namespace, as on ECS (they reach each other on localhost): a network owner
container per task (agent/netns.py, run by agent/task_network.py) holds it and publishes
every containerPort of the task on <address>:<containerPort> (Docker `-p addr:port:port`),
so the ports are reachable on the task's address unchanged, with no host-port mapping;
each container joins it with `NetworkMode: container:<owner id>`.

The address is written on every container (and the owner) as the label
`com.dockyard.awsvpc-address`, so an agent restart recovers which task holds which
address (`adopt`). Pure bookkeeping, no I/O; `task_worker` and `manager` are the callers.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections import Counter
from collections.abc import Iterator

from dockyard.agent.runtime import ContainerRuntimeError

LABEL_AWSVPC_ADDRESS = "com.dockyard.awsvpc-address"


class PoolExhaustedError(ContainerRuntimeError):
    """No address for the task: no pool configured, or every address is held."""

    ecs_name = "ResourceInitializationError"
    retryable = False


def pool_network(cidr: str) -> ipaddress.IPv4Network:
    """The pool's network; ValueError when `cidr` is not an IPv4 network."""
    network = ipaddress.ip_network(cidr, strict=False)
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"awsvpc pool {cidr!r}: only IPv4 pools are supported")
    return network


def pool_size(network: ipaddress.IPv4Network) -> int:
    """How many addresses the pool hands out: its host addresses (without the network and
    broadcast addresses), or every address of a /31 or /32."""
    total = network.num_addresses
    return total - 2 if total > 2 else total


class AddressPool:
    """Hands out the pool's host addresses, lowest first; one per task ARN. Nothing is
    listed up front (a /8 has 16M addresses): `allocate` walks the hosts lazily."""

    def __init__(self, cidr: str) -> None:
        self.network = pool_network(cidr)
        self.size = pool_size(self.network)
        self._by_task: dict[str, str] = {}
        self._taken: Counter[str] = Counter()  # address -> tasks holding it

    def _addresses(self) -> Iterator[ipaddress.IPv4Address]:
        return self.network.hosts() if self.network.num_addresses > 2 else iter(self.network)

    def __len__(self) -> int:
        return len(self._by_task)

    def address_of(self, task_arn: str) -> str | None:
        return self._by_task.get(task_arn)

    def allocate(self, task_arn: str) -> str:
        """The task's address: the one it holds, else the lowest free one."""
        held = self._by_task.get(task_arn)
        if held is not None:
            return held
        for candidate in self._addresses():  # stops at the first free one
            address = str(candidate)
            if address not in self._taken:
                self.adopt(task_arn, address)
                return address
        raise PoolExhaustedError(
            f"no free address in the awsvpc pool {self.network} ({self.size} in use)"
        )

    def adopt(self, task_arn: str, address: str) -> None:
        """Record an address found on a task's containers (agent restart)."""
        self.release(task_arn)
        self._by_task[task_arn] = address
        self._taken[address] += 1

    def release(self, task_arn: str) -> None:
        address = self._by_task.pop(task_arn, None)
        if address is not None:
            self._taken[address] -= 1
            if self._taken[address] <= 0:
                del self._taken[address]


def eni_details(address: str) -> dict[str, str]:
    """Stable, ENI-like identifiers derived from the address (reported to the server)."""
    packed = ipaddress.ip_address(address).packed
    mac = "0a:" + ":".join(f"{b:02x}" for b in (0xD0, *packed))
    return {
        "privateIPv4Address": address,
        "macAddress": mac,
        "networkInterfaceId": f"eni-{zlib.crc32(packed):08x}{packed.hex()}"[:21],
    }
