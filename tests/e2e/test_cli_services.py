"""`dockyard service ...` against a real server and two fake-runtime agents (no Docker).

Every command runs as `python -m dockyard ...` in a subprocess with DOCKYARD_ENDPOINT
set and no AWS credentials, as a user types it; the server's state is then checked
through boto3, so a command that prints the right thing but does the wrong thing fails.
The one in-process test drives `--wait` through a scripted API to reach the failed
rollout path, which fake-runtime tasks (always healthy) cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.e2e.conftest import DATA, AgentProcess, ServerProcess, aws_cli, free_port, wait_for

pytestmark = pytest.mark.e2e

CLUSTER = "stage01"
WAIT_TIMEOUT = 120


@dataclass
class Fleet:
    server: ServerProcess
    agents: list[AgentProcess]
    env: dict[str, str]

    def ecs(self) -> Any:
        return self.server.client()


def _clean_env(home: Path, endpoint: str) -> dict[str, str]:
    """The caller's environment minus AWS credentials/profile, pointing at `endpoint`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    env.update(
        DOCKYARD_ENDPOINT=endpoint,
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("COLUMNS", None)
    return env


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("cli-services")
    server = ServerProcess(tmp / "data")
    server.start()
    agents: list[AgentProcess] = []
    try:
        server.client().create_cluster(clusterName=CLUSTER)
        for index in (1, 2):
            agent = AgentProcess(server.endpoint, tmp / f"agent{index}", f"127.0.3.{index}",
                                 cluster=CLUSTER, extra_args=["--fake-runtime"])
            agent.start()
            agents.append(agent)
        yield Fleet(server, agents, _clean_env(tmp, server.endpoint))
    finally:
        for agent in agents:
            agent.stop()
        server.stop()


def dockyard(fleet: Fleet, *args: str, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard", *args], capture_output=True,
                          text=True, env=env or fleet.env, timeout=timeout, check=False)


def ok(fleet: Fleet, *args: str, timeout: float = 60) -> str:
    done = dockyard(fleet, *args, timeout=timeout)
    assert done.returncode == 0, f"{args}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def register(fleet: Fleet, family: str, **container: Any) -> str:
    """Register the web task definition under `family`; returns family:revision."""
    document = json.loads((DATA / "web-taskdef.json").read_text())
    document["family"] = family
    document["containerDefinitions"][0].update(container)
    registered = fleet.ecs().register_task_definition(**document)["taskDefinition"]
    return f"{registered['family']}:{registered['revision']}"


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("│").split("│")]
            for line in text.splitlines() if line.startswith("│")]


def service_doc(fleet: Fleet, name: str, cluster: str = CLUSTER) -> dict[str, Any]:
    answer = fleet.ecs().describe_services(cluster=cluster, services=[name])
    assert answer["services"], answer["failures"]
    return dict(answer["services"][0])


def running_definitions(fleet: Fleet, name: str) -> list[str]:
    """family:revision of every RUNNING task of service `name`."""
    ecs = fleet.ecs()
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
    return sorted(t["taskDefinitionArn"].rsplit("/", 1)[-1] for t in tasks if t["lastStatus"] == "RUNNING")


def remove(fleet: Fleet, name: str, cluster: str = CLUSTER) -> None:
    fleet.ecs().delete_service(cluster=cluster, service=name, force=True)


# --- create --wait, ls, describe, events ---------------------------------------------------


