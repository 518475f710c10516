"""awsvpc tasks share one network namespace (agent/netns.py, task_network.py) and task-level
cpu is a hard ceiling (task_specs.py, runtime_docker_mapping.nano_cpus): the pure parts
table-driven, the worker's lifecycle on the fake runtime (start, stop, adoption, repair)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dockyard.agent.awsvpc import LABEL_AWSVPC_ADDRESS, AddressPool
from dockyard.agent.manager import TaskManager
from dockyard.agent.netns import (
    OWNER_NAME,
    PAUSE_IMAGE,
    ignored_options,
    member_network_mode,
    owner_spec,
    published_ports,
)
from dockyard.agent.pause_image import content_hash, ensure_pause_image
from dockyard.agent.runtime import (
    LABEL_CONTAINER_NAME,
    CannotCreateContainerError,
    ContainerSpec,
    PortMapping,
    validate_spec,
)
from dockyard.agent.runtime_docker_mapping import create_config, nano_cpus, state_from_inspect
from dockyard.agent.runtime_ports import DynamicPortPicker
from dockyard.agent.task_specs import TaskFacts, container_spec
from dockyard.agent.task_worker import WorkerContext
from dockyard.testing.fake_runtime import FakeRuntime
from dockyard.wire.agent import DesiredTask, TaskReport

INSTANCE = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc"
CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/c"
TASK = "arn:aws:ecs:us-east-1:000000000000:task/c/t1"
OWNER = "f" * 64

APP = {"name": "app", "image": "web:1", "portMappings": [{"containerPort": 8080}]}
SIDECAR = {
    "name": "sidecar",
    "image": "web:1",
    "hostname": "side",
    "links": ["app"],
    "portMappings": [{"containerPort": 9090}, {"containerPort": 8080}],
}
FARGATE = {
    "family": "fg",
    "networkMode": "awsvpc",
    "cpu": "512",
    "memory": "1024",
    "containerDefinitions": [APP, SIDECAR],
}


# --- pure ---------------------------------------------------------------------------------


def test_the_owner_publishes_every_port_of_the_task_once_on_its_address() -> None:
    udp = {"name": "dns", "image": "x", "portMappings": [{"containerPort": 53, "protocol": "udp"}]}
    assert published_ports([APP, SIDECAR, udp], "127.0.2.5") == (
        PortMapping(8080, "tcp", 8080, "127.0.2.5"),
        PortMapping(9090, "tcp", 9090, "127.0.2.5"),
        PortMapping(53, "udp", 53, "127.0.2.5"),
    )
    spec = owner_spec(TASK, "127.0.2.5", [APP], {LABEL_AWSVPC_ADDRESS: "127.0.2.5"})
    assert (spec.container_name, spec.image) == (OWNER_NAME, PAUSE_IMAGE)
    assert spec.all_labels()[LABEL_CONTAINER_NAME] == OWNER_NAME
    assert spec.all_labels()[LABEL_AWSVPC_ADDRESS] == "127.0.2.5"
    assert spec.network_mode is None  # the owner is on Docker's bridge


def test_hostname_and_links_are_ignored_with_their_reason() -> None:
    reasons = ignored_options(SIDECAR)
    assert len(reasons) == 2 and "hostname" in reasons[0] and "links" in reasons[1]
    assert ignored_options(APP) == []


def facts(**changes: Any) -> TaskFacts:
    base: dict[str, Any] = {
        "task_arn": TASK,
        "cluster_arn": CLUSTER,
        "instance_arn": INSTANCE,
        "host_ip": "127.0.1.1",
        "default_stop_timeout_s": 2.0,
        "definitions": [APP, SIDECAR],
    }
    return TaskFacts(**{**base, **changes})


def test_an_awsvpc_container_joins_the_owner_without_ports_links_or_hostname() -> None:
    task = facts(task_cpu=512, address="127.0.2.5", network_mode=member_network_mode(OWNER))
    spec = container_spec(SIDECAR, {}, task, metadata_env={}, started={"app": "a" * 64})
    assert spec.network_mode == f"container:{OWNER}"
    assert (spec.port_mappings, spec.links, spec.hostname) == ((), (), None)
    assert spec.cpu_limit_units == 512  # the task size is each container's ceiling
    assert spec.cpu_shares == 256  # and its share of it the relative weight
    assert spec.labels[LABEL_AWSVPC_ADDRESS] == "127.0.2.5"
    validate_spec(spec)


def test_a_bridge_container_keeps_ports_links_hostname_and_no_ceiling() -> None:
    spec = container_spec(SIDECAR, {}, facts(), metadata_env={}, started={"app": "a" * 64})
    assert spec.network_mode is None and spec.cpu_limit_units == 0
    assert spec.hostname == "side" and spec.links == (("a" * 64, "app"),)
    assert spec.port_mappings[0] == PortMapping(9090, "tcp", 0, "127.0.1.1")


@pytest.mark.parametrize(
    ("changes", "conflict"),
    [
        pytest.param({"port_mappings": (PortMapping(80, "tcp", 80),)}, "port publishing",
                     id="ports"),
        pytest.param({"links": (("x", "y"),)}, "links", id="links"),
        pytest.param({"hostname": "h"}, "hostname", id="hostname"),
    ],
)  # fmt: skip
def test_docker_conflicts_with_the_container_network_mode_are_refused(
    changes: dict[str, Any], conflict: str
) -> None:
    spec = ContainerSpec(TASK, "app", "web:1", network_mode=f"container:{OWNER}", **changes)
    with pytest.raises(CannotCreateContainerError, match=conflict):
        validate_spec(spec)


def test_create_config_joins_the_owner_and_caps_cpu() -> None:
    spec = ContainerSpec(
        TASK, "app", "web:1", network_mode=f"container:{OWNER}", cpu_limit_units=512
    )
    config = create_config(spec, (), host_cpus=2)
    host = config["HostConfig"]
    assert host["NetworkMode"] == f"container:{OWNER}"
    assert host["NanoCpus"] == 500_000_000
    assert "PortBindings" not in host and "ExposedPorts" not in config  # Docker refuses them
    bridge = create_config(ContainerSpec(TASK, "app", "web:1"), ())
    assert bridge["HostConfig"]["NetworkMode"] == "bridge"
    assert "NanoCpus" not in bridge["HostConfig"]
    inspected = {"Id": "x", "HostConfig": {"NetworkMode": f"container:{OWNER}"}}
    assert state_from_inspect(inspected).network_mode == f"container:{OWNER}"


@pytest.mark.parametrize(
    ("units", "host_cpus", "nanos"),
    [
        pytest.param(1024, None, 1_000_000_000, id="one-vcpu"),
        pytest.param(256, 2, 250_000_000, id="quarter"),
        pytest.param(4096, 2, 2_000_000_000, id="capped-at-the-host"),
        pytest.param(1, 2, 10_000_000, id="docker-floor"),
    ],
)
def test_cpu_units_as_nano_cpus(units: int, host_cpus: int | None, nanos: int) -> None:
    assert nano_cpus(units, host_cpus) == nanos


def test_the_pause_image_needs_busybox_and_hashes_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="busybox-static"):
        ensure_pause_image(None, tmp_path / "missing")  # type: ignore[arg-type]
    one, two = tmp_path / "one", tmp_path / "two"
    one.write_bytes(b"a")
    two.write_bytes(b"b")
    assert content_hash(one) != content_hash(two)


# --- the worker on the fake runtime -------------------------------------------------------


def desired(status: str = "RUNNING", definition: dict[str, Any] = FARGATE) -> DesiredTask:
    return {
        "taskArn": TASK,
        "desiredStatus": status,
        "lastStatus": "PROVISIONING",
        "taskDefinition": definition,
        "overrides": {},
        "containers": [],
    }


class Agent:
    """One agent's manager on a (possibly shared) fake engine."""

    def __init__(self, runtime: FakeRuntime, picker: DynamicPortPicker | None = None) -> None:
        self.runtime = runtime
        self.reports: list[TaskReport] = []
        self.ctx = WorkerContext(
            runtime=runtime,
            picker=picker or DynamicPortPicker((50000, 50010), probe=False),
            host_ip="127.0.1.1",
            cluster_arn=CLUSTER,
            instance_arn=INSTANCE,
            default_stop_timeout_s=1.0,
            report=lambda _r: None,
            awsvpc=AddressPool("127.0.2.0/29"),
        )
        self.manager = TaskManager(self.ctx, cleanup_wait_s=60)
        self.manager.attach(self.reports.append)
        self.events = runtime.events()
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for event in self.events:
            self.manager.on_event(event)

    async def until(self, status: str) -> TaskReport:
        for _ in range(300):
            if self.reports and self.reports[-1]["lastStatus"] == status:
                return self.reports[-1]
            await asyncio.sleep(0.01)
        raise AssertionError(f"never {status}: {self.reports[-3:]}")

    async def close(self) -> None:
        self.pump.cancel()
        await self.manager.close()
        await self.events.aclose()


