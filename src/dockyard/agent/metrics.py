"""The agent's metrics sampler: container usage from cgroups, pre-aggregated per service.

    every interval:  running containers of each task (from the TaskManager)
                  -> UsageReader.read(container id): cumulative CPU ns + memory bytes
                     (cgroup files: no Docker stats call, which blocks ~1 s per container)
                  -> per task: CPU and memory utilisation against the task's reservation
                  -> per service and per cluster: StatisticSet {count, sum, min, max}
                  -> ONE {"type": "metrics"} message (protocol.MetricsMessage)

So the server's ingestion grows with instances x services, not with tasks. Per-task
figures stay here (`MetricsSampler.tasks`) for a later task-metadata /stats endpoint.

Utilisation, as ECS defines it for the EC2 launch type:
    CPU %    = CPU units used (1024 per core: CPU-ns per wall-ns x 1024) / reserved units x 100
    memory % = used MiB (usage minus inactive file cache, as `docker stats`) / reserved MiB x 100
The reservation is the task-level cpu/memory, else the sum of the containers' cpu and
memoryReservation (or memory). A task that reserves no CPU is measured against one vCPU
(1024 units): its figure is then "percent of one core", which is what a user expects of
an unreserved task, and it keeps such services visible. The cluster group carries one
sample per instance: all tasks' usage against this instance's registered CPU/memory
(ECS's cluster CPUUtilization for EC2).
Neighbours: `manager.py` (which tasks run, their container ids), `channel.py` (sends).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dockyard.wire.agent import MetricsGroup, MetricsMessage

log = logging.getLogger("dockyard.agent.metrics")
CPU_UNITS_PER_CORE = 1024
DEFAULT_INTERVAL_S = 10.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class Usage:
    """Cumulative CPU time and current memory of one container."""

    cpu_ns: int
    memory_bytes: int


class UsageReader(Protocol):
    def read(self, container_id: str) -> Usage | None: ...

    def forget(self, container_id: str) -> None: ...


# -- cgroups --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CgroupPaths:
    """Where one container's counters live (found once per container)."""

    version: int
    cpu: Path  # v1: cpuacct dir; v2: the unified dir
    memory: Path


def _v1_candidates(root: Path, controller: str, cid: str) -> list[Path]:
    base = root / controller
    return [base / "docker" / cid, base / "system.slice" / f"docker-{cid}.scope"]


def find_cgroup(root: Path, container_id: str) -> CgroupPaths | None:
    """cgroup v1 (cgroupfs or systemd driver) or v2 directories of a container."""
    for cpu in _v1_candidates(root, "cpuacct", container_id):
        if (cpu / "cpuacct.usage").exists():
            for memory in _v1_candidates(root, "memory", container_id):
                if (memory / "memory.usage_in_bytes").exists():
                    return CgroupPaths(1, cpu, memory)
    for unified in (
        root / "system.slice" / f"docker-{container_id}.scope",
        root / "docker" / container_id,
    ):
        if (unified / "cpu.stat").exists():
            return CgroupPaths(2, unified, unified)
    return None


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def read_cgroup(paths: CgroupPaths) -> Usage:
    if paths.version == 1:
        cpu_ns = int((paths.cpu / "cpuacct.usage").read_text())
        usage = int((paths.memory / "memory.usage_in_bytes").read_text())
        cache = _stat_value((paths.memory / "memory.stat").read_text(), "total_inactive_file")
    else:
        cpu_ns = _stat_value((paths.cpu / "cpu.stat").read_text(), "usage_usec") * 1000
        usage = int((paths.memory / "memory.current").read_text())
        cache = _stat_value((paths.memory / "memory.stat").read_text(), "inactive_file")
    return Usage(cpu_ns, usage - cache if cache < usage else usage)


