"""awsvpc network mode on a Dockyard host: one address per task from a configured pool.

On AWS an awsvpc task gets its own elastic network interface. On a Dockyard host the
agent is given a pool (`--awsvpc-pool 127.0.2.0/24`, or ECS_AWSVPC_POOL in the env
file) and hands each awsvpc task one address of it; every container of the task
publishes each containerPort on <address>:<containerPort> (Docker `-p addr:port:port`),
so the ports are reachable on the task's address unchanged, with no host-port mapping.
Containers keep Docker's bridge network each (they do not share a network namespace:
they reach each other through the task address, not localhost).

The address is written on every container as the label `com.dockyard.awsvpc-address`,
so an agent restart recovers which task holds which address (`adopt`). Pure
bookkeeping, no I/O; `task_worker` and `manager` are the callers.
"""

from __future__ import annotations

import ipaddress
import zlib

from dockyard.agent.runtime import ContainerRuntimeError

LABEL_AWSVPC_ADDRESS = "com.dockyard.awsvpc-address"


class PoolExhaustedError(ContainerRuntimeError):
    """No address for the task: no pool configured, or every address is held."""

    ecs_name = "ResourceInitializationError"
    retryable = False


class AddressPool:
    """Hands out the pool's host addresses, lowest first; one per task ARN."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        if self.network.version != 4:
            raise ValueError(f"awsvpc pool {cidr!r}: only IPv4 pools are supported")
        hosts = list(self.network.hosts()) if self.network.num_addresses > 2 else []
        self._addresses = [str(a) for a in (hosts or self.network)]
        self._by_task: dict[str, str] = {}

    @property
    def size(self) -> int:
        return len(self._addresses)

    def __len__(self) -> int:
        return len(self._by_task)

    def address_of(self, task_arn: str) -> str | None:
        return self._by_task.get(task_arn)

    def allocate(self, task_arn: str) -> str:
        """The task's address: the one it holds, else the lowest free one."""
        held = self._by_task.get(task_arn)
        if held is not None:
            return held
        taken = set(self._by_task.values())
        for address in self._addresses:
            if address not in taken:
                self._by_task[task_arn] = address
                return address
        raise PoolExhaustedError(
            f"no free address in the awsvpc pool {self.network} ({self.size} in use)"
        )

    def adopt(self, task_arn: str, address: str) -> None:
        """Record an address found on a task's containers (agent restart)."""
        self._by_task[task_arn] = address

    def release(self, task_arn: str) -> None:
        self._by_task.pop(task_arn, None)


def eni_details(address: str) -> dict[str, str]:
    """Stable, ENI-like identifiers derived from the address (reported to the server)."""
    packed = ipaddress.ip_address(address).packed
    mac = "0a:" + ":".join(f"{b:02x}" for b in (0xD0, *packed))
    return {
        "privateIPv4Address": address,
        "macAddress": mac,
        "networkInterfaceId": f"eni-{zlib.crc32(packed):08x}{packed.hex()}"[:21],
    }
