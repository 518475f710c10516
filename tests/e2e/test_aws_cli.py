"""The aws CLI, unchanged, against Dockyard (the issue's must-show walk)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import DATA, ServerProcess, aws_cli


def test_create_and_describe_cluster(server: ServerProcess) -> None:
    created = aws_cli(server.endpoint, "ecs", "create-cluster", "--cluster-name", "stage01")
    assert created.returncode == 0, created.stderr
    described = aws_cli(server.endpoint, "ecs", "describe-clusters", "--clusters", "stage01")
    cluster = json.loads(described.stdout)["clusters"][0]
    assert (cluster["clusterName"], cluster["status"]) == ("stage01", "ACTIVE")


def test_register_from_cli_input_json_twice(server: ServerProcess, tmp_path: Path) -> None:
    source = json.loads((DATA / "web-taskdef.json").read_text())
    path = tmp_path / "taskdef.json"
    path.write_text(json.dumps(source))
    revisions = []
    for _ in range(2):
        done = aws_cli(
            server.endpoint, "ecs", "register-task-definition", "--cli-input-json", f"file://{path}"
        )
        assert done.returncode == 0, done.stderr
        revisions.append(json.loads(done.stdout)["taskDefinition"]["revision"])
    assert revisions == [1, 2]
    described = aws_cli(
        server.endpoint, "ecs", "describe-task-definition", "--task-definition", "web"
    )
    container = json.loads(described.stdout)["taskDefinition"]["containerDefinitions"][0]
    assert container["portMappings"][0]["hostPort"] == 0
    assert container["healthCheck"]["retries"] == 3


def test_bad_task_definitions_fail_and_store_is_unchanged(
    server: ServerProcess, tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text((DATA / "web-taskdef.json").read_text())
    assert (
        aws_cli(
            server.endpoint, "ecs", "register-task-definition", "--cli-input-json", f"file://{good}"
        ).returncode
        == 0
    )

    bad_memory = json.loads(good.read_text()) | {"memory": "abc"}
    path = tmp_path / "bad-memory.json"
    path.write_text(json.dumps(bad_memory))
    done = aws_cli(
        server.endpoint, "ecs", "register-task-definition", "--cli-input-json", f"file://{path}"
    )
    assert done.returncode != 0
    assert "ClientException" in done.stderr and "memory" in done.stderr

    missing = {k: v for k, v in json.loads(good.read_text()).items() if k != "containerDefinitions"}
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(missing))
    done = aws_cli(
        server.endpoint, "ecs", "register-task-definition", "--cli-input-json", f"file://{path}"
    )
    assert done.returncode != 0
    assert "containerDefinitions" in done.stderr

    no_containers = json.loads(good.read_text()) | {"containerDefinitions": []}
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(no_containers))
    done = aws_cli(
        server.endpoint, "ecs", "register-task-definition", "--cli-input-json", f"file://{path}"
    )
    assert done.returncode != 0
    assert "ClientException" in done.stderr

    listed = aws_cli(server.endpoint, "ecs", "list-task-definitions")
    assert [a.rsplit("/", 1)[1] for a in json.loads(listed.stdout)["taskDefinitionArns"]] == [
        "web:1"
    ]


def test_missing_cluster_error_is_modeled(server: ServerProcess) -> None:
    done = aws_cli(
        server.endpoint,
        "ecs",
        "update-cluster",
        "--cluster",
        "ghost",
        "--settings",
        "name=containerInsights,value=enabled",
    )
    assert done.returncode != 0
    assert "ClusterNotFoundException" in done.stderr
