"""Several servers for one agent (dockyard.ha): `--endpoint` repeated or a list in
DOCKYARD_ENDPOINT; the agent moves on to the next one after a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from dockyard.agent import channel as channel_module
from dockyard.agent.channel import Channel
from dockyard.agent.config import ConfigError, build_config, split_endpoints
from dockyard.agent.update import UpdateFailed, Updater
from dockyard.wire.agent import WS_PATH

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


def test_channel_and_updater_follow_the_one_rotation(tmp_path: Path) -> None:
    """Registration, the websocket and agent updates share AgentConfig's endpoint: after
    a failover the update downloads from the server in use, not from the first one."""
    dead = ("http://127.0.0.1:9", "http://127.0.0.2:9", "http://127.0.0.3:9")  # discard port
    config = build_config({"endpoint": dead}, None, environ={})
    channel = Channel(config.endpoint, "c", "i", cast(Any, None), rotate=config.rotate_endpoint)
    assert channel.base_url == dead[0] + WS_PATH
    channel._next_server()  # the session failed
    assert (config.endpoint, channel.base_url) == (dead[1], dead[1] + WS_PATH)
    config.rotate_endpoint()  # a registration retry moves on too: one cursor
    channel._next_server()
    assert (config.endpoint, channel.base_url) == (dead[0], dead[0] + WS_PATH)

    asked: list[str] = []

    def headers(url: str) -> dict[str, str]:
        asked.append(url)
        return {}

    async def noop(_message: Mapping[str, Any]) -> None:
        return None

    updater = Updater(lambda: config.endpoint, tmp_path, noop, lambda: None, headers=headers)
    config.rotate_endpoint()  # failover after the updater was built
    with pytest.raises(UpdateFailed):
        asyncio.run(updater._stage({"path": "/agent/package"}, "1.2.3"))
    assert asked == [dead[1] + "/agent/package"]


def test_a_session_that_fails_unexpectedly_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any error in a session (a message the agent cannot handle, a bug) ends that session
    only: the channel reconnects, as it does after a network error, and never leaves the
    host without a server."""
    channel = Channel("http://127.0.0.1:9", "c", "i", cast(Any, None))
    monkeypatch.setattr(channel_module, "BACKOFF_MIN_S", 0.0)
    monkeypatch.setattr(channel, "manager", _Detachable())
    sessions: list[int] = []

    async def session(_session: Any) -> None:
        sessions.append(len(sessions))
        if len(sessions) == 1:
            raise ValueError("a message this agent cannot apply")
        if len(sessions) == 2:
            raise OSError("connection refused")
        raise asyncio.CancelledError  # the agent stops

    monkeypatch.setattr(channel, "_session", session)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(channel.run())
    assert sessions == [0, 1, 2]


class _Detachable:
    def detach(self) -> None:
        return None
