"""Service API validation and shapes (no agents needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import DATA


@pytest.fixture
def cluster(ecs: Any) -> str:
    ecs.create_cluster(clusterName="stage01")
    doc = json.loads((DATA / "web-taskdef.json").read_text())
    ecs.register_task_definition(**doc)
    return "stage01"


def test_create_describe_list_update(ecs: Any, cluster: str) -> None:
    created = ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="web", desiredCount=2,
                                 loadBalancers=[{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1",
                                                 "containerName": "web", "containerPort": 8080}],
                                 tags=[{"key": "team", "value": "a"}])["service"]
    assert created["serviceArn"] == "arn:aws:ecs:us-east-1:000000000000:service/stage01/web"
    assert created["deploymentConfiguration"]["maximumPercent"] == 200
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert created["deployments"][0]["status"] == "PRIMARY"
    assert created["deployments"][0]["id"].startswith("ecs-svc/")
    assert created["schedulingStrategy"] == "REPLICA"
    described = ecs.describe_services(cluster=cluster, services=["web", "ghost"], include=["TAGS"])
    assert described["services"][0]["tags"] == [{"key": "team", "value": "a"}]
    assert described["failures"][0]["reason"] == "MISSING"
    assert ecs.list_services(cluster=cluster)["serviceArns"] == [created["serviceArn"]]
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["activeServicesCount"] == 1
    updated = ecs.update_service(cluster=cluster, service="web", forceNewDeployment=True)["service"]
    assert [d["status"] for d in updated["deployments"]] == ["PRIMARY", "ACTIVE"]
    with pytest.raises(ecs.exceptions.ClusterContainsServicesException):
        ecs.delete_cluster(cluster=cluster)


BAD = [
    pytest.param({"serviceName": "bad name"}, "InvalidParameterException", id="name"),
    pytest.param({"taskDefinition": "ghost"}, "ClientException", id="task-definition"),
    pytest.param({"desiredCount": None}, "InvalidParameterException", id="no-desired-count"),
    pytest.param({"deploymentConfiguration": {"maximumPercent": 50}}, "InvalidParameterException", id="max-percent"),
    pytest.param({"deploymentConfiguration": {"minimumHealthyPercent": 150}}, "InvalidParameterException", id="min-percent"),
    pytest.param({"loadBalancers": [{"targetGroupArn": "arn:x", "containerName": "nope", "containerPort": 8080}]},
                 "InvalidParameterException", id="lb-container"),
    pytest.param({"loadBalancers": [{"targetGroupArn": "arn:x", "containerName": "web", "containerPort": 9999}]},
                 "InvalidParameterException", id="lb-port"),
    pytest.param({"placementStrategy": [{"type": "binpack", "field": "disk"}]}, "InvalidParameterException", id="strategy"),
    pytest.param({"placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}]},
                 "InvalidParameterException", id="constraint"),
    pytest.param({"launchType": "FARGATE"}, "InvalidParameterException", id="fargate"),
    pytest.param({"schedulingStrategy": "DAEMON", "desiredCount": 3}, "InvalidParameterException", id="daemon-count"),
]


@pytest.mark.parametrize(("change", "code"), BAD)
def test_bad_services_are_refused(ecs: Any, cluster: str, change: dict[str, Any], code: str) -> None:
    params: dict[str, Any] = {"cluster": cluster, "serviceName": "web", "taskDefinition": "web", "desiredCount": 1}
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ecs.exceptions.ClientError) as excinfo:
        ecs.create_service(**params)
    assert excinfo.value.response["Error"]["Code"] == code
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []


def test_duplicate_and_delete_rules(ecs: Any, cluster: str) -> None:
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="web", desiredCount=1)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="not idempotent"):
        ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="web", desiredCount=1)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="scaled above 0"):
        ecs.delete_service(cluster=cluster, service="web")
    ecs.update_service(cluster=cluster, service="web", desiredCount=0)
    assert ecs.delete_service(cluster=cluster, service="web")["service"]["status"] == "DRAINING"
    with pytest.raises(ecs.exceptions.ServiceNotActiveException):
        ecs.update_service(cluster=cluster, service="web", desiredCount=1)
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.update_service(cluster=cluster, service="ghost", desiredCount=1)