def test_create_waits_until_three_tasks_run_then_ls_describe_events(fleet: Fleet) -> None:
    family = unique("web")
    definition = register(fleet, family)
    name = unique("svc")
    out = ok(fleet, "service", "create", "--cluster", CLUSTER, name, "--task-definition", family,
             "--desired-count", "3", "--wait", timeout=WAIT_TIMEOUT)
    assert f"Created service {name}: {definition}, desired 3" in out
    assert "running" in out and "pending" in out  # progress lines
    assert f"Service {name} is stable: 3/3 tasks running {definition}" in out

    # --wait returned only once the server agrees.
    doc = service_doc(fleet, name)
    assert doc["runningCount"] == 3 and doc["desiredCount"] == 3
    assert [(d["status"], d["rolloutState"]) for d in doc["deployments"]] == [("PRIMARY", "COMPLETED")]
    assert running_definitions(fleet, name) == [definition] * 3

    rows = table_rows(ok(fleet, "service", "ls", "--cluster", CLUSTER))
    assert [name, "ACTIVE", "3", "3", "0", definition, "COMPLETED"] in rows
    listed = json.loads(ok(fleet, "-o", "json", "service", "ls", "-c", CLUSTER))
    assert doc["serviceArn"] in listed["serviceArns"]

    described = ok(fleet, "service", "describe", "-c", CLUSTER, name)
    assert doc["serviceArn"] in described
    assert "Deployments" in described and "Events (newest first)" in described
    deployment_rows = [r for r in table_rows(described) if r[0] == doc["deployments"][0]["id"]]
    assert deployment_rows == [[doc["deployments"][0]["id"], "PRIMARY", definition, "3", "3", "0",
                                "0", "COMPLETED", deployment_rows[0][-1]]]
    assert "has reached a steady state" in described
    as_json = json.loads(ok(fleet, "-o", "json", "service", "describe", "-c", CLUSTER, name))
    assert as_json["services"][0]["serviceName"] == name and as_json["failures"] == []
    assert len([line for line in described.splitlines() if "(service " in line]) <= 10

    events = ok(fleet, "service", "events", "-c", CLUSTER, name)
    assert f"(service {name}) has started 3 tasks" in events
    assert f"(service {name}) has reached a steady state." in events
    limited = json.loads(ok(fleet, "-o", "json", "service", "events", "-c", CLUSTER, name, "--limit", "2"))
    assert [e["message"] for e in limited["events"]] == [e["message"] for e in doc["events"][:2]]
    remove(fleet, name)


# --- update, scale, rm ---------------------------------------------------------------------


