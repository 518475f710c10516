"""Dynamic host port picking and the start retry when a port was taken meanwhile."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from dockyard.agent.runtime import (
    CannotStartContainerError,
    ContainerSpec,
    ContainerState,
    HostPortInUseError,
    NoFreeHostPortError,
    PortBinding,
    PortMapping,
    PortProtocol,
)
from dockyard.agent.runtime_ports import (
    PORT_BIND_ATTEMPTS,
    DynamicPortPicker,
    can_bind,
    run_with_port_retries,
)


def test_walks_the_range_from_the_start_and_wraps() -> None:
    picker = DynamicPortPicker((50000, 50002), probe=False, start=50001)
    assert [picker.pick("tcp", "127.0.0.1") for _ in range(3)] == [50001, 50002, 50000]
    with pytest.raises(NoFreeHostPortError, match="50000-50002"):
        picker.pick("tcp", "127.0.0.1")
    assert picker.pick("udp", "127.0.0.1") == 50001  # udp ports are a separate space


def test_released_ports_come_back_after_a_lap() -> None:
    picker = DynamicPortPicker((50000, 50003), probe=False, start=50000)
    first = picker.pick("tcp", "")
    picker.release(first, "tcp")
    assert [picker.pick("tcp", "") for _ in range(4)] == [50001, 50002, 50003, 50000]


def test_random_start_spreads_agents() -> None:
    starts = {
        DynamicPortPicker(probe=False, rng=random.Random(seed)).pick("tcp", "")
        for seed in range(20)
    }
    assert len(starts) > 15
    assert all(49153 <= port <= 65535 for port in starts)


def test_adopted_and_static_ports_are_skipped() -> None:
    picker = DynamicPortPicker((50000, 50003), probe=False, start=50000)
    picker.adopt([PortBinding(80, "tcp", "0.0.0.0", 50000)])
    picker.reserve(50001, "tcp")
    assert picker.pick("tcp", "") == 50002
    picker.release_bindings([PortBinding(80, "tcp", "0.0.0.0", 50000)])
    assert ("tcp", 50000) not in picker.in_use


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_probe_skips_a_port_another_process_holds(protocol: PortProtocol) -> None:
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("127.0.0.1", 0))
        held = holder.getsockname()[1]
        assert not can_bind("127.0.0.1", held, protocol)
        picker = DynamicPortPicker((held, min(held + 50, 65535)), start=held)
        port = picker.pick(protocol, "127.0.0.1")
        assert port != held


def test_an_address_not_on_this_host_is_a_config_error_not_a_busy_port() -> None:
    with pytest.raises(OSError):
        can_bind("192.0.2.1", 50000, "tcp")  # TEST-NET-1
    with pytest.raises(CannotStartContainerError, match=r"192\.0\.2\.1"):
        DynamicPortPicker().pick("tcp", "192.0.2.1")


def test_kernel_range(tmp_path: Path) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text("32768\t60999\n")
    picker = DynamicPortPicker.from_kernel_range(path, probe=False)
    assert (picker.low, picker.high) == (32768, 60999)


SPEC = ContainerSpec(
    task_arn="arn:aws:ecs:us-east-1:000000000000:task/c/t1",
    container_name="web",
    image="web:1",
    port_mappings=(PortMapping(8080, host_ip="127.0.1.1"), PortMapping(9000, host_port=9000)),
)


class _Starter:
    """Stands in for a runtime's create+start: fails with the given errors first."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.attempts: list[tuple[PortMapping, ...]] = []

    async def __call__(self, ports: tuple[PortMapping, ...]) -> ContainerState:
        self.attempts.append(ports)
        if self.failures:
            raise self.failures.pop(0)
        bindings = tuple(
            PortBinding(p.container_port, p.protocol, p.host_ip, p.host_port) for p in ports
        )
        return ContainerState(id="c", name="n", labels={}, status="running", ports=bindings)


async def test_taken_dynamic_port_is_retried_with_the_next() -> None:
    picker = DynamicPortPicker((50000, 50010), probe=False, start=50000)
    start = _Starter(HostPortInUseError("address already in use", 50000))
    state = await run_with_port_retries(SPEC, picker, start)
    assert [p.host_port for p in start.attempts[0]] == [50000, 9000]
    assert [b.host_port for b in state.ports] == [50001, 9000]
    assert picker.in_use == {("tcp", 50001), ("tcp", 9000)}


async def test_taken_static_port_fails_at_once() -> None:
    picker = DynamicPortPicker((50000, 50010), probe=False, start=50000)
    start = _Starter(HostPortInUseError("Bind for 0.0.0.0:9000 failed", 9000))
    with pytest.raises(HostPortInUseError):
        await run_with_port_retries(SPEC, picker, start)
    assert len(start.attempts) == 1
    assert picker.in_use == frozenset()


async def test_gives_up_after_the_attempt_limit() -> None:
    picker = DynamicPortPicker((50000, 50010), probe=False, start=50000)
    failures = [HostPortInUseError("in use", None) for _ in range(PORT_BIND_ATTEMPTS)]
    with pytest.raises(HostPortInUseError, match=f"{PORT_BIND_ATTEMPTS} times"):
        await run_with_port_retries(SPEC, picker, _Starter(*failures))
    assert picker.in_use == frozenset()


async def test_other_failures_release_ports_and_propagate() -> None:
    picker = DynamicPortPicker((50000, 50010), probe=False, start=50000)
    with pytest.raises(CannotStartContainerError, match="exec"):
        await run_with_port_retries(SPEC, picker, _Starter(CannotStartContainerError("exec")))
    assert picker.in_use == frozenset()