class CgroupReader:
    """Reads cgroup files directly; a container whose cgroup is gone reads as None."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup")) -> None:
        self.root = root
        self.paths: dict[str, CgroupPaths | None] = {}

    def read(self, container_id: str) -> Usage | None:
        if container_id not in self.paths:
            self.paths[container_id] = find_cgroup(self.root, container_id)
        paths = self.paths[container_id]
        if paths is None:
            self.paths.pop(container_id)  # not there yet: look again next time
            return None
        try:
            return read_cgroup(paths)
        except (OSError, ValueError):
            self.paths.pop(container_id, None)
            return None

    def forget(self, container_id: str) -> None:
        self.paths.pop(container_id, None)


class SyntheticReader:
    """Usage for the fake runtime: every container burns `cores` of CPU and holds
    `memory_mib`, so simulated hosts and benchmarks report metrics too."""

    def __init__(
        self, cores: float = 0.25, memory_mib: float = 64.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.cores = cores
        self.memory_mib = memory_mib
        self.clock = clock
        self.born: dict[str, float] = {}

    def read(self, container_id: str) -> Usage | None:
        now = self.clock()
        born = self.born.setdefault(container_id, now)
        return Usage(int((now - born) * 1e9 * self.cores), int(self.memory_mib * MIB))

    def forget(self, container_id: str) -> None:
        self.born.pop(container_id, None)


# -- pure computation --------------------------------------------------------------------------
@dataclass(frozen=True)
class Reservation:
    cpu_units: float
    memory_mib: float


def reservation(definition: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> Reservation:
    """Task-level cpu/memory (overrides first), else the sum of the containers'."""
    overrides = overrides or {}
    by_name = {o.get("name"): o for o in overrides.get("containerOverrides", [])}
    containers = [
        {**c, **{k: v for k, v in by_name.get(c.get("name"), {}).items() if v is not None}}
        for c in definition.get("containerDefinitions", [])
    ]
    cpu = _number(overrides.get("cpu") or definition.get("cpu"))
    if not cpu:
        cpu = sum(_number(c.get("cpu")) for c in containers)
    memory = _number(overrides.get("memory") or definition.get("memory"))
    if not memory:
        memory = sum(_number(c.get("memoryReservation") or c.get("memory")) for c in containers)
    return Reservation(cpu or CPU_UNITS_PER_CORE, memory)


def _number(value: Any) -> float:
    try:
        return float(str(value).strip().split()[0]) if value not in (None, "") else 0.0
    except (ValueError, IndexError):
        return 0.0


@dataclass(frozen=True)
class TaskUsage:
    """One task's figures over the last interval (cpu None on its first sample)."""

    cluster: str
    service: str | None
    cpu_units: float | None
    memory_mib: float
    cpu_percent: float | None
    memory_percent: float | None


def cpu_units_used(before: Usage | None, after: Usage, wall_s: float) -> float | None:
    if before is None or wall_s <= 0:
        return None
    delta = after.cpu_ns - before.cpu_ns
    if delta < 0:  # a restarted container: counters began again
        return None
    return delta / (wall_s * 1e9) * CPU_UNITS_PER_CORE


def task_usage(
    cluster: str,
    service: str | None,
    reserved: Reservation,
    *,
    before: Mapping[str, Usage],
    after: Mapping[str, Usage],
    wall_s: float,
) -> TaskUsage:
    """Usage of a task's containers (by id) between two samples, against its reservation."""
    units: float | None = 0.0
    for cid, usage in after.items():
        used = cpu_units_used(before.get(cid), usage, wall_s)
        units = None if used is None or units is None else units + used
    memory = sum(u.memory_bytes for u in after.values()) / MIB
    return TaskUsage(
        cluster,
        service,
        units,
        memory,
        None if units is None else units / reserved.cpu_units * 100,
        memory / reserved.memory_mib * 100 if reserved.memory_mib > 0 else None,
    )


@dataclass
class _Stats:
    values: list[float] = field(default_factory=list)

    def wire(self) -> list[float]:
        v = self.values
        return [len(v), round(sum(v), 6), round(min(v), 6), round(max(v), 6)]


