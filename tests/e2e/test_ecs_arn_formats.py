"""ARN formats of services and container instances follow the account settings, end to end.

serviceLongArnFormat / containerInstanceLongArnFormat `disabled` -> new services get
arn:...:service/<name> and new instances arn:...:container-instance/<id>; what exists
keeps its format; every lookup takes the name/id, the long or the short ARN. Real server,
agents with the fake runtime (no Docker): runs in the parallel group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import (
    AgentProcess,
    ServerProcess,
    aws_error,
    aws_json,
    client_error,
    wait_for,
)

PREFIX = "arn:aws:ecs:us-east-1:000000000000:"


def _running(ecs: Any, service: str) -> int:
    return int(ecs.describe_services(cluster="stage01", services=[service])["services"][0][
        "runningCount"
    ])  # fmt: skip


def test_service_and_instance_arn_formats(server: ServerProcess, ecs: Any, tmp_path: Path) -> None:
    ecs.create_cluster(clusterName="stage01")
    ecs.create_cluster(clusterName="other")
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "x", "memory": 64}]
    )
    long_agent = AgentProcess(
        server.endpoint, tmp_path / "a1", "127.0.1.1", extra_args=["--fake-runtime"]
    )
    short_agent = AgentProcess(
        server.endpoint, tmp_path / "a2", "127.0.1.2", extra_args=["--fake-runtime"]
    )
    long_agent.start(timeout=60)
    try:
        old = ecs.create_service(
            cluster="stage01", serviceName="old", taskDefinition="web", desiredCount=0
        )["service"]
        assert old["serviceArn"] == PREFIX + "service/stage01/old"
        ecs.put_account_setting_default(name="serviceLongArnFormat", value="disabled")
        ecs.put_account_setting(name="containerInstanceLongArnFormat", value="disabled")
        short_agent.start(timeout=60)
        _check_instances(ecs)
        _check_services(server, ecs)
    finally:
        short_agent.stop()
        long_agent.stop()


def _check_instances(ecs: Any) -> None:
    arns = ecs.list_container_instances(cluster="stage01")["containerInstanceArns"]
    short = [a for a in arns if a.count("/") == 1]
    long = [a for a in arns if a.count("/") == 2]
    assert len(short) == 1 and len(long) == 1, arns  # the first agent kept its format
    instance_id = short[0].rsplit("/", 1)[1]
    assert short[0] == PREFIX + f"container-instance/{instance_id}"
    as_long = PREFIX + f"container-instance/stage01/{instance_id}"
    described = ecs.describe_container_instances(
        cluster="stage01", containerInstances=[short[0], instance_id, as_long]
    )
    assert [i["containerInstanceArn"] for i in described["containerInstances"]] == [short[0]] * 3
    elsewhere = ecs.describe_container_instances(cluster="other", containerInstances=[short[0]])
    assert elsewhere["containerInstances"] == []
    assert elsewhere["failures"][0]["reason"] == "MISSING"
    wait_for(
        lambda: ecs.describe_container_instances(
            cluster="stage01", containerInstances=[instance_id]
        )["containerInstances"][0]["agentConnected"],
        timeout=60,
        what="the short-ARN instance's agent connected",
    )
    # StartTask on the short-ARN instance: placement finds its cluster; its agent runs it
    task = ecs.start_task(
        cluster="stage01", taskDefinition="web", containerInstances=[instance_id]
    )["tasks"][0]
    assert task["containerInstanceArn"] == short[0]
    wait_for(
        lambda: (
            ecs.describe_tasks(cluster="stage01", tasks=[task["taskArn"]])["tasks"][0]["lastStatus"]
            == "RUNNING"
        ),
        timeout=60,
        what="a task on the short-ARN instance RUNNING",
    )
    listed = ecs.list_tasks(cluster="stage01", containerInstance=as_long)["taskArns"]
    assert listed == [task["taskArn"]]
    ecs.stop_task(cluster="stage01", task=task["taskArn"])
    # Draining by the short ARN reaches the scheduler: nothing more is placed there
    drained = ecs.update_container_instances_state(
        cluster="stage01", containerInstances=[short[0]], status="DRAINING"
    )
    assert drained["containerInstances"][0]["status"] == "DRAINING"
    placed = ecs.run_task(cluster="stage01", taskDefinition="web", count=4)["tasks"]
    assert {t["containerInstanceArn"] for t in placed} == set(long)
    for placed_task in placed:
        ecs.stop_task(cluster="stage01", task=placed_task["taskArn"])
    ecs.update_container_instances_state(
        cluster="stage01", containerInstances=[instance_id], status="ACTIVE"
    )


def _check_services(server: ServerProcess, ecs: Any) -> None:
    created = ecs.create_service(
        cluster="stage01", serviceName="web", taskDefinition="web", desiredCount=2
    )["service"]
    short = PREFIX + "service/web"
    assert created["serviceArn"] == short
    old = ecs.describe_services(cluster="stage01", services=["old"])["services"][0]
    assert old["serviceArn"] == PREFIX + "service/stage01/old"  # existing ones keep theirs
    for ref in ("web", short, PREFIX + "service/stage01/web"):
        found = ecs.describe_services(cluster="stage01", services=[ref])
        assert [s["serviceArn"] for s in found["services"]] == [short], ref
    assert set(ecs.list_services(cluster="stage01")["serviceArns"]) == {
        short,
        PREFIX + "service/stage01/old",
    }
    wait_for(lambda: _running(ecs, "web") == 2, timeout=90, what="the short-ARN service scaled")
    # Short ARNs do not name the cluster: the same name elsewhere is refused while live.
    code, message = client_error(
        ecs.create_service, cluster="other", serviceName="web", taskDefinition="web",
        desiredCount=0,
    )  # fmt: skip
    assert code == "InvalidParameterException" and "serviceLongArnFormat" in message
    # Application Auto Scaling names the service by cluster and name, whatever its ARN.
    scaling = server.client("application-autoscaling")
    scaling.register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/stage01/web",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=0,
        MaxCapacity=3,
    )
    updated = ecs.update_service(cluster="stage01", service=short, desiredCount=1)["service"]
    assert updated["serviceArn"] == short
    wait_for(lambda: _running(ecs, "web") == 1, timeout=90, what="the short-ARN service scaled in")
    cli = aws_json(
        server.endpoint, "ecs", "describe-services", "--cluster", "stage01", "--services", short
    )
    assert cli["services"][0]["desiredCount"] == 1
    ecs.delete_service(cluster="stage01", service="web", force=True)
    wait_for(  # DRAINING until its task stopped (a live name cannot be created again)
        lambda: (
            ecs.describe_services(cluster="stage01", services=[short])["services"][0]["status"]
            == "INACTIVE"
        ),
        timeout=60,
        what="the deleted service INACTIVE",
    )
    # Re-created with the long format on: the INACTIVE short one gives way.
    ecs.put_account_setting_default(name="serviceLongArnFormat", value="enabled")
    again = aws_json(
        server.endpoint, "ecs", "create-service", "--cluster", "stage01", "--service-name", "web",
        "--task-definition", "web", "--desired-count", "0",
    )["service"]  # fmt: skip
    assert again["serviceArn"] == PREFIX + "service/stage01/web"
    found = ecs.describe_services(cluster="stage01", services=[short])["services"]
    assert [s["serviceArn"] for s in found] == [again["serviceArn"]]
    assert "InvalidParameterException" in aws_error(
        server.endpoint, "ecs", "describe-services", "--cluster", "stage01", "--services",
        PREFIX + "task/web",
    )  # fmt: skip


def test_tag_resource_authorization_is_accepted_and_reported(ecs: Any) -> None:
    """No IAM on Dockyard: the setting is stored and listed, tagging is never refused."""
    put = ecs.put_account_setting(name="tagResourceAuthorization", value="off")["setting"]
    assert put["value"] == "off"
    listed = ecs.list_account_settings(name="tagResourceAuthorization", effectiveSettings=True)
    assert [s["value"] for s in listed["settings"]] == ["off"]
    cluster = ecs.create_cluster(clusterName="tagged", tags=[{"key": "k", "value": "v"}])
    arn = cluster["cluster"]["clusterArn"]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "k", "value": "v"}]
