"""The friendly CLI (`dockyard cluster|taskdef|instance`) against a real `dockyard server`.

Each command runs as a subprocess, exactly as a user types it, with
DOCKYARD_ENDPOINT pointing at a server on a free loopback port and no AWS
credentials configured (the CLI falls back to dummy keys).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from dockyard.cli.resources import register_task_definition_input

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parent / "data"
WEB_TASKDEF = DATA / "web-taskdef.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    endpoint: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str]

    def ecs(self, **keys: str) -> Any:
        keys.setdefault("aws_access_key_id", "dockyard")
        keys.setdefault("aws_secret_access_key", "dockyard")
        return boto3.client("ecs", endpoint_url=self.endpoint, region_name="us-east-1", **keys)


def _clean_env(home: Path, endpoint: str) -> dict[str, str]:
    """The caller's environment minus any AWS credentials/profile, so runs are reproducible."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") or key == "AWS_CA_BUNDLE"
    }
    env.update(
        DOCKYARD_ENDPOINT=endpoint,
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("COLUMNS", None)
    return env


@contextmanager
def running_server(tmp: Path, *extra: str, timeout: float = 20.0) -> Iterator[Server]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dockyard", "server", "--port", str(port),
             "--data-dir", str(tmp / f"data-{port}"), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(endpoint + "/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no /health in {timeout}s:\n{log_path.read_text()}") from None
                time.sleep(0.05)
        yield Server(endpoint, proc, _clean_env(tmp, endpoint))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("cli")) as running:
        yield running


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m dockyard ARGS` as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "dockyard", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        check=False,
    )


def dockyard(
    server: Server, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env or server.env, stdin=stdin)


def ok(server: Server, *args: str) -> str:
    done = dockyard(server, *args)
    assert done.returncode == 0, f"{args}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_taskdef(tmp_path: Path, family: str) -> Path:
    document = json.loads(WEB_TASKDEF.read_text())
    document["family"] = family
    path = tmp_path / f"{family}.json"
    path.write_text(json.dumps(document))
    return path


def table_rows(text: str) -> list[list[str]]:
    """Cells of a rich table's body rows (lines framed by │)."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


# --- clusters ------------------------------------------------------------------------------


def test_cluster_create_ls_describe_rm(server: Server) -> None:
    name = unique("stage")
    created = ok(server, "cluster", "create", name, "--tag", "team=platform", "--tag", "env=")
    assert f"arn:aws:ecs:us-east-1:000000000000:cluster/{name}" in created

    rows = table_rows(ok(server, "cluster", "ls"))
    assert [name, "ACTIVE", "0", "0", "0", "0"] in rows

    described = ok(server, "cluster", "describe", name)
    assert f"cluster/{name}" in described
    for label in ("Container instances", "Running tasks", "Pending tasks", "Active services"):
        assert any(line.split() and line.startswith(label) and line.split()[-1] == "0"
                   for line in described.splitlines()), (label, described)
    assert "env=, team=platform" in described

    removed = ok(server, "cluster", "rm", name)
    assert f"Deleted cluster {name}" in removed
    assert name not in ok(server, "cluster", "ls")
    # The server's state agrees with what the CLI printed.
    assert server.ecs().describe_clusters(clusters=[name])["clusters"][0]["status"] == "INACTIVE"


def test_cluster_describe_counts_instances(server: Server) -> None:
    name = unique("counted")
    ok(server, "cluster", "create", name)
    server.ecs().register_container_instance(
        cluster=name,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
        ],
    )
    assert [name, "ACTIVE", "1", "0", "0", "0"] in table_rows(ok(server, "cluster", "ls"))
    document = json.loads(ok(server, "--output", "json", "cluster", "describe", name))
    assert document["clusters"][0]["registeredContainerInstancesCount"] == 1
    assert document["failures"] == []


def test_cluster_json_output_parses(server: Server) -> None:
    name = unique("json")
    created = json.loads(ok(server, "--output", "json", "cluster", "create", name))
    assert created["cluster"]["clusterName"] == name
    assert "ResponseMetadata" not in created
    listed = json.loads(ok(server, "-o", "json", "cluster", "ls"))
    assert f"arn:aws:ecs:us-east-1:000000000000:cluster/{name}" in listed["clusterArns"]


def test_unknown_cluster_is_an_api_error_exit_1(server: Server) -> None:
    done = dockyard(server, "cluster", "rm", "no-such-cluster")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("Error (ClusterNotFoundException): ")
    assert done.stderr.strip() == "Error (ClusterNotFoundException): Cluster not found."

    done = dockyard(server, "instance", "ls", "--cluster", "no-such-cluster")
    assert done.returncode == 1
    assert done.stderr.startswith("Error (ClusterNotFoundException): ")


def test_describe_reports_missing_clusters_and_exits_1(server: Server) -> None:
    name = unique("present")
    ok(server, "cluster", "create", name)
    done = dockyard(server, "cluster", "describe", name, "ghost-cluster")
    assert done.returncode == 1
    assert f"cluster/{name}" in done.stdout
    assert "Error (MISSING): arn:aws:ecs:us-east-1:000000000000:cluster/ghost-cluster" in done.stderr


def test_bad_tag_is_a_usage_error(server: Server) -> None:
    done = dockyard(server, "cluster", "create", unique("x"), "--tag", "no-equals-sign")
    assert done.returncode == 2
    assert "key=value" in done.stderr


# --- task definitions ----------------------------------------------------------------------


def test_taskdef_register_twice_makes_revisions_1_and_2(server: Server, tmp_path: Path) -> None:
    family = unique("web")
    path = write_taskdef(tmp_path, family)
    assert ok(server, "taskdef", "register", str(path)).strip() == f"{family}:1"
    assert ok(server, "taskdef", "register", f"file://{path}").strip() == f"{family}:2"

    rows = table_rows(ok(server, "taskdef", "ls", "--family", family))
    assert [row[:2] for row in rows] == [[family, "1"], [family, "2"]]
    listed = json.loads(ok(server, "-o", "json", "taskdef", "ls", "--family", family))
    assert [arn.rsplit("/", 1)[1] for arn in listed["taskDefinitionArns"]] == [
        f"{family}:1",
        f"{family}:2",
    ]
    assert family in table_rows(ok(server, "taskdef", "families", "--prefix", family))[0]


def test_taskdef_describe_shows_containers(server: Server, tmp_path: Path) -> None:
    family = unique("desc")
    ok(server, "taskdef", "register", str(write_taskdef(tmp_path, family)))
    out = ok(server, "taskdef", "describe", family)
    assert f"{family}:1" in out
    rows = table_rows(out)
    assert ["web", "dockyard-demo/web:1", "128", "128 (reserve 64)", "8080/tcp", "yes"] in rows
    assert ["sidecar", "dockyard-test/busybox:1", "0", "32", "-", "no"] in rows

    described = json.loads(ok(server, "-o", "json", "taskdef", "describe", f"{family}:1"))
    assert described["taskDefinition"]["revision"] == 1
    assert described["tags"] == [{"key": "team", "value": "platform"}]


def test_taskdef_register_accepts_describe_output(server: Server, tmp_path: Path) -> None:
    """Saved `describe-task-definition` JSON (read-only fields and all) registers unchanged."""
    family = unique("roundtrip")
    ok(server, "taskdef", "register", str(write_taskdef(tmp_path, family)))
    described = ok(server, "-o", "json", "taskdef", "describe", f"{family}:1")
    whole = tmp_path / "described.json"
    whole.write_text(described)
    assert "taskDefinitionArn" in described and "registeredAt" in described
    assert ok(server, "taskdef", "register", str(whole)).strip() == f"{family}:2"

    # Only the inner taskDefinition object, via stdin.
    inner = json.dumps(json.loads(described)["taskDefinition"])
    done = dockyard(server, "taskdef", "register", "-", stdin=inner)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{family}:3"

    third = server.ecs().describe_task_definition(taskDefinition=f"{family}:3", include=["TAGS"])
    second = server.ecs().describe_task_definition(taskDefinition=f"{family}:2", include=["TAGS"])
    assert third["taskDefinition"]["containerDefinitions"] == (
        second["taskDefinition"]["containerDefinitions"]
    )
    assert second["tags"] == [{"key": "team", "value": "platform"}]


def test_taskdef_deregister(server: Server, tmp_path: Path) -> None:
    family = unique("gone")
    ok(server, "taskdef", "register", str(write_taskdef(tmp_path, family)))
    assert "INACTIVE" in ok(server, "taskdef", "deregister", f"{family}:1")
    assert table_rows(ok(server, "taskdef", "ls", "--family", family)) == []
    inactive = table_rows(ok(server, "taskdef", "ls", "--family", family, "--status", "inactive"))
    assert [row[:2] for row in inactive] == [[family, "1"]]


def test_bad_json_file_exits_2(server: Server, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"family": "x",\n  "containerDefinitions": [\n')
    done = dockyard(server, "taskdef", "register", str(broken))
    assert done.returncode == 2
    assert f"{broken} is not valid JSON" in done.stderr
    assert "line 3" in done.stderr

    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    done = dockyard(server, "taskdef", "register", str(not_object))
    assert done.returncode == 2
    assert "JSON object" in done.stderr

    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"family": "x", "containerDefintions": []}))
    done = dockyard(server, "taskdef", "register", str(typo))
    assert done.returncode == 2
    assert "containerDefintions" in done.stderr

    done = dockyard(server, "taskdef", "register", str(tmp_path / "missing.json"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr


def test_invalid_task_definition_is_rejected_before_sending(server: Server) -> None:
    bad = json.dumps({"family": "x", "containerDefinitions": [{"name": 5, "image": "i"}]})
    done = dockyard(server, "taskdef", "register", "-", stdin=bad)
    assert done.returncode == 2
    assert "containerDefinitions[0].name" in done.stderr


# --- container instances -------------------------------------------------------------------


def test_instance_ls_and_describe(server: Server) -> None:
    name = unique("hosts")
    ok(server, "cluster", "create", name)
    registered = server.ecs().register_container_instance(
        cluster=name,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 3072},
        ],
        versionInfo={"agentVersion": "0.1.0", "dockerVersion": "24.0.7"},
    )["containerInstance"]
    instance_id = registered["containerInstanceArn"].rsplit("/", 1)[1]

    rows = table_rows(ok(server, "instance", "ls", "--cluster", name))
    assert rows == [
        [instance_id, registered["ec2InstanceId"], "ACTIVE", "no", "2048/2048", "3072/3072",
         "0", "0"]
    ]
    listed = json.loads(ok(server, "-o", "json", "instance", "ls", "-c", name))
    assert listed == {"containerInstanceArns": [registered["containerInstanceArn"]]}

    out = ok(server, "instance", "describe", "--cluster", name, instance_id)
    assert registered["containerInstanceArn"] in out
    assert "24.0.7" in out

    done = dockyard(server, "instance", "describe", "--cluster", name, "0" * 32)
    assert done.returncode == 1
    assert "Error (MISSING)" in done.stderr


# --- connection and credentials ------------------------------------------------------------


def test_unreachable_endpoint_exits_3(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    env = _clean_env(tmp_path, f"http://127.0.0.1:{port}")
    started = time.monotonic()
    done = run_cli("cluster", "ls", env=env)
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.startswith(f"cannot reach Dockyard at http://127.0.0.1:{port}: ")
    assert time.monotonic() - started < 15  # no long retry loop

    other = _free_port()
    done = run_cli("--endpoint", f"http://127.0.0.1:{other}", "taskdef", "ls", env=env)
    assert done.returncode == 3
    assert f"cannot reach Dockyard at http://127.0.0.1:{other}" in done.stderr


def test_signed_requests_use_aws_env_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"AKIDCLI": "cli-secret"}))
    with running_server(tmp_path, "--credentials", str(creds)) as secured:
        env = {**secured.env, "AWS_ACCESS_KEY_ID": "AKIDCLI", "AWS_SECRET_ACCESS_KEY": "cli-secret"}
        done = dockyard(secured, "cluster", "create", "signed", env=env)
        assert done.returncode == 0, done.stderr

        # Without credentials the CLI signs with dummy keys, which this server refuses.
        done = dockyard(secured, "cluster", "ls")
        assert done.returncode == 1
        assert done.stderr.startswith("Error (")

        profile_home = tmp_path / "aws"
        profile_home.mkdir()
        (profile_home / "credentials").write_text(
            "[ops]\naws_access_key_id = AKIDCLI\naws_secret_access_key = cli-secret\n"
        )
        env = {
            **secured.env,
            "AWS_SHARED_CREDENTIALS_FILE": str(profile_home / "credentials"),
            "AWS_PROFILE": "ops",
        }
        done = dockyard(secured, "cluster", "ls", env=env)
        assert done.returncode == 0, done.stderr
        assert "signed" in done.stdout


# --- the file -> RegisterTaskDefinition mapping, without a server ---------------------------

ACCEPTED = {"family", "containerDefinitions", "networkMode", "tags", "cpu", "memory"}


def test_register_input_strips_read_only_fields() -> None:
    described = {
        "taskDefinition": {
            "family": "web",
            "containerDefinitions": [{"name": "web", "image": "x"}],
            "networkMode": "bridge",
            "cpu": None,
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3",
            "revision": 3,
            "status": "ACTIVE",
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
            "compatibilities": ["EC2"],
            "registeredAt": "2026-01-01T00:00:00Z",
            "registeredBy": "arn:aws:iam::000000000000:root",
            "deregisteredAt": "2026-01-02T00:00:00Z",
        },
        "tags": [{"key": "a", "value": "b"}],
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    assert register_task_definition_input(described, ACCEPTED) == {
        "family": "web",
        "containerDefinitions": [{"name": "web", "image": "x"}],
        "networkMode": "bridge",
        "tags": [{"key": "a", "value": "b"}],
    }


def test_register_input_refuses_unknown_fields() -> None:
    from dockyard.cli.client import InputError

    with pytest.raises(InputError, match="containerDefintions"):
        register_task_definition_input({"family": "x", "containerDefintions": []}, ACCEPTED)
    with pytest.raises(InputError, match="JSON object"):
        register_task_definition_input([{"family": "x"}], ACCEPTED)


def test_register_input_passes_cli_input_json_through() -> None:
    document = json.loads(WEB_TASKDEF.read_text())
    accepted = ACCEPTED | set(document)
    assert register_task_definition_input(document, accepted) == document
