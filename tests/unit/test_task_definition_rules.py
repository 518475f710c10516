"""ECS's task definition rules, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.api.ecs.task_definition_rules import (
    check_task_definition,
    normalize_container,
    parse_task_cpu,
    parse_task_memory,
)
from dockyard.errors import ClientException


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "image": "nginx", "memory": 128} | fields


def task(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"family": "web", "containerDefinitions": list(containers) or [container()]} | fields


@pytest.mark.parametrize(
    ("text", "units"),
    [("256", 256), ("1 vCPU", 1024), ("0.25 vcpu", 256), (" 2vCPU ", 2048)],
)
def test_task_cpu_parses(text: str, units: int) -> None:
    assert parse_task_cpu(text) == units


@pytest.mark.parametrize(("text", "mib"), [("512", 512), ("1 GB", 1024), ("0.5GB", 512)])
def test_task_memory_parses(text: str, mib: int) -> None:
    assert parse_task_memory(text) == mib


@pytest.mark.parametrize("text", ["abc", "1 TB", "0.1 vCPU x", ""])
def test_bad_cpu_strings(text: str) -> None:
    with pytest.raises(ClientException):
        parse_task_cpu(text)


GOOD = [
    pytest.param(task(), id="minimal"),
    pytest.param(task(container(memory=None, memoryReservation=64)), id="soft-only"),
    pytest.param(task(container(memory=None), memory="512"), id="task-memory-only"),
    pytest.param(
        task(container(links=["db:database"]), container(name="db", essential=False)), id="links"
    ),
    pytest.param(
        task(container(portMappings=[{"containerPort": 80}, {"containerPort": 53, "protocol": "udp"}])),
        id="ports",
    ),
    pytest.param(task(container(portMappings=[{"containerPort": 80, "hostPort": 80}]), networkMode="host"), id="host-mode"),
    pytest.param(
        task(container(dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
             container(name="db", healthCheck={"command": ["CMD", "true"]})),
        id="depends-on-healthy",
    ),
]


@pytest.mark.parametrize("params", GOOD)
def test_accepted(params: dict[str, Any]) -> None:
    for c in params["containerDefinitions"]:
        for key in [k for k, v in c.items() if v is None]:
            del c[key]
    check_task_definition(params)


BAD = [
    pytest.param(task(family="a b"), "Family", id="family"),
    pytest.param(task(family="x" * 256), "Family", id="family-long"),
    pytest.param({"family": "web", "containerDefinitions": []}, "cannot be empty", id="empty"),
    pytest.param(task(container(name="")), "name", id="no-name"),
    pytest.param(task(container(image="")), "image", id="no-image"),
    pytest.param(task(container(), container()), "Duplicate container name", id="dup"),
    pytest.param(task({"name": "web", "image": "x"}), "At least one of 'memory'", id="no-memory"),
    pytest.param(task(container(memory=4)), "at least 6", id="tiny-memory"),
    pytest.param(task(container(memoryReservation=256)), "memoryReservation", id="soft-over-hard"),
    pytest.param(task(container(cpu=-1)), "cpu", id="negative-cpu"),
    pytest.param(task(cpu="64"), "cpu", id="task-cpu-low"),
    pytest.param(task(memory="abc"), "memory", id="task-memory-abc"),
    pytest.param(task(container(memory=1024), memory="512"), "task memory", id="container-over-task"),
    pytest.param(task(container(cpu=1024), cpu="512"), "exceeds the task cpu", id="cpu-over-task"),
    pytest.param(task(container(portMappings=[{"containerPort": 0}])), "containerPort", id="port-0"),
    pytest.param(task(container(portMappings=[{"containerPort": 80, "hostPort": 70000}])), "hostPort", id="host-port-range"),
    pytest.param(task(container(portMappings=[{"containerPort": 80, "protocol": "icmp"}])), "protocol", id="protocol"),
    pytest.param(task(container(portMappings=[{"containerPort": 80, "hostPort": 81}]), networkMode="host"), "must match", id="host-mismatch"),
    pytest.param(
        task(container(portMappings=[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 8080}])),
        "more than one", id="dup-host-port",
    ),
    pytest.param(task(container(links=["db"])), "links to 'db'", id="link-missing"),
    pytest.param(task(container(links=["web"])), "links to 'web'", id="link-self"),
    pytest.param(task(container(links=["db"]), container(name="db"), networkMode="awsvpc"), "Links are not supported", id="link-awsvpc"),
    pytest.param(task(container(essential=False)), "essential", id="no-essential"),
    pytest.param(task(container(healthCheck={"command": []})), "command", id="health-no-command"),
    pytest.param(task(container(healthCheck={"command": ["CMD", "x"], "retries": 11})), "retries", id="health-retries"),
    pytest.param(task(container(healthCheck={"command": ["CMD", "x"], "timeout": 1})), "timeout", id="health-timeout"),
    pytest.param(task(networkMode="overlay"), "networkMode", id="network-mode"),
    pytest.param(task(container(ulimits=[{"name": "bogus", "softLimit": 1, "hardLimit": 1}])), "ulimit", id="ulimit"),
    pytest.param(task(container(mountPoints=[{"sourceVolume": "data", "containerPath": "/d"}])), "volume", id="mount-missing-volume"),
    pytest.param(
        task(container(dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]), container(name="db")),
        "no healthCheck", id="depends-healthy-without-check",
    ),
]


@pytest.mark.parametrize(("params", "fragment"), BAD)
def test_refused(params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ClientException) as excinfo:
        check_task_definition(params)
    assert fragment.lower() in excinfo.value.message.lower()


def test_normalize_fills_ecs_defaults() -> None:
    out = normalize_container(container(portMappings=[{"containerPort": 80}]), "bridge")
    assert out["cpu"] == 0 and out["essential"] is True
    assert out["portMappings"] == [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]
    assert out["environment"] == [] and out["mountPoints"] == [] and out["volumesFrom"] == []
    host = normalize_container(container(portMappings=[{"containerPort": 80}]), "host")
    assert host["portMappings"][0]["hostPort"] == 80
