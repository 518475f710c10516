"""The agent's sampler: cgroup reading (v1 and v2 layouts), reservations, utilisation math."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.agent.metrics import (
    CgroupReader,
    MetricsSampler,
    Reservation,
    RunningTask,
    SyntheticReader,
    TaskUsage,
    Usage,
    aggregate,
    find_cgroup,
    reservation,
    service_of,
    task_usage,
)

CID = "abc123"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _v1(root: Path, middle: str) -> None:
    name = CID if middle == "docker" else f"docker-{CID}.scope"
    _write(root / "cpuacct" / middle / name / "cpuacct.usage", "5000000000\n")
    memory = root / "memory" / middle / name
    _write(memory / "memory.usage_in_bytes", str(300 * 2**20))
    _write(memory / "memory.stat", f"cache 1\ntotal_inactive_file {100 * 2**20}\n")


def _v2(root: Path, middle: str) -> None:
    unified = root / middle / (CID if middle == "docker" else f"docker-{CID}.scope")
    _write(unified / "cpu.stat", "usage_usec 5000000\nuser_usec 1\n")
    _write(unified / "memory.current", str(300 * 2**20))
    _write(unified / "memory.stat", f"anon 5\ninactive_file {100 * 2**20}\n")


@pytest.mark.parametrize(
    ("layout", "version"),
    [
        pytest.param(lambda r: _v1(r, "docker"), 1, id="v1-cgroupfs"),
        pytest.param(lambda r: _v1(r, "system.slice"), 1, id="v1-systemd"),
        pytest.param(lambda r: _v2(r, "system.slice"), 2, id="v2-systemd"),
        pytest.param(lambda r: _v2(r, "docker"), 2, id="v2-cgroupfs"),
    ],
)
def test_cgroup_layouts_read_cpu_and_memory_minus_inactive_file(
    tmp_path: Path, layout: object, version: int
) -> None:
    layout(tmp_path)  # type: ignore[operator]
    paths = find_cgroup(tmp_path, CID)
    assert paths is not None and paths.version == version
    assert CgroupReader(tmp_path).read(CID) == Usage(5_000_000_000, 200 * 2**20)


def test_a_missing_cgroup_reads_none_and_is_looked_up_again(tmp_path: Path) -> None:
    reader = CgroupReader(tmp_path)
    assert reader.read(CID) is None
    _v1(tmp_path, "docker")
    assert reader.read(CID) is not None


@pytest.mark.parametrize(
    ("definition", "overrides", "expected"),
    [
        pytest.param(
            {"cpu": "1024", "memory": "512", "containerDefinitions": [{"name": "a", "cpu": 10}]},
            None,
            Reservation(1024, 512),
            id="task-level",
        ),
        pytest.param(
            {
                "containerDefinitions": [
                    {"name": "a", "cpu": 256, "memory": 128},
                    {"name": "b", "cpu": 256, "memoryReservation": 64, "memory": 256},
                ]
            },
            None,
            Reservation(512, 192),
            id="sum-of-containers-reservation-first",
        ),
        pytest.param(
            {"containerDefinitions": [{"name": "a", "memory": 128}]},
            None,
            Reservation(1024, 128),
            id="no-cpu-reserved-is-one-vcpu",
        ),
        pytest.param(
            {"cpu": "1 vCPU", "memory": "2048", "containerDefinitions": []},
            {"cpu": "2048"},
            Reservation(2048, 2048),
            id="task-override",
        ),
        pytest.param(
            {"containerDefinitions": [{"name": "a", "cpu": 128, "memory": 128}]},
            {"containerOverrides": [{"name": "a", "cpu": 512}]},
            Reservation(512, 128),
            id="container-override",
        ),
    ],
)
def test_reservation(
    definition: dict[str, object], overrides: dict[str, object] | None, expected: Reservation
) -> None:
    assert reservation(definition, overrides) == expected


@pytest.mark.parametrize(
    ("before", "after", "cpu_percent"),
    [
        pytest.param({"c": Usage(0, 0)}, {"c": Usage(5 * 10**9, 0)}, 50.0, id="half-core"),
        pytest.param(
            {"c": Usage(0, 0), "d": Usage(0, 0)},
            {"c": Usage(10 * 10**9, 0), "d": Usage(10 * 10**9, 0)},
            200.0,
            id="two-containers-two-cores",
        ),
        pytest.param({}, {"c": Usage(5 * 10**9, 0)}, None, id="first-sample"),
        pytest.param({"c": Usage(9 * 10**9, 0)}, {"c": Usage(10**9, 0)}, None, id="restarted"),
    ],
)
def test_cpu_utilisation_is_units_used_over_reserved(
    before: dict[str, Usage], after: dict[str, Usage], cpu_percent: float | None
) -> None:
    usage = task_usage("c1", "web", Reservation(1024, 100), before=before, after=after, wall_s=10.0)
    assert usage.cpu_percent == (None if cpu_percent is None else pytest.approx(cpu_percent))


def test_memory_utilisation_is_used_mib_over_reserved() -> None:
    after = {"c": Usage(0, 25 * 2**20), "d": Usage(0, 25 * 2**20)}
    usage = task_usage("c1", None, Reservation(1024, 200), before={}, after=after, wall_s=10)
    assert usage.memory_percent == pytest.approx(25.0)


def _task(service: str | None, cpu: float | None, memory: float) -> TaskUsage:
    units = None if cpu is None else cpu * 10.24
    return TaskUsage("c1", service, units, memory * 10.24, cpu, memory)


def test_aggregate_is_one_statistic_set_per_service_and_one_cluster_sample() -> None:
    tasks = [
        _task("web", 20, 10),
        _task("web", 60, 30),
        _task("api", None, 50),
        _task(None, 10, 10),
    ]
    groups = aggregate(tasks, "c1", instance_cpu=2048, instance_memory=1024)
    by = {g.get("service"): g for g in groups}
    assert by["web"] == {
        "cluster": "c1",
        "service": "web",
        "cpu": [2, 80, 20, 60],
        "memory": [2, 40, 10, 30],
    }
    assert by["api"] == {"cluster": "c1", "service": "api", "memory": [1, 50, 50, 50]}
    assert "cpu" not in by[None]  # a task on its first sample: the instance's CPU is unknown
    memory_mib = (10 + 30 + 50 + 10) * 10.24
    assert by[None]["memory"] == pytest.approx([1] + [memory_mib / 1024 * 100] * 3)


def test_sampler_sends_service_figures_from_the_second_sample() -> None:
    now = [1000.0]
    reader = SyntheticReader(cores=0.5, memory_mib=64, clock=lambda: now[0])
    running = [RunningTask("t1", service_of("service:web"), Reservation(1024, 128), ("x",))]
    sampler = MetricsSampler(
        reader,
        lambda: running,
        "c1",
        instance_cpu=4096,
        instance_memory=1024,
        clock=lambda: now[0],
    )
    first = sampler.sample()
    assert next(g for g in first["groups"] if "service" in g).get("cpu") is None
    now[0] += 10
    second = sampler.sample()
    web = next(g for g in second["groups"] if g.get("service") == "web")
    assert web["cpu"] == pytest.approx([1, 50, 50, 50])
    assert web["memory"] == pytest.approx([1, 50, 50, 50])
    cluster = next(g for g in second["groups"] if "service" not in g)
    assert cluster["cpu"] == pytest.approx([1, 12.5, 12.5, 12.5])
    assert sampler.tasks["t1"].cpu_percent == pytest.approx(50)
    running.clear()
    sampler.sample()
    assert reader.born == {}  # gone containers are forgotten


@pytest.mark.parametrize(
    ("group", "service"),
    [("service:web", "web"), ("family:web", None), (None, None), ("service:", "")],
)
def test_service_of(group: str | None, service: str | None) -> None:
    assert service_of(group) == service
