"""Agent configuration: ECS env file, flags over file, ECS defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.agent.config import ConfigError, build_config, parse_duration, parse_range


def test_env_file_like_ecs_bootstrap(tmp_path: Path) -> None:
    env = tmp_path / "ecs.config"
    env.write_text(
        "# written by ecs-bootstrap\n"
        "ECS_CLUSTER=stage01\n"
        'ECS_INSTANCE_ATTRIBUTES={"stack": "prod", "tier": "web"}\n'
        "ECS_RESERVED_MEMORY=256\n"
        "ECS_RESERVED_PORTS=[22, 8500]\n"
        "ECS_DYNAMIC_HOST_PORT_RANGE=50000-50100\n"
        "ECS_CONTAINER_STOP_TIMEOUT=2m\n"
        "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10s\n"
        "ECS_AVAILABILITY_ZONE=az-b\n"
        "DOCKYARD_ENDPOINT=http://127.0.0.1:9000/\n"
    )
    config = build_config({"cpu": 1024}, env, environ={})
    assert config.cluster == "stage01"
    assert config.endpoint == "http://127.0.0.1:9000"
    assert config.cpu == 1024
    assert config.reserved_ports == (22, 8500)
    assert config.dynamic_port_range == (50000, 50100)
    assert config.stop_timeout_s == 120 and config.cleanup_wait_s == 10
    attributes = {a["name"]: a.get("value") for a in config.agent_attributes()}
    assert attributes["stack"] == "prod" and attributes["tier"] == "web"
    assert attributes["ecs.availability-zone"] == "az-b"
    assert attributes["ecs.os-type"] == "linux"
    assert attributes["dockyard.dynamic-port-range"] == "50000-50100"


def test_flags_win_and_defaults_follow_the_ecs_agent(tmp_path: Path) -> None:
    env = tmp_path / "ecs.config"
    env.write_text("ECS_CLUSTER=from-file\nECS_RESERVED_MEMORY=100\n")
    config = build_config(
        {"endpoint": "http://127.0.0.1:8080", "cluster": "from-flag", "attribute": ("a=1", "flag")},
        env,
        environ={},
    )
    assert config.cluster == "from-flag"
    assert config.reserved_ports == (22, 2375, 2376, 51678, 51679)
    assert config.dynamic_port_range == (49153, 65535)
    assert config.stop_timeout_s == 30
    assert config.cpu % 1024 == 0 and config.cpu >= 1024
    assert config.memory > 0
    attributes = {a["name"]: a.get("value") for a in config.agent_attributes()}
    assert attributes["a"] == "1" and "flag" in attributes


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("3h", 10800), ("500ms", 0.5), ("45", 45)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 days", "-1s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["1000", "70000-80000", "500-400", "a-b"])
def test_bad_ranges(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_range(text)


def test_missing_endpoint_and_bad_attributes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="endpoint"):
        build_config({}, None, environ={})
    env = tmp_path / "bad"
    env.write_text("ECS_INSTANCE_ATTRIBUTES=[1,2]\n")
    with pytest.raises(ConfigError, match="ECS_INSTANCE_ATTRIBUTES"):
        build_config({"endpoint": "http://x"}, env, environ={})
    env.write_text("NOT A LINE\n")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        build_config({"endpoint": "http://x"}, env, environ={})