def test_update_to_a_new_revision_waits_for_the_rollout(fleet: Fleet) -> None:
    family = unique("web")
    first = register(fleet, family)
    name = unique("svc")
    ok(fleet, "service", "create", "-c", CLUSTER, name, "--task-definition", first,
       "--desired-count", "3", "--wait", timeout=WAIT_TIMEOUT)
    second = register(fleet, family, environment=[{"name": "GREETING", "value": "v2"}])

    out = ok(fleet, "service", "update", "-c", CLUSTER, name, "--task-definition", second,
             "--min-healthy-percent", "50", "--wait", timeout=WAIT_TIMEOUT)
    assert f"Updated service {name}: {second}, desired 3" in out
    # Progress shows the old deployment draining while the new one starts.
    assert f"ACTIVE {first}" in out
    assert f"PRIMARY {second}" in out
    assert f"Service {name} is stable: 3/3 tasks running {second}" in out
    doc = service_doc(fleet, name)
    assert [d["taskDefinition"].rsplit("/", 1)[-1] for d in doc["deployments"]] == [second]
    assert doc["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert doc["deploymentConfiguration"]["maximumPercent"] == 200  # untouched
    assert running_definitions(fleet, name) == [second] * 3

    # A forced deployment of the same revision also completes.
    forced = ok(fleet, "service", "update", "-c", CLUSTER, name, "--force-new-deployment", "--wait",
                timeout=WAIT_TIMEOUT)
    assert f"Service {name} is stable: 3/3 tasks running {second}" in forced
    assert service_doc(fleet, name)["deployments"][0]["id"] != doc["deployments"][0]["id"]
    remove(fleet, name)


def test_scale_then_rm(fleet: Fleet) -> None:
    family = unique("web")
    definition = register(fleet, family)
    name = unique("svc")
    ok(fleet, "service", "create", "-c", CLUSTER, name, "--task-definition", family,
       "--desired-count", "1", "--wait", timeout=WAIT_TIMEOUT)

    out = ok(fleet, "service", "scale", "-c", CLUSTER, name, "4", "--wait", timeout=WAIT_TIMEOUT)
    assert f"Scaled service {name}: {definition}, desired 4" in out
    assert f"Service {name} is stable: 4/4 tasks running" in out
    assert running_definitions(fleet, name) == [definition] * 4
    ok(fleet, "service", "scale", "-c", CLUSTER, name, "2", "--wait", timeout=WAIT_TIMEOUT)
    assert service_doc(fleet, name)["runningCount"] == 2
    ok(fleet, "service", "update", "-c", CLUSTER, name, "--desired-count", "3", "--wait",
       timeout=WAIT_TIMEOUT)
    assert len(running_definitions(fleet, name)) == 3

    refused = dockyard(fleet, "service", "rm", "-c", CLUSTER, name)
    assert refused.returncode == 1, refused
    assert "Error (InvalidParameterException)" in refused.stderr
    assert "scaled above 0" in refused.stderr

    removed = ok(fleet, "service", "rm", "-c", CLUSTER, name, "--force")
    assert f"Deleted service {name} (DRAINING)" in removed
    wait_for(lambda: service_doc(fleet, name)["status"] == "INACTIVE", timeout=30,
             what="the deleted service to drain")
    assert running_definitions(fleet, name) == []
    assert name not in ok(fleet, "service", "ls", "-c", CLUSTER)
    gone = dockyard(fleet, "service", "scale", "-c", CLUSTER, name, "1")
    assert gone.returncode == 1 and "ServiceNotActiveException" in gone.stderr


def test_daemon_service_runs_one_task_per_instance(fleet: Fleet) -> None:
    family = unique("daemon")
    definition = register(fleet, family)
    name = unique("svc")
    out = ok(fleet, "service", "create", "-c", CLUSTER, name, "--task-definition", family,
             "--daemon", "--wait", timeout=WAIT_TIMEOUT)
    assert f"Service {name} is stable: 2/2 tasks running {definition}" in out
    doc = service_doc(fleet, name)
    assert doc["schedulingStrategy"] == "DAEMON"
    ecs = fleet.ecs()
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
    hosts = {t["containerInstanceArn"] for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]}
    assert hosts == {agent.instance_arn for agent in fleet.agents}
    ok(fleet, "service", "rm", "-c", CLUSTER, name)  # DAEMON services need no --force


# --- options and input files ---------------------------------------------------------------


