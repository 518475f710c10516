"""ExecuteCommand session tokens (one-time, expiring, bound to a session) and the demux of
Docker's non-TTY exec stream."""

from __future__ import annotations

import asyncio
import struct
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.agent.exec import ExecRelay, demux
from dockyard.api.ecs.execute_command import Grant, Redeemed, mint, read_token
from dockyard.errors import AwsError

GRANT = Grant(
    session_id="ecs-execute-command-abc",
    task_arn="arn:aws:ecs:us-east-1:000000000000:task/c/1",
    instance_arn="arn:aws:ecs:us-east-1:000000000000:container-instance/c/2",
    container="app",
    command=["sh", "-c", "echo hi"],
    expires=1000.0,
)


def test_token_round_trip() -> None:
    assert read_token(mint(GRANT), GRANT.session_id, now=999.0) == GRANT


@pytest.mark.parametrize(
    ("token", "session", "now", "code"),
    [
        pytest.param(mint(GRANT), GRANT.session_id, 1000.5, "ExpiredSessionToken", id="expired"),
        pytest.param(mint(GRANT), "ecs-execute-command-x", 1.0, "InvalidSessionToken", id="other"),
        pytest.param("", GRANT.session_id, 1.0, "InvalidSessionToken", id="empty"),
        pytest.param("!!!.00", GRANT.session_id, 1.0, "InvalidSessionToken", id="garbage"),
        pytest.param(
            mint(GRANT).split(".")[0] + ".0" * 32,
            GRANT.session_id,
            1.0,
            "InvalidSessionToken",
            id="forged-signature",
        ),
    ],
)
def test_bad_tokens_are_refused(token: str, session: str, now: float, code: str) -> None:
    with pytest.raises(AwsError) as caught:
        read_token(token, session, now)
    assert caught.value.code == code
    assert caught.value.status == 403


def test_a_token_is_redeemed_once() -> None:
    redeemed = Redeemed()
    redeemed.redeem(GRANT, now=1.0)
    with pytest.raises(AwsError):
        redeemed.redeem(GRANT, now=2.0)


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def test_demux_keeps_partial_frames() -> None:
    whole = frame(1, b"out") + frame(2, b"err") + frame(1, b"tail")
    buffer = bytearray(whole[:-2])
    assert demux(buffer) == [(1, b"out"), (2, b"err")]
    buffer += whole[-2:]
    assert demux(buffer) == [(1, b"tail")]
    assert buffer == bytearray()


class _NoDocker:
    """A manager whose runtime is not Docker (like `--fake-runtime`)."""

    def __init__(self, container: str | None) -> None:
        self.ctx = SimpleNamespace(runtime=object())
        self._container = container

    def container_id(self, task_arn: str, container: str | None) -> str | None:
        return self._container


@pytest.mark.parametrize(
    ("container", "error"),
    [
        pytest.param(None, "not running on this host", id="no-container"),
        pytest.param("abc123", "needs the Docker runtime", id="fake-runtime"),
    ],
)
async def test_exec_that_cannot_start_answers_exit_with_error(
    container: str | None, error: str
) -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    relay = ExecRelay(_NoDocker(container), send)  # type: ignore[arg-type]
    relay.handle({"type": "exec-start", "id": "s1", "taskArn": "t", "container": "app",
                  "command": ["sh"], "tty": False})  # fmt: skip
    relay.handle({"type": "exec-input", "id": "s1", "data": "aGk=", "eof": True})
    for _ in range(100):
        if not relay.tasks:
            break
        await asyncio.sleep(0.01)
    assert sent == [{"type": "exec-exit", "id": "s1", "exitCode": None, "error": sent[0]["error"]}]
    assert error in sent[0]["error"]
    assert not relay.inputs and not relay.sessions
