"""A real `dockyard server --store-url postgresql+psycopg://...` on a throwaway PostgreSQL
cluster (initdb/pg_ctl, loopback, non-root; dockyard.testing.postgres): boto3 creates a
cluster, registers a task definition and a service; a simulated host (the agent's
in-memory runtime) runs a task to RUNNING; after a `kill -9` and a restart of the server
everything is still there and the service still answers. No Docker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.testing.postgres import PostgresCluster, throwaway_postgres
from tests.e2e.conftest import AgentProcess, ServerProcess, wait_for

pytestmark = pytest.mark.e2e

WEB = {
    "family": "web",
    "containerDefinitions": [
        {"name": "web", "image": "x", "memory": 128,
         "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture
def pg_server(postgres: PostgresCluster, tmp_path: Path) -> Iterator[ServerProcess]:
    url = postgres.create_database("e2e")
    proc = ServerProcess(tmp_path / "data", extra_args=["--store-url", url])
    proc.start(timeout=60)
    yield proc
    proc.stop()


def task_status(ecs: Any, arn: str) -> str:
    return str(ecs.describe_tasks(cluster="stage01", tasks=[arn])["tasks"][0]["lastStatus"])


def test_run_task_on_postgres_and_survive_a_restart(
    pg_server: ServerProcess, tmp_path: Path
) -> None:
    ecs = pg_server.client()
    cluster = ecs.create_cluster(clusterName="stage01", tags=[{"key": "team", "value": "a"}])
    cluster_arn = cluster["cluster"]["clusterArn"]
    ecs.register_task_definition(**WEB)
    ecs.register_task_definition(**WEB)  # revision 2
    agent = AgentProcess(pg_server.endpoint, tmp_path / "agent", "127.0.1.1",
                         extra_args=["--fake-runtime"])  # fmt: skip
    agent.start(timeout=60)
    try:
        arn = ecs.run_task(cluster="stage01", taskDefinition="web:1")["tasks"][0]["taskArn"]
        wait_for(lambda: task_status(ecs, arn) == "RUNNING", timeout=60, what="RUNNING on PG")
        ecs.create_service(cluster="stage01", serviceName="svc", taskDefinition="web:2",
                           desiredCount=1)  # fmt: skip
        wait_for(
            lambda: ecs.describe_services(cluster="stage01", services=["svc"])["services"][0][
                "runningCount"] == 1,
            timeout=60, what="the service's task RUNNING",
        )  # fmt: skip

        pg_server.kill9()
        pg_server.start(timeout=60)  # same database, same data dir (its lock died with it)

        assert (
            ecs.describe_clusters(clusters=["stage01"])["clusters"][0]["clusterArn"] == cluster_arn
        )
        assert ecs.list_tags_for_resource(resourceArn=cluster_arn)["tags"] == [
            {"key": "team", "value": "a"}]  # fmt: skip
        families = ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
        assert [a.rsplit(":", 1)[1] for a in families] == ["1", "2"]
        assert task_status(ecs, arn) == "RUNNING"
        assert ecs.list_services(cluster="stage01")["serviceArns"][0].endswith("/svc")
        # The agent reconnects to the restarted server and the state stays converged.
        wait_for(
            lambda: ecs.describe_container_instances(
                cluster="stage01", containerInstances=[agent.instance_arn]
            )["containerInstances"][0]["agentConnected"],
            timeout=60, what="the agent back",
        )  # fmt: skip
        ecs.stop_task(cluster="stage01", task=arn, reason="done")
        wait_for(lambda: task_status(ecs, arn) == "STOPPED", timeout=60, what="STOPPED")
        running = ecs.list_tasks(cluster="stage01", desiredStatus="RUNNING")["taskArns"]
        assert len(running) == 1 and arn not in running  # the service's task only
    finally:
        agent.stop()