def owners(runtime: FakeRuntime) -> list[Any]:
    return [c for c in runtime.containers if c.container_name == OWNER_NAME]


def members(runtime: FakeRuntime) -> dict[str, Any]:
    return {c.container_name: c for c in runtime.containers if c.container_name != OWNER_NAME}


async def test_an_awsvpc_task_runs_in_its_owners_namespace_and_stops_with_it() -> None:
    agent = Agent(FakeRuntime())
    try:
        agent.manager.apply_desired([desired()])
        running = await agent.until("RUNNING")
        assert [c["name"] for c in running["containers"]] == ["app", "sidecar"]  # no owner
        assert running["eni"]["privateIPv4Address"] == "127.0.2.1"
        [owner] = owners(agent.runtime)
        assert {(b.host_ip, b.host_port) for b in owner.ports} == {
            ("127.0.2.1", 8080),
            ("127.0.2.1", 9090),
        }
        assert owner.labels[LABEL_AWSVPC_ADDRESS] == "127.0.2.1"
        for container in members(agent.runtime).values():
            assert container.network_mode == f"container:{owner.id}" and not container.ports
        assert ("tcp", 8080) in agent.ctx.picker.in_use  # type: ignore[attr-defined]

        agent.manager.apply_desired([desired("STOPPED")])
        await agent.until("STOPPED")
        assert owners(agent.runtime) == []  # removed at once; the containers wait for cleanup
        assert len(members(agent.runtime)) == 2
        assert ("tcp", 8080) not in agent.ctx.picker.in_use  # type: ignore[attr-defined]
    finally:
        await agent.close()


