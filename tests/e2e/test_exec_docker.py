"""ExecuteCommand and `dockyard task exec` on real Docker: output and exit code through the
agent's channel, stdin piped with -i, a shell on a pseudo-terminal with -it (driven
through Python's pty module), and the refusals (exec not enabled, unknown task or
container, interactive false) with ECS's error codes, parsed by botocore."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from dockyard.api.ecs.execute_command import NOT_ENABLED
from dockyard.testing.images import BUSYBOX_IMAGE
from tests.e2e.conftest import AgentProcess, ServerProcess, remove_task_containers, wait_for

pytestmark = pytest.mark.e2e
CREDENTIALS = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret"}


@dataclass
class Stack:
    server: ServerProcess
    cluster: str
    enabled: str  # a RUNNING task with enableExecuteCommand
    disabled: str  # a RUNNING task without

    def cli(self, *args: str, stdin: Any = subprocess.DEVNULL, **kw: Any) -> Any:
        env = CREDENTIALS
        return subprocess.run(
            [sys.executable, "-m", "dockyard", "--endpoint", self.server.endpoint,
             "task", "exec", "--cluster", self.cluster, *args],
            stdin=stdin, capture_output=True, env=env, timeout=90, check=False, **kw,
        )  # fmt: skip


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, docker_images: dict[str, str]
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("exec")
    name = f"exec-{uuid.uuid4().hex[:8]}"
    server = ServerProcess(tmp / "server")
    server.start()
    ecs = server.client()
    ecs.create_cluster(clusterName=name)
    agent = AgentProcess(server.endpoint, tmp / "agent", "127.0.1.1", cluster=name,
                         extra_args=["--stop-timeout", "1s"])  # fmt: skip
    agent.start()
    try:
        arn = ecs.register_task_definition(
            family="exec-sleeper",
            containerDefinitions=[
                {"name": "app", "image": BUSYBOX_IMAGE, "memory": 32,
                 "command": ["sh", "-c", "sleep 3600"]},
            ],
        )["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
        run = subprocess.run(  # the CLI's flag, as a user turns exec on
            [sys.executable, "-m", "dockyard", "--endpoint", server.endpoint, "-o", "json",
             "task", "run", "--cluster", name, arn, "--enable-execute-command"],
            capture_output=True, env=CREDENTIALS, timeout=60, check=True,
        )  # fmt: skip
        enabled = json.loads(run.stdout)
        disabled = ecs.run_task(cluster=name, taskDefinition=arn)
        arns = [enabled["tasks"][0]["taskArn"], disabled["tasks"][0]["taskArn"]]
        assert enabled["tasks"][0]["enableExecuteCommand"] is True
        assert disabled["tasks"][0]["enableExecuteCommand"] is False

        def running() -> bool:
            tasks = ecs.describe_tasks(cluster=name, tasks=arns)["tasks"]
            return all(t["lastStatus"] == "RUNNING" for t in tasks)

        wait_for(running, timeout=90, what="both tasks RUNNING")
        yield Stack(server, name, arns[0], arns[1])
    finally:
        agent.stop()
        server.stop()
        remove_task_containers(name)


def test_execute_command_answers_aws_shape(stack: Stack) -> None:
    ecs = stack.server.client()
    answer = ecs.execute_command(
        cluster=stack.cluster, task=stack.enabled, command="/bin/sh", interactive=True
    )
    assert answer["taskArn"] == stack.enabled
    assert answer["clusterArn"].endswith(f":cluster/{stack.cluster}")
    assert answer["containerName"] == "app"
    assert answer["containerArn"].split(":")[5].startswith("container/")
    assert answer["interactive"] is True
    session = answer["session"]
    assert session["sessionId"].startswith("ecs-execute-command-")
    port = stack.server.port
    assert session["streamUrl"] == (
        f"ws://127.0.0.1:{port}/dockyard/v1/exec/{session['sessionId']}"
    )
    assert session["tokenValue"]


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        pytest.param({"task": "0" * 32}, "InvalidParameterException", "not found", id="task"),
        pytest.param({"container": "nope"}, "InvalidParameterException", "nope", id="container"),
        pytest.param({"interactive": False}, "InvalidParameterException", "Interactive", id="mode"),
        pytest.param({"cluster": "nowhere"}, "ClusterNotFoundException", "", id="cluster"),
        pytest.param({"task": "DISABLED"}, "InvalidParameterException", NOT_ENABLED, id="off"),
    ],
)
def test_execute_command_refusals(
    stack: Stack, change: dict[str, Any], code: str, text: str
) -> None:
    params = {"cluster": stack.cluster, "task": stack.enabled, "command": "sh",
              "interactive": True, **change}  # fmt: skip
    if params["task"] == "DISABLED":
        params["task"] = stack.disabled
    with pytest.raises(ClientError) as caught:
        stack.server.client().execute_command(**params)
    assert caught.value.response["Error"]["Code"] == code
    assert text in caught.value.response["Error"]["Message"]


def test_cli_exec_output_stderr_and_exit_code(stack: Stack) -> None:
    task_id = stack.enabled.rsplit("/", 1)[-1]
    done = stack.cli(
        task_id, "--container", "app", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == b"hi\n"
    assert b"oops" in done.stderr


def test_cli_exec_pipes_stdin_with_i(stack: Stack) -> None:
    done = stack.cli(stack.enabled, "-i", "--", "sh", "-c", "read x; echo got:$x", stdin=None,
                     input=b"abc\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"got:abc\n"


def test_cli_exec_refused_when_not_enabled(stack: Stack) -> None:
    done = stack.cli(stack.disabled, "--", "echo", "hi")
    assert done.returncode == 1
    assert b"InvalidParameterException" in done.stderr
    assert b"execute command was not enabled" in done.stderr


def test_cli_exec_interactive_terminal(stack: Stack, tmp_path: Path) -> None:
    """-it under a real pseudo-terminal: a remote shell answers 42, `exit` ends with 0."""
    leader, follower = pty.openpty()
    termios.tcsetwinsize(follower, (33, 101))
    env = CREDENTIALS
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard", "--endpoint", stack.server.endpoint,
         "task", "exec", "--cluster", stack.cluster, stack.enabled, "-it", "--", "sh"],
        stdin=follower, stdout=follower, stderr=follower, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""

    def read_until(marker: bytes, timeout: float) -> bool:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(leader, 4096)
                except OSError:  # the process closed the terminal
                    break
        return marker in seen

    try:
        assert read_until(b"#", 60), seen  # the remote shell's prompt (root: "# ")
        os.write(leader, b"echo $((6*7))\n")
        assert read_until(b"42", 30), seen
        os.write(leader, b"stty size\n")  # the terminal's size at the start
        assert read_until(b"33 101", 30), seen
        termios.tcsetwinsize(leader, (41, 123))  # the user resizes the window: SIGWINCH
        proc.send_signal(signal.SIGWINCH)  # (the pty is not the CLI's controlling terminal)
        time.sleep(1)  # the resize travels apart from the input; bounded, no assertion on it
        os.write(leader, b"stty size\n")
        assert read_until(b"41 123", 30), seen
        os.write(leader, b"exit\n")
        assert proc.wait(timeout=60) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def test_service_tasks_inherit_enable_execute_command(stack: Stack) -> None:
    ecs = stack.server.client()
    definition = ecs.describe_tasks(cluster=stack.cluster, tasks=[stack.enabled])["tasks"][0][
        "taskDefinitionArn"
    ]
    service = ecs.create_service(
        cluster=stack.cluster, serviceName="shell", taskDefinition=definition, desiredCount=1,
        enableExecuteCommand=True,
    )["service"]  # fmt: skip
    assert service["enableExecuteCommand"] is True

    def service_task() -> list[str]:
        return list(ecs.list_tasks(cluster=stack.cluster, serviceName="shell")["taskArns"])

    arns = wait_for(service_task, timeout=60, what="the service's task")
    task = ecs.describe_tasks(cluster=stack.cluster, tasks=arns)["tasks"][0]
    assert task["enableExecuteCommand"] is True
    updated = ecs.update_service(cluster=stack.cluster, service="shell", desiredCount=0,
                                 enableExecuteCommand=False)["service"]  # fmt: skip
    assert updated["enableExecuteCommand"] is False