def test_create_options_reach_the_api(fleet: Fleet) -> None:
    family = unique("web")
    register(fleet, family)
    name = unique("svc")
    out = ok(fleet, "-o", "json", "service", "create", "-c", CLUSTER, name, "--task-definition", family,
             "--desired-count", "0", "--max-percent", "150", "--min-healthy-percent", "50",
             "--circuit-breaker", "--rollback", "--strategy", "spread:attribute:ecs.availability-zone",
             "--strategy", "binpack:memory", "--constraint", "distinctInstance",
             "--constraint", "memberOf:attribute:ecs.os-type == linux",
             "--health-check-grace-period", "30", "--tag", "team=platform")
    created = json.loads(out)["service"]  # raw API JSON
    assert created["serviceName"] == name
    doc = fleet.ecs().describe_services(cluster=CLUSTER, services=[name], include=["TAGS"])["services"][0]
    assert doc["deploymentConfiguration"] == {
        "maximumPercent": 150,
        "minimumHealthyPercent": 50,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    assert doc["placementStrategy"] == [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                                        {"type": "binpack", "field": "memory"}]
    assert doc["placementConstraints"] == [
        {"type": "distinctInstance"},
        {"type": "memberOf", "expression": "attribute:ecs.os-type == linux"},
    ]
    assert doc["healthCheckGracePeriodSeconds"] == 30
    assert doc["tags"] == [{"key": "team", "value": "platform"}]

    described = ok(fleet, "service", "describe", "-c", CLUSTER, name)
    for text in ("on, rollback", "spread:attribute:ecs.availability-zone, binpack:memory",
                 "distinctInstance, memberOf:attribute:ecs.os-type == linux", "30s", "team=platform"):
        assert text in described, text

    # Turning one flag off keeps the other as it was.
    ok(fleet, "service", "update", "-c", CLUSTER, name, "--no-rollback")
    breaker = service_doc(fleet, name)["deploymentConfiguration"]["deploymentCircuitBreaker"]
    assert breaker == {"enable": True, "rollback": False}
    ok(fleet, "service", "update", "-c", CLUSTER, name, "--rollback")
    breaker = service_doc(fleet, name)["deploymentConfiguration"]["deploymentCircuitBreaker"]
    assert breaker == {"enable": True, "rollback": True}
    ok(fleet, "service", "update", "-c", CLUSTER, name, "--no-circuit-breaker", "--max-percent", "300")
    config = service_doc(fleet, name)["deploymentConfiguration"]
    assert config["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    assert config["maximumPercent"] == 300 and config["minimumHealthyPercent"] == 50
    ok(fleet, "service", "rm", "-c", CLUSTER, name)  # desired 0: no --force needed


def test_create_from_a_cli_input_json_file(fleet: Fleet, tmp_path: Path) -> None:
    family = unique("web")
    definition = register(fleet, family)
    name = unique("svc")
    other = unique("other")
    fleet.ecs().create_cluster(clusterName=other)
    document = {
        "cluster": CLUSTER,
        "serviceName": name,
        "taskDefinition": family,
        "desiredCount": 2,
        "launchType": "EC2",
        "deploymentConfiguration": {
            "maximumPercent": 200,
            "minimumHealthyPercent": 50,
            "deploymentCircuitBreaker": {"enable": True, "rollback": False},
        },
        "placementStrategy": [{"type": "spread", "field": "instanceId"}],
        "schedulingStrategy": "REPLICA",
        "tags": [{"key": "from", "value": "file"}],
        "enableECSManagedTags": False,
        "propagateTags": "NONE",
    }
    path = tmp_path / "service.json"
    path.write_text(json.dumps(document, indent=2))

    out = ok(fleet, "service", "create", "--input", str(path), "--wait", timeout=WAIT_TIMEOUT)
    assert f"Service {name} is stable: 2/2 tasks running {definition}" in out
    ecs = fleet.ecs()
    doc = ecs.describe_services(cluster=CLUSTER, services=[name], include=["TAGS"])["services"][0]
    assert doc["deploymentConfiguration"] == document["deploymentConfiguration"]
    assert doc["placementStrategy"] == document["placementStrategy"]
    assert doc["tags"] == document["tags"]
    # spread:instanceId put one task on each agent.
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
    hosts = [t["containerInstanceArn"] for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]]
    assert sorted(hosts) == sorted(agent.instance_arn for agent in fleet.agents)

    # --cluster and options override the file; file:// works as with the aws CLI.
    ok(fleet, "service", "create", "--cluster", other, "--input", f"file://{path}",
       "--desired-count", "0", "--max-percent", "300")
    moved = service_doc(fleet, name, cluster=other)
    assert moved["desiredCount"] == 0
    assert moved["deploymentConfiguration"]["maximumPercent"] == 300
    assert moved["deploymentConfiguration"]["minimumHealthyPercent"] == 50

    # The same file, unchanged, is what `aws ecs create-service --cli-input-json` takes.
    ecs.delete_service(cluster=other, service=name)
    # ECS refuses the name while the old service is DRAINING; it turns INACTIVE once drained.
    wait_for(lambda: service_doc(fleet, name, cluster=other)["status"] == "INACTIVE", timeout=30,
             what="deleted service INACTIVE")
    done = aws_cli(fleet.server.endpoint, "ecs", "create-service", "--cli-input-json", f"file://{path}",
                   "--cluster", other)
    assert done.returncode == 0, done.stderr
    assert service_doc(fleet, name, cluster=other)["deploymentConfiguration"] == document["deploymentConfiguration"]

    # And so is stdin.
    document["serviceName"] = unique("stdin")
    done = subprocess.run([sys.executable, "-m", "dockyard", "service", "create", "-c", other,
                           "--input", "-", "--desired-count", "0"], input=json.dumps(document),
                          capture_output=True, text=True, env=fleet.env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert service_doc(fleet, document["serviceName"], cluster=other)["status"] == "ACTIVE"
    remove(fleet, name)
    remove(fleet, name, cluster=other)
    remove(fleet, document["serviceName"], cluster=other)


# --- waiting that cannot succeed -----------------------------------------------------------


def test_wait_times_out_when_tasks_cannot_be_placed(fleet: Fleet) -> None:
    family = unique("huge")
    register(fleet, family, memory=4096, memoryReservation=4096)  # more than any agent has
    name = unique("svc")
    done = dockyard(fleet, "service", "create", "-c", CLUSTER, name, "--task-definition", family,
                    "--desired-count", "1", "--wait", "--timeout", "3", timeout=WAIT_TIMEOUT)
    assert done.returncode == 1, done
    assert f"timed out after 3s waiting for service {name}" in done.stderr
    assert "PRIMARY" in done.stderr and "0/1 running" in done.stderr
    assert f"Created service {name}" in done.stdout
    assert service_doc(fleet, name)["runningCount"] == 0
    remove(fleet, name)


class ScriptedEcs:
    """A boto3-like client whose DescribeServices walks through `states`."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states
        self.calls = 0

    def update_service(self, **_params: Any) -> dict[str, Any]:
        return {"service": self.states[0]}

    def describe_services(self, **_params: Any) -> dict[str, Any]:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return {"services": [state], "failures": []}


def _deployment(deployment_id: str, status: str, definition: str, desired: int, running: int,
                rollout: str, reason: str = "") -> dict[str, Any]:
    return {"id": deployment_id, "status": status, "rolloutState": rollout, "rolloutStateReason": reason,
            "taskDefinition": f"arn:aws:ecs:us-east-1:000000000000:task-definition/{definition}",
            "desiredCount": desired, "runningCount": running, "pendingCount": max(0, desired - running)}


def _service(*deployments: dict[str, Any]) -> dict[str, Any]:
    return {"serviceName": "web", "status": "ACTIVE", "desiredCount": 2, "events": [],
            "deployments": list(deployments)}


@pytest.mark.parametrize("rolled_back", [False, True], ids=["failed", "rolled-back"])
def test_wait_exits_1_on_a_failed_rollout(monkeypatch: pytest.MonkeyPatch, rolled_back: bool) -> None:
    from dockyard.cli import services
    from dockyard.cli.main import main

    reason = "ECS deployment circuit breaker: task failed to start."
    new = _deployment("ecs-svc/2", "PRIMARY", "web:2", 2, 0, "IN_PROGRESS")
    old = _deployment("ecs-svc/1", "ACTIVE", "web:1", 0, 2, "COMPLETED")
    if rolled_back:
        failed = {**new, "status": "ACTIVE", "rolloutState": "FAILED", "rolloutStateReason": reason}
        back = _deployment("ecs-svc/2-rollback", "PRIMARY", "web:1", 2, 0, "IN_PROGRESS")
        last = _service(back, failed, old)
    else:
        last = _service({**new, "rolloutState": "FAILED", "rolloutStateReason": reason}, old)
    api = ScriptedEcs([_service(new, old), _service({**new, "pendingCount": 1, "runningCount": 1}, old), last])
    monkeypatch.setattr(services, "client", lambda _ctx: api)
    monkeypatch.setattr(services, "POLL_INTERVAL_S", 0.0)
    result = CliRunner().invoke(main, ["service", "update", "web", "--task-definition", "web:2", "--wait"])
    assert result.exit_code == 1, result.output
    assert f"Error: deployment ecs-svc/2 of service web FAILED: {reason}" in result.stderr
    assert ("rolling back to web:1 (deployment ecs-svc/2-rollback)" in result.stderr) is rolled_back
    progress = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert "PRIMARY web:2 0/2 running, 2 pending, IN_PROGRESS | ACTIVE web:1 2 running, 0 pending" in progress[0]
    assert "PRIMARY web:2 1/2 running, 1 pending" in progress[1]
    assert api.calls == 3


def test_wait_output_json_keeps_stdout_parseable(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.cli import services
    from dockyard.cli.main import main

    pending = _service(_deployment("ecs-svc/1", "PRIMARY", "web:1", 2, 1, "IN_PROGRESS"))
    done = _service(_deployment("ecs-svc/1", "PRIMARY", "web:1", 2, 2, "COMPLETED"))
    api = ScriptedEcs([pending, done])
    monkeypatch.setattr(services, "client", lambda _ctx: api)
    monkeypatch.setattr(services, "POLL_INTERVAL_S", 0.0)
    result = CliRunner().invoke(main, ["-o", "json", "service", "scale", "web", "2", "--wait"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["service"]["serviceName"] == "web"
    assert "Service web is stable: 2/2 tasks running web:1" in result.stderr


# --- exit codes ----------------------------------------------------------------------------


def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {
        "not-json": "{ nope",
        "array": "[]",
        "unknown": json.dumps({"serviceName": "x", "taskDefinition": "web", "desiredCount": 1, "colour": "red"}),
        "wrong-type": json.dumps({"serviceName": "x", "taskDefinition": "web", "desiredCount": "three"}),
        "no-count": json.dumps({"serviceName": "x", "taskDefinition": "web"}),
    }
    paths = {}
    for key, text in files.items():
        paths[key] = tmp / f"{key}.json"
        paths[key].write_text(text)
    return paths


USAGE = [
    pytest.param(["create", "x", "--desired-count", "1"], "--task-definition", id="no-task-definition"),
    pytest.param(["create", "--task-definition", "web", "--desired-count", "1"], "NAME", id="no-name"),
    pytest.param(["create", "x", "--task-definition", "web"], "--desired-count", id="no-count"),
    pytest.param(["create", "x", "--task-definition", "web", "--desired-count", "-1"], "-1", id="negative-count"),
    pytest.param(["create", "x", "--task-definition", "web", "--daemon", "--desired-count", "2"], "--daemon", id="daemon-count"),
    pytest.param(["create", "x", "--task-definition", "web", "--desired-count", "1", "--strategy", "pack:cpu"],
                 "binpack, spread or random", id="strategy-type"),
    pytest.param(["create", "x", "--task-definition", "web", "--desired-count", "1", "--strategy", "binpack"],
                 "needs a field", id="strategy-field"),
    pytest.param(["create", "x", "--task-definition", "web", "--desired-count", "1", "--constraint", "memberOf:"],
                 "memberOf:EXPRESSION", id="constraint"),
    pytest.param(["create", "x", "--task-definition", "web", "--desired-count", "1", "--min-healthy-percent", "101"],
                 "101", id="min-percent"),
    pytest.param(["create", "x", "--task-definition", "web", "--desired-count", "1", "--no-circuit-breaker", "--rollback"],
                 "--rollback needs the circuit breaker", id="rollback-without-breaker"),
    pytest.param(["create", "--input", "{tmp}/missing.json"], "cannot read", id="missing-file"),
    pytest.param(["create", "--input", "{tmp}/not-json.json"], "not valid JSON", id="not-json"),
    pytest.param(["create", "--input", "{tmp}/array.json"], "JSON object", id="array"),
    pytest.param(["create", "--input", "{tmp}/unknown.json"], "unknown service field(s): colour", id="unknown-field"),
    pytest.param(["create", "--input", "{tmp}/wrong-type.json"], "desiredCount", id="wrong-type"),
    pytest.param(["create", "--input", "{tmp}/no-count.json"], "desiredCount in the --input file", id="file-no-count"),
    pytest.param(["update", "x"], "nothing to update", id="update-nothing"),
    pytest.param(["scale", "x", "-2"], "-2", id="scale-negative"),
    pytest.param(["create", "x", "--task-definition", "web", "--desired-count", "1", "--wait", "--timeout", "0"],
                 "0", id="timeout-zero"),
]


@pytest.mark.parametrize(("args", "text"), USAGE)
def test_bad_input_exits_2(fleet: Fleet, tmp_path: Path, args: list[str], text: str) -> None:
    _bad_files(tmp_path)
    done = dockyard(fleet, "service", *[a.replace("{tmp}", str(tmp_path)) for a in args], "-c", CLUSTER)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert text in done.stderr
    assert "Traceback" not in done.stderr
    assert fleet.ecs().describe_services(cluster=CLUSTER, services=["x"])["services"] == []


API_ERRORS = [
    pytest.param(["create", "x", "--task-definition", "ghost", "--desired-count", "1"], "ClientException", id="no-such-taskdef"),
    pytest.param(["create", "x", "--task-definition", "{family}", "--desired-count", "1", "--max-percent", "50"],
                 "InvalidParameterException", id="max-percent"),
    pytest.param(["create", "bad name", "--task-definition", "{family}", "--desired-count", "1"],
                 "InvalidParameterException", id="bad-name"),
    pytest.param(["describe", "ghost"], "Error (MISSING)", id="describe-missing"),
    pytest.param(["events", "ghost"], "Error (MISSING)", id="events-missing"),
    pytest.param(["update", "ghost", "--desired-count", "1"], "ServiceNotFoundException", id="update-missing"),
    pytest.param(["scale", "ghost", "1"], "ServiceNotFoundException", id="scale-missing"),
    pytest.param(["rm", "ghost"], "ServiceNotFoundException", id="rm-missing"),
    pytest.param(["ls", "--cluster", "no-such-cluster"], "ClusterNotFoundException", id="ls-no-cluster"),
]


@pytest.fixture(scope="module")
def family(fleet: Fleet) -> str:
    name = unique("errors")
    register(fleet, name)
    return name


@pytest.mark.parametrize(("args", "code"), API_ERRORS)
def test_api_errors_exit_1(fleet: Fleet, family: str, args: list[str], code: str) -> None:
    argv = [a.replace("{family}", family) for a in args]
    if "--cluster" not in argv:
        argv += ["--cluster", CLUSTER]
    done = dockyard(fleet, "service", *argv)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert code in done.stderr
    assert "Traceback" not in done.stderr


def test_duplicate_create_exits_1(fleet: Fleet, family: str) -> None:
    name = unique("dup")
    args = ["service", "create", "-c", CLUSTER, name, "--task-definition", family, "--desired-count", "0"]
    ok(fleet, *args)
    again = dockyard(fleet, *args)
    assert again.returncode == 1 and "not idempotent" in again.stderr
    remove(fleet, name)


def test_unreachable_server_exits_3(fleet: Fleet) -> None:
    env = {**fleet.env, "DOCKYARD_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    for args in (["ls"], ["create", "x", "--task-definition", "web", "--desired-count", "1"], ["scale", "x", "1"]):
        done = dockyard(fleet, "service", *args, env=env)
        assert done.returncode == 3, (args, done.stderr)
        assert "cannot reach Dockyard" in done.stderr