async def test_a_restarted_agent_adopts_the_owner_and_touches_nothing() -> None:
    runtime = FakeRuntime()
    first = Agent(runtime)
    first.manager.apply_desired([desired()])
    await first.until("RUNNING")
    before = {c.id for c in runtime.containers}
    await first.close()

    second = Agent(runtime)
    try:
        await second.manager.discover()
        second.manager.apply_desired([desired()])
        report = await second.until("RUNNING")
        await asyncio.sleep(0.05)
        assert {c.id for c in runtime.containers} == before  # same ids, nothing re-run
        assert report["eni"]["privateIPv4Address"] == "127.0.2.1"
    finally:
        await second.close()


async def test_a_missing_owner_is_recreated_at_adoption_and_the_containers_rejoin() -> None:
    runtime = FakeRuntime()
    first = Agent(runtime)
    first.manager.apply_desired([desired()])
    await first.until("RUNNING")
    [old_owner] = owners(runtime)
    old = {name: c.id for name, c in members(runtime).items()}
    await first.close()
    await runtime.remove(old_owner.id)  # e.g. `docker rm -f` while the agent was down

    second = Agent(runtime)
    try:
        await second.manager.discover()
        second.manager.apply_desired([desired()])
        for _ in range(300):
            fresh = members(runtime)
            replaced = len(fresh) == 2 and all(fresh[n].id != old[n] for n in old)
            if owners(runtime) and replaced:
                break
            await asyncio.sleep(0.01)
        [owner] = owners(runtime)
        assert owner.id != old_owner.id
        fresh = members(runtime)
        assert {c.network_mode for c in fresh.values()} == {f"container:{owner.id}"}
        report = second.reports[-1]
        assert report["lastStatus"] == "RUNNING"
        assert {c["runtimeId"] for c in report["containers"]} == {c.id for c in fresh.values()}
    finally:
        await second.close()


async def test_the_owner_dying_stops_the_task() -> None:
    agent = Agent(FakeRuntime())
    try:
        agent.manager.apply_desired([desired()])
        await agent.until("RUNNING")
        agent.runtime.kill(owners(agent.runtime)[0].id, 137)
        stopped = await agent.until("STOPPED")
        assert stopped["stopCode"] == "EssentialContainerExited"
        assert "network namespace owner" in stopped["reason"]
    finally:
        await agent.close()


async def test_without_the_pause_image_the_task_fails_with_the_fix() -> None:
    agent = Agent(FakeRuntime(images=["web:1"]))
    try:
        agent.manager.apply_desired([desired()])
        stopped = await agent.until("STOPPED")
        assert stopped["stopCode"] == "TaskFailedToStart"
        assert stopped["reason"].startswith("ResourceInitializationError")
        assert "busybox-static" in stopped["reason"]
    finally:
        await agent.close()
