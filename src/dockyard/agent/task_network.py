"""The network owner of one awsvpc task, run by that task's worker (agent/task_worker.py).

    start        ensure(): the owner runs before any container of the task (created, or
                 adopted after an agent restart and still running)
    containers   NetworkMode member_mode() = "container:<owner id>"
    stop         remove() once the task's containers have stopped: its published ports
                 and its namespace go at once (the containers stay until cleanup)
    re-adoption  an owner found running is kept (same id, containers untouched); one found
                 missing or exited is recreated, and the worker re-runs the containers that
                 still sit in the old namespace (their ports are unreachable there)

What the owner is (image, ports, labels) is pure: agent/netns.py.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.agent.netns import (
    OWNER_STOP_TIMEOUT_S,
    PAUSE_IMAGE,
    joins,
    member_network_mode,
    owner_spec,
)
from dockyard.agent.runtime import (
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerState,
    HostPortPicker,
    ImageNotFoundError,
)

log = logging.getLogger("dockyard.agent.task")


class NetworkOwnerError(ContainerRuntimeError):
    """The owner cannot run (its image is missing): ECS's ResourceInitializationError."""

    ecs_name = "ResourceInitializationError"
    retryable = False


class TaskNetwork:
    def __init__(self, runtime: ContainerRuntime, picker: HostPortPicker, task_arn: str) -> None:
        self.runtime = runtime
        self.picker = picker
        self.task_arn = task_arn
        self.owner: ContainerState | None = None  # adopted or started; None once removed

    @property
    def owner_id(self) -> str | None:
        return self.owner.id if self.owner is not None else None

    def member_mode(self) -> str:
        assert self.owner is not None, "ensure() first"
        return member_network_mode(self.owner.id)

    def holds(self, network_mode: str) -> bool:
        """Whether a container with this NetworkMode lives in the current namespace."""
        return joins(network_mode, self.owner_id)

    def adopt(self, state: ContainerState) -> None:
        """The owner found on the engine after an agent restart (running or not)."""
        self.owner = state

    def needs_start(self) -> bool:
        return self.owner is None or self.owner.status != "running"

    async def ensure(
        self,
        address: str,
        containers: Sequence[Mapping[str, Any]],
        labels: Mapping[str, str],
    ) -> str:
        """The running owner's id: the adopted one if it still runs, else a new one (a
        leftover of the same name is replaced by the runtime)."""
        if self.owner is not None:
            current = await self.runtime.inspect(self.owner.id)
            if current is not None and current.status == "running":
                self.owner = current
                return current.id
            log.warning("%s: network owner %s is gone; recreating it", self.task_arn,
                        self.owner.id[:12])  # fmt: skip
            await self.remove()
        try:
            await self.runtime.ensure_image(PAUSE_IMAGE)
        except ImageNotFoundError as exc:
            raise NetworkOwnerError(
                f"the awsvpc network owner image {PAUSE_IMAGE} is missing ({exc.message}); "
                "the agent builds it at start from /usr/bin/busybox: apt-get install "
                "busybox-static and restart the agent"
            ) from exc
        spec = owner_spec(self.task_arn, address, containers, labels)
        self.owner = await self.runtime.run(spec, self.picker)
        return self.owner.id

    async def remove(self) -> None:
        """Stop and remove the owner and give its host ports back; idempotent."""
        owner, self.owner = self.owner, None
        if owner is None:
            return
        with contextlib.suppress(ContainerRuntimeError):
            await self.runtime.stop(owner.id, OWNER_STOP_TIMEOUT_S)
        try:
            await self.runtime.remove(owner.id)
        except ContainerRuntimeError:
            self.owner = owner  # cleanup tries again
            raise
        for binding in owner.ports:
            self.picker.release(binding.host_port, binding.protocol)
