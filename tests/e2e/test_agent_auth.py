"""Agents authenticate to a server started with --credentials; unknown agents cannot join."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import AgentProcess, ServerProcess, wait_for

KEY, SECRET = "AKIDAGENT", "agent-secret"


@pytest.fixture
def secured(tmp_path: Path) -> ServerProcess:
    credentials = tmp_path / "credentials"
    credentials.write_text(f"{KEY}:{SECRET}\n")
    proc = ServerProcess(tmp_path / "data", extra_args=["--credentials", str(credentials)])
    proc.start()
    yield proc  # type: ignore[misc]
    proc.stop()


def test_agent_with_keys_joins_and_runs_tasks(secured: ServerProcess, tmp_path: Path) -> None:
    ecs = secured.client(aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    ecs.create_cluster(clusterName="stage01")
    agent = AgentProcess(secured.endpoint, tmp_path / "agent", "127.0.1.1",
                         extra_args=["--fake-runtime", "--access-key-id", KEY,
                                     "--secret-access-key", SECRET])
    agent.start()
    try:
        ecs.register_task_definition(family="t", containerDefinitions=[{"name": "t", "image": "x", "memory": 16}])
        arn = ecs.run_task(cluster="stage01", taskDefinition="t")["tasks"][0]["taskArn"]
        wait_for(lambda: ecs.describe_tasks(cluster="stage01", tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING",
                 what="task RUNNING through a signed agent channel")
    finally:
        agent.stop()


def test_agent_with_wrong_keys_cannot_register(secured: ServerProcess, tmp_path: Path) -> None:
    ecs = secured.client(aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    ecs.create_cluster(clusterName="stage01")
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "agent", "--endpoint", secured.endpoint, "--cluster", "stage01",
         "--fake-runtime", "--cpu", "1024", "--memory", "1024", "--data-dir", str(tmp_path / "a"),
         "--access-key-id", KEY, "--secret-access-key", "wrong"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert "InvalidSignatureException" in done.stderr
    assert ecs.list_container_instances(cluster="stage01")["containerInstanceArns"] == []


def test_websocket_refuses_unsigned_agents(secured: ServerProcess) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(secured.endpoint + "/agent/ws?containerInstance=x",
                                     headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    assert error.value.code == 403
    assert json.loads(error.value.read())["__type"] == "MissingAuthenticationTokenException"
