"""ECS container definition -> Docker Engine JSON, and Docker's answers -> runtime types."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.agent.runtime import (
    LABEL_CLUSTER,
    LABEL_CONTAINER_NAME,
    LABEL_TASK_ARN,
    CannotCreateContainerError,
    ContainerSpec,
    HealthCheck,
    HostPortInUseError,
    PortBinding,
    PortMapping,
    Ulimit,
    container_docker_name,
    validate_spec,
)
from dockyard.agent.runtime_docker_mapping import (
    create_config,
    event_from_docker,
    parse_docker_time,
    start_error,
    state_from_inspect,
)

ARN = "arn:aws:ecs:us-east-1:000000000000:task/stage01/0123456789abcdef"


def spec(**changes: Any) -> ContainerSpec:
    return ContainerSpec(task_arn=ARN, container_name="web", image="web:1", **changes)


def test_full_create_config() -> None:
    full = spec(
        command=("httpd", "-f"),
        entry_point=("/bin/sh", "-c"),
        environment={"A": "1", "B": "x=y"},
        working_directory="/www",
        user="1000:1000",
        hostname="web-1",
        cpu_shares=256,
        memory_mib=128,
        memory_reservation_mib=64,
        labels={LABEL_CLUSTER: "stage01"},
        docker_labels={"team": "blue", LABEL_TASK_ARN: "spoofed"},
        links=(("dockyard-x-db", "db"),),
        ulimits=(Ulimit("nofile", 1024, 4096),),
        health_check=HealthCheck.from_ecs(
            {"command": ["CMD-SHELL", "wget -q localhost"], "interval": 5, "startPeriod": 10}
        ),
        stop_timeout_s=12.5,
        init_process_enabled=True,
    )
    ports = (PortMapping(8080, "tcp", 49200, "127.0.1.1"), PortMapping(53, "udp", 5353))
    assert create_config(full, ports) == {
        "Image": "web:1",
        "Cmd": ["httpd", "-f"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Env": ["A=1", "B=x=y"],
        "WorkingDir": "/www",
        "User": "1000:1000",
        "Hostname": "web-1",
        "Labels": {
            "team": "blue",
            LABEL_CLUSTER: "stage01",
            LABEL_TASK_ARN: ARN,  # Dockyard's labels win over dockerLabels
            LABEL_CONTAINER_NAME: "web",
        },
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "StopTimeout": 13,
        "Healthcheck": {
            "Test": ["CMD-SHELL", "wget -q localhost"],
            "Interval": 5_000_000_000,
            "Timeout": 5_000_000_000,
            "Retries": 3,
            "StartPeriod": 10_000_000_000,
        },
        "HostConfig": {
            "NetworkMode": "bridge",
            "CpuShares": 256,
            "Memory": 128 * 1024 * 1024,
            "MemoryReservation": 64 * 1024 * 1024,
            "PortBindings": {
                "8080/tcp": [{"HostIp": "127.0.1.1", "HostPort": "49200"}],
                "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
            },
            "Init": True,
            "Links": ["dockyard-x-db:db"],
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 4096}],
        },
    }


@pytest.mark.parametrize(("cpu", "shares"), [(0, 2), (1, 2), (2, 2), (1024, 1024)])
def test_cpu_units_become_at_least_two_shares(cpu: int, shares: int) -> None:
    assert create_config(spec(cpu_shares=cpu), ())["HostConfig"]["CpuShares"] == shares


def test_minimal_config_keeps_image_defaults() -> None:
    config = create_config(spec(command=()), ())
    for key in ("Cmd", "Entrypoint", "WorkingDir", "User", "Hostname", "Healthcheck"):
        assert key not in config
    assert "Memory" not in config["HostConfig"]


def test_unassigned_host_port_is_a_bug() -> None:
    with pytest.raises(ValueError, match="not assigned"):
        create_config(spec(), (PortMapping(80),))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"memory_mib": 4}, "below the minimum", id="memory-too-small"),
        pytest.param(
            {"memory_mib": 64, "memory_reservation_mib": 128}, "exceeds", id="reservation-over"
        ),
    ],
)
def test_validate_spec(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(CannotCreateContainerError, match=message):
        validate_spec(spec(**changes))


def test_container_name() -> None:
    assert container_docker_name(ARN, "web") == "dockyard-0123456789abcdef-web"
    assert container_docker_name("task-id", "a b/c") == "dockyard-task-id-a-b-c"


INSPECT_RUNNING: dict[str, Any] = {
    "Id": "c0ffee",
    "Name": "/dockyard-0123456789abcdef-web",
    "Config": {"Image": "web:1", "Labels": {LABEL_TASK_ARN: ARN, LABEL_CONTAINER_NAME: "web"}},
    "State": {
        "Status": "running",
        "ExitCode": 0,
        "Error": "",
        "OOMKilled": False,
        "StartedAt": "2024-05-01T10:00:00.5Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
        "Health": {"Status": "healthy"},
    },
    "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.1.1", "HostPort": "49200"}]}},
    "NetworkSettings": {
        "Ports": {"8080/tcp": [{"HostIp": "127.0.1.1", "HostPort": "49200"}], "9000/tcp": None}
    },
}


def test_running_container_state() -> None:
    state = state_from_inspect(INSPECT_RUNNING)
    assert (state.id, state.name, state.status, state.health_status) == (
        "c0ffee",
        "dockyard-0123456789abcdef-web",
        "running",
        "HEALTHY",
    )
    assert (state.task_arn, state.container_name) == (ARN, "web")
    assert state.exit_code is None and state.finished_at is None
    assert state.started_at == 1714557600.5
    assert state.ports == (PortBinding(8080, "tcp", "127.0.1.1", 49200),)


def test_exited_container_keeps_requested_ports_and_reports_oom() -> None:
    data = {
        **INSPECT_RUNNING,
        "State": {
            "Status": "exited",
            "ExitCode": 137,
            "OOMKilled": True,
            "Error": "",
            "StartedAt": "2024-05-01T10:00:00Z",
            "FinishedAt": "2024-05-01T10:01:00.123456789Z",
        },
        "NetworkSettings": {"Ports": {}},
    }
    state = state_from_inspect(data)
    assert (state.status, state.exit_code, state.oom_killed) == ("exited", 137, True)
    assert state.health_status == "UNKNOWN"
    assert state.finished_at == pytest.approx(1714557660.123456789)
    assert state.ports == (PortBinding(8080, "tcp", "127.0.1.1", 49200),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
        ("2024-05-01T10:00:00Z", 1714557600.0),
        ("2024-05-01T12:00:00.25+02:00", 1714557600.25),
    ],
)
def test_parse_docker_time(text: str | None, expected: float | None) -> None:
    assert parse_docker_time(text) == expected


def test_die_event() -> None:
    event = event_from_docker(
        {
            "Type": "container",
            "Action": "die",
            "Actor": {
                "ID": "c0ffee",
                "Attributes": {
                    "exitCode": "137",
                    "image": "web:1",
                    "name": "x",
                    LABEL_TASK_ARN: ARN,
                },
            },
            "time": 1714557600,
            "timeNano": 1714557600123456789,
        }
    )
    assert event is not None
    assert (event.container_id, event.action, event.exit_code) == ("c0ffee", "die", 137)
    assert event.labels == {LABEL_TASK_ARN: ARN}
    assert event.time == pytest.approx(1714557600.123456789)


def test_health_event_and_ignored_actions() -> None:
    health = event_from_docker(
        {"Type": "container", "Action": "health_status: unhealthy", "Actor": {"ID": "c"}}
    )
    assert health is not None
    assert (health.action, health.health_status) == ("health_status", "UNHEALTHY")
    assert event_from_docker({"Type": "container", "Action": "exec_create: true"}) is None
    assert event_from_docker({"Type": "network", "Action": "connect"}) is None


@pytest.mark.parametrize(
    ("message", "port"),
    [
        (
            "driver failed programming external connectivity on endpoint x (e6): Error starting "
            "userland proxy: listen tcp4 127.0.1.1:50200: bind: address already in use",
            50200,
        ),
        (
            "driver failed programming external connectivity on endpoint x (18): "
            "Bind for 127.0.1.1:50123 failed: port is already allocated",
            50123,
        ),
        ("userland proxy: listen udp6 [::]:50201: bind: address already in use", 50201),
    ],
)
def test_port_in_use_is_recognised(message: str, port: int) -> None:
    error = start_error(message)
    assert isinstance(error, HostPortInUseError)
    assert error.port == port


def test_other_start_errors_are_permanent() -> None:
    error = start_error('OCI runtime create failed: exec: "nope": executable file not found')
    assert not isinstance(error, HostPortInUseError)
    assert not error.retryable
    assert error.reason.startswith("CannotStartContainerError: OCI runtime")
