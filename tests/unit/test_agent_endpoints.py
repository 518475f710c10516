"""Several servers for one agent (dockyard.ha): `--endpoint` repeated or a list in
DOCKYARD_ENDPOINT; the agent moves on to the next one after a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.agent.config import ConfigError, build_config, split_endpoints

A, B, C = "http://127.0.0.1:8080", "http://127.0.0.1:8081", "http://127.0.0.1:8082"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(A + "/", (A,), id="one"),
        pytest.param((A, B + "/"), (A, B), id="flags"),
        pytest.param(f"{A}, {B},{C}", (A, B, C), id="commas"),
        pytest.param(f"{A} {B} {A}", (A, B), id="spaces-dedup"),
        pytest.param((), (), id="none"),
    ],
)
def test_split_endpoints(value: object, expected: tuple[str, ...]) -> None:
    assert split_endpoints(value) == expected


def test_flags_and_env_file(tmp_path: Path) -> None:
    config = build_config({"endpoint": (A, B)}, None, environ={})
    assert (config.endpoint, config.endpoints) == (A, (A, B))
    env = tmp_path / "ecs.config"
    env.write_text(f"DOCKYARD_ENDPOINT={A},{B},{C}\nECS_CLUSTER=c1\n")
    config = build_config({"endpoint": ()}, env, environ={})
    assert config.endpoints == (A, B, C)
    assert [config.rotate_endpoint() for _ in range(4)] == [B, C, A, B]
    with pytest.raises(ConfigError):
        build_config({"endpoint": ()}, None, environ={})


def test_one_endpoint_never_rotates() -> None:
    config = build_config({"endpoint": (A,)}, None, environ={})
    assert config.rotate_endpoint() == A