def aggregate(
    tasks: Iterable[TaskUsage], cluster: str, instance_cpu: float, instance_memory: float
) -> list[MetricsGroup]:
    """Per-service StatisticSets of per-task utilisation, plus one cluster sample for this
    instance (all tasks' usage against its registered resources)."""
    services: dict[str, tuple[_Stats, _Stats]] = {}
    cpu_total = memory_total = 0.0
    cpu_known = True  # every task's CPU is known (none is on its first sample)
    for task in tasks:
        memory_total += task.memory_mib
        if task.cpu_units is None:
            cpu_known = False
        else:
            cpu_total += task.cpu_units
        if task.service is None:
            continue
        cpu, memory = services.setdefault(task.service, (_Stats(), _Stats()))
        if task.cpu_percent is not None:
            cpu.values.append(task.cpu_percent)
        if task.memory_percent is not None:
            memory.values.append(task.memory_percent)
    groups: list[MetricsGroup] = []
    for name, (cpu, memory) in sorted(services.items()):
        group: MetricsGroup = {"cluster": cluster, "service": name}
        if cpu.values:
            group["cpu"] = cpu.wire()
        if memory.values:
            group["memory"] = memory.wire()
        if len(group) > 2:
            groups.append(group)
    whole: MetricsGroup = {"cluster": cluster}
    if cpu_known and instance_cpu > 0:
        whole["cpu"] = _Stats([cpu_total / instance_cpu * 100]).wire()
    if instance_memory > 0:
        whole["memory"] = _Stats([memory_total / instance_memory * 100]).wire()
    groups.append(whole)
    return groups


# -- the loop ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunningTask:
    """What the sampler needs of one task, taken from the manager on the event loop."""

    arn: str
    service: str | None
    reserved: Reservation
    container_ids: tuple[str, ...]


def service_of(group: str | None) -> str | None:
    """ECS names a service's task group "service:NAME"."""
    return group.removeprefix("service:") if group and group.startswith("service:") else None


class MetricsSampler:
    """Samples every `interval_s`; keeps the previous reading of each container."""

    def __init__(
        self,
        reader: UsageReader,
        running: Callable[[], list[RunningTask]],
        cluster: str,
        *,
        instance_cpu: float,
        instance_memory: float,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reader = reader
        self.running = running
        self.cluster = cluster
        self.instance_cpu = instance_cpu
        self.instance_memory = instance_memory
        self.interval_s = interval_s
        self.clock = clock
        self.previous: dict[str, Usage] = {}
        self.previous_at: float | None = None
        self.tasks: dict[str, TaskUsage] = {}  # latest per task (for a future /stats)

    def sample(self, tasks: list[RunningTask] | None = None) -> MetricsMessage:
        """One reading of every running container (file reads only: microseconds each).
        `tasks` is taken on the event loop when this runs on a thread."""
        tasks = self.running() if tasks is None else tasks
        now = self.clock()
        wall_s = now - self.previous_at if self.previous_at is not None else 0.0
        current: dict[str, Usage] = {}
        figures: dict[str, TaskUsage] = {}
        for task in tasks:
            readings = {}
            for cid in task.container_ids:
                usage = self.reader.read(cid)
                if usage is not None:
                    readings[cid] = usage
            current.update(readings)
            if readings:
                figures[task.arn] = task_usage(
                    self.cluster,
                    task.service,
                    task.reserved,
                    before=self.previous,
                    after=readings,
                    wall_s=wall_s,
                )
        for gone in self.previous.keys() - current.keys():
            self.reader.forget(gone)
        self.previous, self.previous_at, self.tasks = current, now, figures
        groups = aggregate(figures.values(), self.cluster, self.instance_cpu, self.instance_memory)
        return {"type": "metrics", "timestamp": round(now, 3), "groups": groups}

    async def run(self, send: Callable[[MetricsMessage], Awaitable[None] | None]) -> None:
        """Sample forever; `send` drops the message when no connection is up."""
        while True:
            try:
                message = await asyncio.to_thread(self.sample, self.running())
                result = send(message)
                if result is not None:
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("metrics sample failed")
            await asyncio.sleep(self.interval_s)
