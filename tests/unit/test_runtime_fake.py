"""FakeRuntime keeps the ContainerRuntime contract (the same checks run on Docker in e2e)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import replace

import pytest

from dockyard.agent.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_INSTANCE,
    LABEL_TASK_ARN,
    ContainerRuntime,
    ContainerSpec,
    EventStream,
    HealthCheck,
    HostPortInUseError,
    ImageNotFoundError,
    PortMapping,
    RuntimeEvent,
)
from dockyard.agent.runtime_ports import DynamicPortPicker
from dockyard.testing import runtime_contract as contract
from dockyard.testing.fake_runtime import FakeRuntime

SLEEPER = ContainerSpec(
    task_arn="arn:aws:ecs:us-east-1:000000000000:task/unit/0",
    container_name="app",
    image="app:1",
    port_mappings=(PortMapping(8080, host_ip="127.0.1.1"),),
    labels={LABEL_CLUSTER: "unit", LABEL_CONTAINER_INSTANCE: "i-1"},
)


@pytest.fixture
async def fake() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def picker() -> DynamicPortPicker:
    return DynamicPortPicker(probe=False)


def test_fake_is_a_container_runtime() -> None:
    runtime: ContainerRuntime = FakeRuntime()  # mypy checks the protocol here
    assert runtime is not None


async def test_contract_lifecycle(fake: FakeRuntime, picker: DynamicPortPicker) -> None:
    await contract.check_lifecycle(fake, SLEEPER, picker)


async def test_contract_events(fake: FakeRuntime, picker: DynamicPortPicker) -> None:
    await contract.check_events(fake, SLEEPER, picker)


async def test_contract_rerun_replaces_leftover(
    fake: FakeRuntime, picker: DynamicPortPicker
) -> None:
    await contract.check_rerun_replaces_leftover(fake, SLEEPER, picker)


async def test_contract_port_held_elsewhere_is_retried(fake: FakeRuntime) -> None:
    fake.hold_port(50000, host_ip="127.0.1.1")
    await contract.check_port_retry(fake, SLEEPER, held_port=50000)


async def test_wildcard_hold_blocks_every_address(fake: FakeRuntime) -> None:
    fake.hold_port(50000)  # 0.0.0.0
    state = await contract.check_port_retry(fake, SLEEPER, held_port=50000)
    assert state.ports[0].host_port == 50001


async def test_static_port_conflict_is_not_retried(
    fake: FakeRuntime, picker: DynamicPortPicker
) -> None:
    static = replace(
        contract.fresh(SLEEPER, "static"), port_mappings=(PortMapping(80, host_port=8080),)
    )
    first = await fake.run(static, picker)
    with pytest.raises(HostPortInUseError) as caught:
        await fake.run(contract.fresh(static, "static2"), picker)
    assert caught.value.port == 8080
    assert caught.value.reason.startswith("CannotStartContainerError: ")
    assert [s.id for s in fake.containers] == [first.id]  # the failed one is gone


async def test_missing_image() -> None:
    fake = FakeRuntime(images=["app:1"])
    await fake.ensure_image("app:1")
    with pytest.raises(ImageNotFoundError) as caught:
        await fake.ensure_image("app:2")
    assert caught.value.reason.startswith("CannotPullContainerError: app:2")
    assert not caught.value.retryable
    fake.add_image("app:2")
    await fake.ensure_image("app:2")


async def test_kill_reports_crash_and_oom(fake: FakeRuntime, picker: DynamicPortPicker) -> None:
    events = fake.events()
    state = await fake.run(contract.fresh(SLEEPER, "oom"), picker)
    fake.kill(state.id, 137, oom=True)
    dead = await fake.inspect(state.id)
    assert dead is not None
    assert (dead.status, dead.exit_code, dead.oom_killed) == ("exited", 137, True)
    got = await _take(events, 4)
    assert [e.action for e in got] == ["create", "start", "oom", "die"]
    assert got[-1].exit_code == 137


async def test_health_is_reported(picker: DynamicPortPicker) -> None:
    fake = FakeRuntime(auto_healthy=False)
    spec = replace(contract.fresh(SLEEPER, "hc"), health_check=HealthCheck(("CMD", "true")))
    events = fake.events()
    state = await fake.run(spec, picker)
    assert state.health_status == "UNKNOWN"
    fake.set_health(state.id, "UNHEALTHY")
    got = await _take(events, 3)
    assert (got[-1].action, got[-1].health_status) == ("health_status", "UNHEALTHY")
    auto = await FakeRuntime().run(spec, picker)
    assert auto.health_status == "HEALTHY"


async def test_logs_tail_and_follow(fake: FakeRuntime, picker: DynamicPortPicker) -> None:
    state = await fake.run(contract.fresh(SLEEPER, "logs"), picker)
    fake.write_log(state.id, b"one\ntwo\nthree\n")
    assert [c async for c in fake.logs(state.id, tail=2)] == [b"two\nthree\n"]

    async def follow() -> list[bytes]:
        return [chunk async for chunk in fake.logs(state.id, follow=True, tail=0)]

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)
    fake.write_log(state.id, b"four\n")
    await asyncio.sleep(0)
    fake.kill(state.id, 1)
    assert await asyncio.wait_for(follower, 1) == [b"four\n"]
    assert [c async for c in fake.logs("no-such-container")] == []


async def test_list_containers_filters_by_labels(
    fake: FakeRuntime, picker: DynamicPortPicker
) -> None:
    mine = await fake.run(contract.fresh(SLEEPER, "a"), picker)
    other = replace(contract.fresh(SLEEPER, "b"), labels={LABEL_CLUSTER: "other"})
    theirs = await fake.run(other, picker)
    assert [s.id for s in await fake.list_containers({LABEL_CLUSTER: "unit"})] == [mine.id]
    everything = await fake.list_containers({LABEL_TASK_ARN: None})
    assert {s.id for s in everything} == {mine.id, theirs.id}


async def test_close_ends_subscriptions(fake: FakeRuntime) -> None:
    events = fake.events()
    await fake.close()
    assert [e async for e in events] == []
    assert [e async for e in fake.events()] == []


async def test_hundreds_of_simulated_hosts_in_one_process() -> None:
    """Not a benchmark: checks the fake stays cheap enough to simulate a fleet."""
    started = time.perf_counter()
    hosts = [(FakeRuntime(), DynamicPortPicker(probe=False)) for _ in range(300)]
    states = await asyncio.gather(
        *(
            runtime.run(contract.fresh(SLEEPER, f"h{i}-{n}"), picker)
            for i, (runtime, picker) in enumerate(hosts)
            for n in range(10)
        )
    )
    assert len({s.id for s in states}) == 3000
    assert all(len(r.containers) == 10 for r, _ in hosts)
    assert time.perf_counter() - started < 10


async def _take(events: EventStream, count: int) -> list[RuntimeEvent]:
    got: list[RuntimeEvent] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1):
            async for event in events:
                got.append(event)
                if len(got) == count:
                    break
    return got


def _taken_by_scan(fake: FakeRuntime, protocol: str, host_ip: str, port: int) -> bool:
    """What the indexes must answer: a running container binds the port on an
    overlapping address (the same one, or either side a wildcard)."""
    wild = ("", "0.0.0.0", "::")
    return any(
        b.protocol == protocol
        and b.host_port == port
        and (b.host_ip == host_ip or b.host_ip in wild or host_ip in wild)
        for c in fake.containers
        if c.status == "running"
        for b in c.ports
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_port_and_name_indexes_agree_with_a_scan(seed: int) -> None:
    """Random runs (static ports, some clashing), reruns of a task's container (the
    leftover replaced), stops, kills and removals: after each, the port index answers as
    a scan of the running containers would, and a lookup by name finds the container
    a scan finds."""
    rng = random.Random(seed)
    fake = FakeRuntime()
    picker = DynamicPortPicker(probe=False)
    addresses, ports = ("127.0.1.1", "127.0.1.2", "0.0.0.0"), (8080, 8081, 8082)
    for step in range(300):
        op = rng.choice(["run", "run", "stop", "kill", "remove"])
        live = fake.containers
        if op == "run":
            spec = replace(
                SLEEPER,
                task_arn=f"{SLEEPER.task_arn[:-1]}{rng.randrange(6)}",
                port_mappings=(
                    PortMapping(80, host_port=rng.choice(ports), host_ip=rng.choice(addresses)),
                ),
            )
            with contextlib.suppress(HostPortInUseError):
                await fake.run(spec, picker)
        elif live:
            target = rng.choice(live).id
            if op == "stop":
                await fake.stop(target, 1)
            elif op == "kill":
                fake.kill(target)
            else:
                await fake.remove(target)
        for protocol in ("tcp", "udp"):
            for address in (*addresses, "127.0.1.3"):
                for port in ports:
                    assert fake._port_taken(protocol, address, port) == _taken_by_scan(  # type: ignore[arg-type]
                        fake, protocol, address, port
                    ), (step, op, protocol, address, port)
        for container in fake.containers:
            assert fake._find(container.name) is not None
            assert fake._find(container.name).state.id == container.id  # type: ignore[union-attr]
