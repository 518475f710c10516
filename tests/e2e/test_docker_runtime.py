"""DockerRuntime against the real engine: dynamic ports served over HTTP on a loopback
alias, port collisions, stop timeouts, health checks, events, labels, logs.

Needs a Docker engine (skipped with the reason when none answers; a failure with
DOCKYARD_REQUIRE_DOCKER=1) and Debian's
busybox-static for the locally built test images. Every container carries this
module's cluster label and is removed by it, also when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import docker
import pytest

from dockyard.agent.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_INSTANCE,
    LABEL_TASK_ARN,
    CannotPullContainerError,
    CannotStartContainerError,
    ContainerRuntime,
    ContainerSpec,
    EventStream,
    HealthCheck,
    HostPortInUseError,
    ImageNotFoundError,
    PortMapping,
    RuntimeEvent,
    RuntimeUnavailableError,
)
from dockyard.agent.runtime_docker import DockerRuntime
from dockyard.agent.runtime_ports import DynamicPortPicker, can_bind
from dockyard.testing import runtime_contract as contract
from dockyard.testing.images import BUSYBOX_IMAGE, WEB_IMAGE, build_test_images
from tests.e2e.conftest import docker_required

pytestmark = pytest.mark.e2e

CLUSTER = f"e2e-runtime-{os.getpid()}"
HOST_IP = "127.0.1.1"  # a loopback alias: works on Linux without configuration
ARN_PREFIX = f"arn:aws:ecs:us-east-1:000000000000:task/{CLUSTER}"
# Ports for tests that pin them: above the kernel's ephemeral range (32768-60999 here),
# so client sockets do not take them by chance.
TEST_PORTS = (61000, 64000)

SLEEPER = ContainerSpec(
    task_arn=f"{ARN_PREFIX}/0",
    container_name="sleeper",
    image=BUSYBOX_IMAGE,
    command=("sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"),
    port_mappings=(PortMapping(8080, host_ip=HOST_IP),),
    labels={LABEL_CLUSTER: CLUSTER, LABEL_CONTAINER_INSTANCE: "i-e2e"},
)
WEB = replace(SLEEPER, container_name="web", image=WEB_IMAGE, command=None)


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:
        if docker_required():  # CI (DOCKYARD_REQUIRE_DOCKER=1): fail, never skip
            raise
        pytest.skip(f"no Docker engine answers (DOCKER_HOST or /var/run/docker.sock): {exc}")
    try:
        yield client
    finally:  # belt and braces: whatever a failed test left behind
        for container in client.containers.list(
            all=True, filters={"label": f"{LABEL_CLUSTER}={CLUSTER}"}
        ):
            container.remove(force=True)
        client.close()


@pytest.fixture(scope="module")
def images(docker_client: Any) -> dict[str, str]:
    if not os.path.exists("/usr/bin/busybox"):
        if docker_required():
            pytest.fail("test images need /usr/bin/busybox (apt-get install busybox-static)")
        pytest.skip("test images need /usr/bin/busybox (apt-get install busybox-static)")
    return build_test_images(docker_client)


@pytest.fixture
async def runtime(images: dict[str, str]) -> AsyncIterator[DockerRuntime]:
    docker_runtime = await DockerRuntime.connect()
    try:
        yield docker_runtime
    finally:
        for state in await docker_runtime.list_containers({LABEL_CLUSTER: CLUSTER}):
            await docker_runtime.remove(state.id)
        await docker_runtime.close()


@pytest.fixture
def picker() -> DynamicPortPicker:
    return DynamicPortPicker()


def _conforms(runtime: DockerRuntime) -> ContainerRuntime:
    return runtime  # mypy checks DockerRuntime against the protocol here


# --- the contract the fake keeps too -------------------------------------------------------


async def test_contract_lifecycle(runtime: DockerRuntime, picker: DynamicPortPicker) -> None:
    await contract.check_lifecycle(runtime, SLEEPER, picker)


async def test_contract_events(runtime: DockerRuntime, picker: DynamicPortPicker) -> None:
    events = await contract.check_events(runtime, SLEEPER, picker)
    die = next(e for e in events if e.action == "die")
    assert die.exit_code == 0  # the sleeper exits 0 on SIGTERM


async def test_contract_rerun_replaces_leftover(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    await contract.check_rerun_replaces_leftover(runtime, SLEEPER, picker)


# --- ports and HTTP ------------------------------------------------------------------------


async def test_dynamic_port_serves_the_cgi_page_on_the_loopback_alias(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    spec = contract.fresh(WEB, "http")
    spec = replace(spec, environment={"DOCKYARD_TASK_ARN": spec.task_arn, "ECS_NAME": "web"})
    state = await runtime.run(spec, picker)
    [binding] = state.ports
    assert (binding.host_ip, binding.container_port) == (HOST_IP, 8080)
    assert 49153 <= binding.host_port <= 65535

    env = await _http_get(f"http://{HOST_IP}:{binding.host_port}/cgi-bin/env")
    assert f"DOCKYARD_TASK_ARN={spec.task_arn}\n" in env
    assert "ECS_NAME=web\n" in env
    discover = json.loads(await _http_get(f"http://{HOST_IP}:{binding.host_port}/discover"))
    assert discover["hostname"] == state.id[:12]
    assert discover["DOCKYARD_TASK_ARN"] == spec.task_arn


async def test_port_another_process_holds_is_skipped_by_the_probe(runtime: DockerRuntime) -> None:
    with _listener(HOST_IP) as held:
        picker = DynamicPortPicker((held, held + 20), start=held)
        state = await runtime.run(contract.fresh(SLEEPER, "probe"), picker)
        assert [b.host_port for b in state.ports] == [held + 1]


async def test_port_taken_at_start_is_retried_not_failed(runtime: DockerRuntime) -> None:
    """The picker does not probe, so Docker itself hits the held port at start."""
    with _listener(HOST_IP) as held:
        await contract.check_port_retry(runtime, SLEEPER, held_port=held)


async def test_static_port_taken_fails_the_start(runtime: DockerRuntime) -> None:
    with _listener(HOST_IP) as held:
        spec = replace(
            contract.fresh(SLEEPER, "static"),
            port_mappings=(PortMapping(8080, host_port=held, host_ip=HOST_IP),),
        )
        with pytest.raises(HostPortInUseError) as caught:
            await runtime.run(spec, DynamicPortPicker())
        assert caught.value.port == held
        assert await runtime.list_containers({LABEL_TASK_ARN: spec.task_arn}) == []


# --- stop, health, events ------------------------------------------------------------------


async def test_stop_sends_sigterm_then_sigkill_after_the_timeout(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    ignorer = replace(
        contract.fresh(SLEEPER, "ignore"), command=("sh", "-c", "trap '' TERM; sleep 1000")
    )
    state = await runtime.run(ignorer, picker)
    started = time.monotonic()
    await runtime.stop(state.id, 2)
    elapsed = time.monotonic() - started
    stopped = await runtime.inspect(state.id)
    assert stopped is not None and (stopped.status, stopped.exit_code) == ("exited", 137)
    assert 2 <= elapsed <= 2 + 2, elapsed


async def test_stop_of_a_process_that_handles_sigterm_is_prompt(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    state = await runtime.run(contract.fresh(WEB, "graceful"), picker)
    started = time.monotonic()
    await runtime.stop(state.id, 10)
    assert time.monotonic() - started < 3
    stopped = await runtime.inspect(state.id)
    assert stopped is not None and stopped.exit_code == 0


async def test_health_check_reaches_healthy(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    check = HealthCheck.from_ecs(
        {
            "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"],
            "interval": 1,
            "timeout": 2,
            "retries": 2,
        }
    )
    spec = replace(contract.fresh(WEB, "health"), health_check=check)
    events = runtime.events()
    try:
        state = await runtime.run(spec, picker)
        health = await _next_event(events, state.id, "health_status", within_s=15)
        assert health.health_status == "HEALTHY"
    finally:
        await events.aclose()
    inspected = await runtime.inspect(state.id)
    assert inspected is not None and inspected.health_status == "HEALTHY"


async def test_die_event_carries_the_exit_code(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    crasher = replace(contract.fresh(SLEEPER, "crash"), command=("sh", "-c", "sleep 0.3; exit 3"))
    events = runtime.events()
    try:
        state = await runtime.run(crasher, picker)
        die = await _next_event(events, state.id, "die", within_s=10)
    finally:
        await events.aclose()
    assert die.exit_code == 3
    assert die.labels[LABEL_TASK_ARN] == crasher.task_arn
    dead = await runtime.inspect(state.id)
    assert dead is not None and (dead.status, dead.exit_code) == ("exited", 3)


# --- images, labels, limits, logs ---------------------------------------------------------


async def test_missing_image_raises_the_pull_error(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    missing = "dockyard-test/does-not-exist:1"
    with pytest.raises(CannotPullContainerError) as caught:
        await runtime.ensure_image(missing)
    assert caught.value.reason.startswith(f"CannotPullContainerError: {missing}")
    await runtime.ensure_image(BUSYBOX_IMAGE)  # present: no pull
    with pytest.raises(ImageNotFoundError):
        await runtime.run(replace(contract.fresh(SLEEPER, "noimg"), image=missing), picker)


async def test_list_containers_finds_them_by_labels(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    one = await runtime.run(contract.fresh(SLEEPER, "l1"), picker)
    other_instance = {LABEL_CLUSTER: CLUSTER, LABEL_CONTAINER_INSTANCE: "i-other"}
    two = await runtime.run(replace(contract.fresh(SLEEPER, "l2"), labels=other_instance), picker)
    mine = await runtime.list_containers(
        {LABEL_CLUSTER: CLUSTER, LABEL_CONTAINER_INSTANCE: "i-e2e"}
    )
    assert [s.id for s in mine] == [one.id]
    in_cluster = await runtime.list_containers({LABEL_CLUSTER: CLUSTER, LABEL_TASK_ARN: None})
    assert {one.id, two.id} <= {s.id for s in in_cluster}


async def test_limits_reach_the_engine(
    runtime: DockerRuntime, picker: DynamicPortPicker, docker_client: Any
) -> None:
    spec = replace(
        contract.fresh(SLEEPER, "limits"),
        cpu_shares=0,
        memory_mib=64,
        memory_reservation_mib=32,
        stop_timeout_s=7,
    )
    state = await runtime.run(spec, picker)
    data = docker_client.api.inspect_container(state.id)
    host = data["HostConfig"]
    assert (host["CpuShares"], host["Memory"], host["MemoryReservation"]) == (
        2,
        64 << 20,
        32 << 20,
    )
    assert data["Config"]["StopTimeout"] == 7


async def test_exec_failure_is_cannot_start_and_leaves_no_container(
    runtime: DockerRuntime, picker: DynamicPortPicker
) -> None:
    broken = replace(contract.fresh(SLEEPER, "exec"), command=("/no/such/binary",))
    with pytest.raises(CannotStartContainerError) as caught:
        await runtime.run(broken, picker)
    assert not isinstance(caught.value, HostPortInUseError)
    assert await runtime.list_containers({LABEL_TASK_ARN: broken.task_arn}) == []
    assert picker.in_use == frozenset()


async def test_logs(runtime: DockerRuntime, picker: DynamicPortPicker) -> None:
    talker = replace(
        contract.fresh(SLEEPER, "logs"),
        command=(
            "sh",
            "-c",
            "echo one; echo two >&2; sleep 0.2; echo three; trap 'exit 0' TERM; sleep 1000 & wait",
        ),
    )
    state = await runtime.run(talker, picker)
    deadline = time.monotonic() + 5
    text = b""
    while b"three" not in text and time.monotonic() < deadline:
        text = b"".join([chunk async for chunk in runtime.logs(state.id)])
        await asyncio.sleep(0.05)
    assert sorted(text.splitlines()) == [b"one", b"three", b"two"]  # stdout and stderr
    async with contextlib.aclosing(runtime.logs(state.id, follow=True, tail=1)) as follow:
        first = await asyncio.wait_for(anext(follow), 5)
    assert first == b"three\n"
    assert [c async for c in runtime.logs("no-such-container")] == []


async def test_close_ends_subscriptions_streams_and_threads(
    picker: DynamicPortPicker, images: dict[str, str]
) -> None:
    docker_runtime = await DockerRuntime.connect()
    state = await docker_runtime.run(contract.fresh(SLEEPER, "close"), picker)
    try:
        events = docker_runtime.events()
        follow = docker_runtime.logs(state.id, follow=True)
        reader = asyncio.create_task(_drain(follow))
        await asyncio.sleep(0.2)  # both streams open
        await docker_runtime.close()
        assert [e async for e in events] == []
        assert await asyncio.wait_for(reader, 5) == b""
        alive = [t.name for t in threading.enumerate() if t.name.startswith("docker-")]
        assert not [name for name in alive if "events" in name or "logs" in name]
    finally:
        cleanup = await DockerRuntime.connect()
        await cleanup.remove(state.id)
        await cleanup.close()


async def test_no_engine_is_runtime_unavailable() -> None:
    with pytest.raises(RuntimeUnavailableError, match="no Docker engine answers"):
        await DockerRuntime.connect("unix:///nonexistent/docker.sock")


# --- helpers ------------------------------------------------------------------------------


@contextlib.contextmanager
def _listener(host_ip: str) -> Iterator[int]:
    """Hold a tcp port (and keep the next one free) as another process would."""
    for port in range(*TEST_PORTS):
        if not can_bind(host_ip, port + 1, "tcp"):
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host_ip, port))
            except OSError:
                continue
            sock.listen()
            yield port
            return
    raise RuntimeError(f"no free test port pair in {TEST_PORTS}")


async def _http_get(url: str, within_s: float = 5) -> str:
    """GET with retries while the server inside the container starts."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await asyncio.to_thread(_get, url)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _drain(stream: AsyncGenerator[bytes, None]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def _next_event(
    events: EventStream, container_id: str, action: str, within_s: float
) -> RuntimeEvent:
    async with asyncio.timeout(within_s):
        async for event in events:
            if event.container_id == container_id and event.action == action:
                return event
    raise AssertionError(f"event stream ended before {action}")
