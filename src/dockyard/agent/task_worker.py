"""One ECS task on this host: the only writer of its state (as in amazon-ecs-agent).

    desired RUNNING:  PROVISIONING -> PENDING (pull) -> RUNNING (all containers up)
    essential exits / desired STOPPED:  -> STOPPING (SIGTERM, SIGKILL after
                      stopTimeout) -> STOPPED (exit codes)

The worker reports every change through `report` (a callback into the manager,
which forwards to the server). A worker can also *adopt* containers found on the
engine after an agent restart: it reports their current state and carries on.

An awsvpc task first gets its pool address (agent/awsvpc.py) and its network owner
(agent/task_network.py); its containers join the owner's namespace. Task-level cpu is
each container's hard CPU ceiling (NanoCpus) and is split as CPU shares for weight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.agent.awsvpc import (
    LABEL_AWSVPC_ADDRESS,
    AddressPool,
    PoolExhaustedError,
    eni_details,
)
from dockyard.agent.logs_shipper import LogShipper
from dockyard.agent.netns import OWNER_NAME, ignored_options
from dockyard.agent.runtime import (
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerState,
    HostPortPicker,
    RuntimeEvent,
)
from dockyard.agent.task_limits import task_level
from dockyard.agent.task_network import TaskNetwork
from dockyard.agent.task_specs import TaskFacts, container_spec, ordered, task_labels
from dockyard.lifecycle import StopCode, TaskStatus
from dockyard.wire.agent import ContainerReport, DesiredTask, TaskReport

log = logging.getLogger("dockyard.agent.task")


@dataclass
class ContainerRecord:
    name: str
    essential: bool
    runtime_id: str | None = None
    status: str = "PENDING"
    exit_code: int | None = None
    reason: str | None = None
    health: str = "UNKNOWN"
    bindings: list[dict[str, Any]] = field(default_factory=list)
    has_health_check: bool = False
    network_mode: str = ""  # Docker's, as the container was started (awsvpc: its owner)

    def report(self) -> ContainerReport:
        out: ContainerReport = {
            "name": self.name,
            "lastStatus": self.status,
            "healthStatus": self.health,
            "networkBindings": self.bindings,
        }
        if self.runtime_id:
            out["runtimeId"] = self.runtime_id
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class WorkerContext:
    """What every worker of one agent shares."""

    runtime: ContainerRuntime
    picker: HostPortPicker
    host_ip: str
    cluster_arn: str
    instance_arn: str
    default_stop_timeout_s: float
    report: Callable[[TaskReport], None]
    logs: LogShipper | None = None  # ships awslogs containers' output
    # (task ARN, container name) -> ECS_CONTAINER_METADATA_URI(_V4) (agent/metadata.py)
    metadata_env: Callable[[str, str], dict[str, str]] | None = None
    awsvpc: AddressPool | None = None  # addresses for awsvpc tasks (agent/awsvpc.py)


class TaskWorker:
    def __init__(self, ctx: WorkerContext, desired: DesiredTask) -> None:
        self.ctx = ctx
        self.arn = desired["taskArn"]
        self.definition = desired["taskDefinition"]
        self.overrides = {
            o["name"]: o for o in desired.get("overrides", {}).get("containerOverrides", [])
        }
        self.desired = desired["desiredStatus"]
        self.status = TaskStatus.PROVISIONING
        self.containers = {
            c["name"]: ContainerRecord(
                c["name"], bool(c.get("essential", True)), has_health_check="healthCheck" in c
            )
            for c in self.definition.get("containerDefinitions", [])
        }
        self.awsvpc = self.definition.get("networkMode") == "awsvpc"
        self.task_cpu, self.task_memory = task_level(self.definition, desired)
        self.address: str | None = None  # awsvpc: the task's address from the pool
        # awsvpc: the container owning the task's network namespace (agent/netns.py)
        self.network = TaskNetwork(ctx.runtime, ctx.picker, self.arn) if self.awsvpc else None
        self.reason: str | None = None
        self.stop_code: str | None = None
        self.timestamps: dict[str, float] = {}
        self.stopped_at: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- inputs ---------------------------------------------------------------------------
    def start(self, adopted: list[ContainerState] | None = None) -> None:
        if adopted:
            self._adopt(adopted)
        self._task = asyncio.create_task(self._run(), name=f"task {self.arn}")

    def set_desired(self, status: str) -> None:
        if self.desired not in (status, "STOPPED"):
            self.desired = status
            self._wake.set()

    def on_event(self, event: RuntimeEvent) -> None:
        if self.network is not None and event.container_id == self.network.owner_id:
            if event.action == "die" and self.status < TaskStatus.STOPPING:
                # its namespace (the task's address and ports) is gone: as an essential exit
                self.reason = self.reason or "Task network namespace owner exited"
                self.stop_code = self.stop_code or StopCode.ESSENTIAL_CONTAINER_EXITED.value
                self.set_desired("STOPPED")
            return
        record = next(
            (c for c in self.containers.values() if c.runtime_id == event.container_id), None
        )
        if record is None:
            return
        if event.action == "die":
            if record.status != "STOPPED":
                record.status = "STOPPED"
                record.exit_code = event.exit_code
                self._wake.set()
                self._send()
        elif (
            event.action == "health_status"
            and event.health_status
            and record.health != event.health_status
        ):
            record.health = event.health_status
            self._send()

    @property
    def done(self) -> bool:
        return self.status is TaskStatus.STOPPED

    # -- state ----------------------------------------------------------------------------
    def task_health(self) -> str:
        checked = [c for c in self.containers.values() if c.essential and c.has_health_check]
        if not checked:
            return "UNKNOWN"
        if any(c.health == "UNHEALTHY" for c in checked):
            return "UNHEALTHY"
        return "HEALTHY" if all(c.health == "HEALTHY" for c in checked) else "UNKNOWN"

    def state(self) -> TaskReport:
        report: TaskReport = {
            "taskArn": self.arn,
            "lastStatus": self.status.name,
            "healthStatus": self.task_health(),
            "containers": [c.report() for c in self.containers.values()],
        }
        if self.reason:
            report["reason"] = self.reason
        if self.address:
            report["eni"] = eni_details(self.address)
        if self.stop_code:
            report["stopCode"] = self.stop_code
        for key, value in self.timestamps.items():
            report[key] = value  # type: ignore[literal-required]
        return report

    def _send(self) -> None:
        self.ctx.report(self.state())

    def _set(self, status: TaskStatus) -> None:
        if status > self.status:
            self.status = status
            if status is TaskStatus.RUNNING:
                self.timestamps.setdefault("startedAt", time.time())
            if status is TaskStatus.STOPPED:
                self.stopped_at = time.time()
            self._send()

    def _adopt(self, found: list[ContainerState]) -> None:
        for state in found:
            address = state.labels.get(LABEL_AWSVPC_ADDRESS)
            if address and self.ctx.awsvpc is not None:
                self.address = address
                self.ctx.awsvpc.adopt(self.arn, address)
            if state.container_name == OWNER_NAME and self.network is not None:
                self.network.adopt(state)
                continue
            record = self.containers.get(state.container_name or "")
            if record is None:
                continue
            record.runtime_id = state.id
            record.network_mode = state.network_mode
            self._ship_logs(record.name)
            record.bindings = [] if self.awsvpc else _bindings(state)
            record.health = state.health_status
            if state.status == "running":
                record.status = "RUNNING"
            elif state.status == "exited":
                record.status = "STOPPED"
                record.exit_code = state.exit_code
        started = [c for c in self.containers.values() if c.runtime_id]
        if started and all(c.status == "RUNNING" for c in started if c.essential):
            self.status = TaskStatus.RUNNING
        elif started:
            self.status = TaskStatus.PENDING
        log.info("adopted %s (%d containers, %s)", self.arn, len(started), self.status.name)

    # -- the loop -------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            if self.desired == "RUNNING" and (
                self.status < TaskStatus.RUNNING or self._network_lost()
            ):
                await self._start_containers()
            elif self.status is TaskStatus.RUNNING:
                self._send()
            while not self._should_stop():
                self._wake.clear()
                await self._wake.wait()
            await self._stop_containers()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the agent alive; the task ends STOPPED
            log.exception("task %s failed", self.arn)
            self.reason = self.reason or f"InternalError: {exc}"
            with contextlib.suppress(Exception):
                await self._stop_containers()
            if not self.done:
                self._set(TaskStatus.STOPPED)

    def _network_lost(self) -> bool:
        """An adopted awsvpc task whose network owner is missing or exited."""
        return self.network is not None and self.address is not None and self.network.needs_start()

    def _should_stop(self) -> bool:
        if self.desired == "STOPPED":
            return True
        exited = [c for c in self.containers.values() if c.essential and c.status == "STOPPED"]
        if exited and self.status >= TaskStatus.PENDING:
            self.reason = self.reason or "Essential container in task exited"
            self.stop_code = self.stop_code or StopCode.ESSENTIAL_CONTAINER_EXITED.value
            return True
        return False

    def _spec(self, container: dict[str, Any]) -> ContainerSpec:
        name = container["name"]
        if self.network is not None:
            for reason in ignored_options(container):
                log.warning("task %s container %s: ignored: %s", self.arn, name, reason)
        return container_spec(
            container,
            self.overrides.get(name, {}),
            TaskFacts(
                task_arn=self.arn,
                cluster_arn=self.ctx.cluster_arn,
                instance_arn=self.ctx.instance_arn,
                host_ip=self.ctx.host_ip,
                default_stop_timeout_s=self.ctx.default_stop_timeout_s,
                definitions=self.definition.get("containerDefinitions", []),
                task_cpu=self.task_cpu,
                task_memory=self.task_memory,
                address=self.address,
                network_mode=self.network.member_mode() if self.network is not None else None,
            ),
            metadata_env=self.ctx.metadata_env(self.arn, name) if self.ctx.metadata_env else {},
            started={n: r.runtime_id for n, r in self.containers.items() if r.runtime_id},
        )

    def _ship_logs(self, name: str) -> None:
        """An awslogs container's output goes to CloudWatch Logs (agent/logs_shipper.py)."""
        record = self.containers[name]
        if self.ctx.logs is not None and record.runtime_id:
            for container in self.definition.get("containerDefinitions", []):
                if container["name"] == name:
                    self.ctx.logs.follow(container, self.arn, record.runtime_id)

    async def _start_containers(self) -> None:
        runtime = self.ctx.runtime
        containers = ordered(self.definition.get("containerDefinitions", []))
        if self.awsvpc and self.address is None:
            try:
                if self.ctx.awsvpc is None:
                    raise PoolExhaustedError("this instance has no awsvpc address pool")
                self.address = self.ctx.awsvpc.allocate(self.arn)
            except PoolExhaustedError as exc:
                self._fail(exc)
                return
        if self._should_stop():
            return  # an adopted essential container has exited: nothing to start
        self.timestamps.setdefault("pullStartedAt", time.time())
        self._set(TaskStatus.PENDING)
        try:
            for image in dict.fromkeys(c["image"] for c in containers):
                await runtime.ensure_image(image)
            if self.network is not None and self.address is not None:
                await self._ensure_network(containers)
        except ContainerRuntimeError as exc:
            self._fail(exc)
            return
        self.timestamps.setdefault("pullStoppedAt", time.time())
        for container in containers:
            if self.desired == "STOPPED":
                return
            record = self.containers[container["name"]]
            if record.runtime_id:
                continue  # adopted
            try:
                state = await runtime.run(self._spec(container), self.ctx.picker)
            except ContainerRuntimeError as exc:
                self._fail(exc, record)
                return
            record.runtime_id = state.id
            record.network_mode = state.network_mode
            self._ship_logs(record.name)
            record.bindings = [] if self.awsvpc else _bindings(state)
            record.status = "RUNNING" if state.status == "running" else "STOPPED"
            record.exit_code = state.exit_code
            self._send()
        if all(c.status == "RUNNING" for c in self.containers.values() if c.essential):
            self._set(TaskStatus.RUNNING)

    async def _ensure_network(self, containers: list[dict[str, Any]]) -> None:
        """The network owner runs; containers left in a namespace that is gone (the owner
        was recreated after an agent restart) are replaced: nothing reaches them there."""
        assert self.network is not None and self.address is not None
        labels = task_labels(self.ctx.cluster_arn, self.ctx.instance_arn, self.address)
        await self.network.ensure(self.address, containers, labels)
        for record in self.containers.values():
            if record.runtime_id and not self.network.holds(record.network_mode):
                if record.status != "RUNNING":
                    continue  # exited: the task is stopping anyway
                old, record.runtime_id = record.runtime_id, None  # its die event is not ours
                log.warning("task %s: re-running %s in the new network namespace (was %s)",
                            self.arn, record.name, old[:12])  # fmt: skip
                await self.ctx.runtime.remove(old)
                if self.ctx.logs is not None:
                    self.ctx.logs.forget(old)
                record.status = "PENDING"

    def _fail(self, exc: ContainerRuntimeError, record: ContainerRecord | None = None) -> None:
        self.reason = f"{exc.reason}"
        self.stop_code = StopCode.TASK_FAILED_TO_START.value
        if record is not None:
            record.reason = exc.reason
            record.status = "STOPPED"
        self.desired = "STOPPED"
        log.warning("task %s failed to start: %s", self.arn, exc.reason)

    async def _stop_containers(self) -> None:
        if self.status < TaskStatus.STOPPING:
            self._set(TaskStatus.STOPPING)
        runtime = self.ctx.runtime
        containers = {c["name"]: c for c in self.definition.get("containerDefinitions", [])}

        async def stop(record: ContainerRecord) -> None:
            if not record.runtime_id:
                record.status = "STOPPED"
                return
            timeout = containers.get(record.name, {}).get("stopTimeout")
            await runtime.stop(
                record.runtime_id,
                float(timeout if timeout is not None else self.ctx.default_stop_timeout_s),
            )
            state = await runtime.inspect(record.runtime_id)
            record.status = "STOPPED"
            if state is not None and state.exit_code is not None:
                record.exit_code = state.exit_code

        await asyncio.gather(*(stop(r) for r in self.containers.values()))
        if self.network is not None:  # the task's address and ports go with the task
            try:
                await self.network.remove()
            except ContainerRuntimeError as exc:
                log.warning("task %s: network owner not removed yet: %s", self.arn, exc)
        self._set(TaskStatus.STOPPED)

    async def cleanup(self) -> None:
        """Remove this task's containers and give their host ports back."""
        for record in self.containers.values():
            if record.runtime_id:
                state = await self.ctx.runtime.inspect(record.runtime_id)
                await self.ctx.runtime.remove(record.runtime_id)
                if self.ctx.logs is not None:
                    self.ctx.logs.forget(record.runtime_id)
                if state is not None:
                    for binding in state.ports:
                        self.ctx.picker.release(binding.host_port, binding.protocol)
        if self.network is not None:
            await self.network.remove()
        if self.ctx.awsvpc is not None:
            self.ctx.awsvpc.release(self.arn)

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _bindings(state: ContainerState) -> list[dict[str, Any]]:
    return [
        {
            "bindIP": b.host_ip,
            "containerPort": b.container_port,
            "hostPort": b.host_port,
            "protocol": b.protocol,
        }
        for b in state.ports
    ]
