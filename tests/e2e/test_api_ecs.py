"""The ECS API end to end: a real server process driven by boto3."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import DATA, ServerProcess

TARGET = "AmazonEC2ContainerServiceV20141113."


def taskdef(family: str = "web", **overrides: Any) -> dict[str, Any]:
    doc = json.loads((DATA / "web-taskdef.json").read_text())
    doc["family"] = family
    doc.update(overrides)
    return doc


def register_instance(ecs: Any, cluster: str = "stage01", **kwargs: Any) -> dict[str, Any]:
    return ecs.register_container_instance(
        cluster=cluster,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 3900},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375"]},
        ],
        versionInfo={"agentVersion": "0.1.0", "dockerVersion": "20.10.24"},
        attributes=[{"name": "ecs.availability-zone", "value": "az-1"}],
        **kwargs,
    )["containerInstance"]


def raw(
    server: ServerProcess,
    body: bytes,
    target: str | None,
    content_type: str = "application/x-amz-json-1.1",
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    request = urllib.request.Request(
        server.endpoint + "/", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def test_cluster_lifecycle(ecs: Any) -> None:
    created = ecs.create_cluster(clusterName="stage01", tags=[{"key": "env", "value": "stage"}])
    arn = created["cluster"]["clusterArn"]
    assert arn == "arn:aws:ecs:us-east-1:000000000000:cluster/stage01"
    assert ecs.create_cluster(clusterName="stage01")["cluster"]["clusterArn"] == arn
    described = ecs.describe_clusters(
        clusters=[arn, "missing"], include=["TAGS", "SETTINGS", "STATISTICS"]
    )
    cluster = described["clusters"][0]
    assert cluster["status"] == "ACTIVE"
    assert cluster["tags"] == [{"key": "env", "value": "stage"}]
    assert {s["name"] for s in cluster["statistics"]} >= {"runningEC2TasksCount"}
    assert described["failures"][0]["reason"] == "MISSING"
    ecs.update_cluster(
        cluster="stage01", settings=[{"name": "containerInsights", "value": "enabled"}]
    )
    settings = ecs.describe_clusters(clusters=["stage01"], include=["SETTINGS"])["clusters"][0][
        "settings"
    ]
    assert settings == [{"name": "containerInsights", "value": "enabled"}]
    assert ecs.list_clusters()["clusterArns"] == [arn]
    assert ecs.delete_cluster(cluster="stage01")["cluster"]["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == []
    assert ecs.describe_clusters(clusters=["stage01"])["clusters"][0]["status"] == "INACTIVE"
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.update_cluster(cluster="stage01", settings=[])


def test_cluster_with_instances_cannot_be_deleted(ecs: Any) -> None:
    ecs.create_cluster(clusterName="stage01")
    instance = register_instance(ecs)
    with pytest.raises(ecs.exceptions.ClusterContainsContainerInstancesException):
        ecs.delete_cluster(cluster="stage01")
    ecs.deregister_container_instance(
        cluster="stage01", containerInstance=instance["containerInstanceArn"]
    )
    ecs.delete_cluster(cluster="stage01")


def test_task_definition_revisions_and_fields(ecs: Any) -> None:
    first = ecs.register_task_definition(**taskdef())["taskDefinition"]
    second = ecs.register_task_definition(**taskdef())["taskDefinition"]
    assert (first["revision"], second["revision"]) == (1, 2)
    assert second["taskDefinitionArn"].endswith(":task-definition/web:2")
    web = second["containerDefinitions"][0]
    assert web["portMappings"] == [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]
    assert web["healthCheck"]["command"][0] == "CMD-SHELL"
    assert web["links"] == ["sidecar:side"]
    assert web["dockerLabels"] == {"team": "platform"}
    assert web["environment"] == [{"name": "GREETING", "value": "hello"}]
    assert web["stopTimeout"] == 5
    assert second["containerDefinitions"][1]["cpu"] == 0
    latest = ecs.describe_task_definition(taskDefinition="web", include=["TAGS"])
    assert latest["taskDefinition"]["revision"] == 2
    assert latest["tags"] == [{"key": "team", "value": "platform"}]
    assert ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"] == first
    by_arn = ecs.describe_task_definition(taskDefinition=first["taskDefinitionArn"])
    assert by_arn["taskDefinition"]["revision"] == 1


def test_task_definition_listing_deregister_delete(ecs: Any) -> None:
    for family in ("api", "web", "web", "worker"):
        ecs.register_task_definition(**taskdef(family))
    arns = ecs.list_task_definitions()["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in arns] == ["api:1", "web:1", "web:2", "worker:1"]
    desc = ecs.list_task_definitions(familyPrefix="web", sort="DESC")["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in desc] == ["web:2", "web:1"]
    assert ecs.list_task_definition_families(familyPrefix="w")["families"] == ["web", "worker"]
    ecs.deregister_task_definition(taskDefinition="api:1")
    assert ecs.list_task_definition_families()["families"] == ["web", "worker"]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["api"]
    inactive = ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"]
    assert [a.rsplit("/", 1)[1] for a in inactive] == ["api:1"]
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.describe_task_definition(taskDefinition="api")
    result = ecs.delete_task_definitions(taskDefinitions=["api:1", "web:1"])
    assert [d["status"] for d in result["taskDefinitions"]] == ["DELETE_IN_PROGRESS"]
    assert "ACTIVE" in result["failures"][0]["reason"]
    # Revisions are never reused, even after a delete.
    assert ecs.register_task_definition(**taskdef("api"))["taskDefinition"]["revision"] == 2


def test_pagination_walks_every_list(ecs: Any) -> None:
    for index in range(7):
        ecs.create_cluster(clusterName=f"c{index}")
        ecs.register_task_definition(**taskdef(f"fam{index}"))
    pages = list(ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["clusterArns"]) for p in pages] == [3, 3, 1]
    names = [arn.rsplit("/", 1)[1] for p in pages for arn in p["clusterArns"]]
    assert names == [f"c{i}" for i in range(7)]
    pages = list(
        ecs.get_paginator("list_task_definitions").paginate(PaginationConfig={"PageSize": 2})
    )
    assert sum(len(p["taskDefinitionArns"]) for p in pages) == 7
    pages = list(
        ecs.get_paginator("list_task_definition_families").paginate(
            PaginationConfig={"PageSize": 4}
        )
    )
    assert [f for p in pages for f in p["families"]] == [f"fam{i}" for i in range(7)]
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_clusters(nextToken="@@not-a-token@@")
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_clusters(maxResults=500)


def test_container_instances_resources_and_filters(ecs: Any) -> None:
    ecs.create_cluster(clusterName="stage01")
    one = register_instance(ecs)
    two = register_instance(ecs)
    registered = {r["name"]: r for r in one["registeredResources"]}
    assert registered["CPU"]["integerValue"] == 2048
    assert registered["MEMORY"]["integerValue"] == 3900
    assert registered["PORTS"]["stringSetValue"] == ["22", "2375"]
    assert registered["PORTS_UDP"]["stringSetValue"] == []
    assert one["remainingResources"] == one["registeredResources"]
    assert one["status"] == "ACTIVE" and one["agentConnected"] is False
    assert (
        ecs.describe_clusters(clusters=["stage01"])["clusters"][0][
            "registeredContainerInstancesCount"
        ]
        == 2
    )
    instance_id = one["containerInstanceArn"].rsplit("/", 1)[1]
    described = ecs.describe_container_instances(
        cluster="stage01", containerInstances=[instance_id, "nope"]
    )
    assert described["containerInstances"][0]["containerInstanceArn"] == one["containerInstanceArn"]
    assert described["failures"][0]["reason"] == "MISSING"
    ecs.put_attributes(
        cluster="stage01",
        attributes=[
            {
                "name": "stack",
                "value": "prod",
                "targetType": "container-instance",
                "targetId": instance_id,
            }
        ],
    )
    prod = ecs.list_container_instances(cluster="stage01", filter="attribute:stack == prod")
    assert prod["containerInstanceArns"] == [one["containerInstanceArn"]]
    listed = ecs.list_attributes(
        cluster="stage01", targetType="container-instance", attributeName="stack"
    )
    assert listed["attributes"] == [
        {
            "name": "stack",
            "value": "prod",
            "targetType": "container-instance",
            "targetId": one["containerInstanceArn"],
        }
    ]
    ecs.delete_attributes(
        cluster="stage01", attributes=[{"name": "stack", "targetId": instance_id}]
    )
    assert (
        ecs.list_container_instances(cluster="stage01", filter="attribute:stack == prod")[
            "containerInstanceArns"
        ]
        == []
    )
    with pytest.raises(ecs.exceptions.TargetNotFoundException):
        ecs.put_attributes(
            cluster="stage01", attributes=[{"name": "a", "value": "b", "targetId": "nope"}]
        )
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.list_container_instances(cluster="stage01", filter="attribute:stack ==")
    # Re-registration keeps the ARN.
    again = register_instance(ecs, containerInstanceArn=two["containerInstanceArn"])
    assert again["containerInstanceArn"] == two["containerInstanceArn"]
    assert again["version"] == 2
    assert len(ecs.list_container_instances(cluster="stage01")["containerInstanceArns"]) == 2


def test_tags_on_every_resource(ecs: Any) -> None:
    cluster = ecs.create_cluster(clusterName="stage01")["cluster"]["clusterArn"]
    td = ecs.register_task_definition(**taskdef())["taskDefinition"]["taskDefinitionArn"]
    for arn in (cluster, td):
        ecs.tag_resource(
            resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
        )
        ecs.untag_resource(resourceArn=arn, tagKeys=["b"])
        assert {"key": "a", "value": "1"} in ecs.list_tags_for_resource(resourceArn=arn)["tags"]
        assert all(t["key"] != "b" for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.tag_resource(resourceArn=cluster, tags=[{"key": "aws:x", "value": "1"}])
    with pytest.raises(ecs.exceptions.ResourceNotFoundException):
        ecs.tag_resource(
            resourceArn=cluster.replace("stage01", "ghost"), tags=[{"key": "a", "value": "1"}]
        )


BAD_TASK_DEFINITIONS = [
    pytest.param({"family": "bad family!"}, "ClientException", id="family-pattern"),
    pytest.param({"containerDefinitions": []}, "ClientException", id="no-containers"),
    pytest.param({"memory": "abc"}, "ClientException", id="task-memory-abc"),
    pytest.param({"cpu": "64"}, "ClientException", id="task-cpu-too-small"),
    pytest.param(
        {
            "containerDefinitions": [
                {"name": "a", "image": "x", "memory": 64},
                {"name": "a", "image": "x", "memory": 64},
            ]
        },
        "ClientException",
        id="duplicate-container-names",
    ),
    pytest.param(
        {"containerDefinitions": [{"name": "a", "image": "x"}]}, "ClientException", id="no-memory"
    ),
    pytest.param(
        {"containerDefinitions": [{"name": "a", "image": "x", "memory": 2}]},
        "ClientException",
        id="memory-below-6",
    ),
    pytest.param(
        {
            "containerDefinitions": [
                {
                    "name": "a",
                    "image": "x",
                    "memory": 64,
                    "portMappings": [{"containerPort": 70000}],
                }
            ]
        },
        "ClientException",
        id="container-port-range",
    ),
    pytest.param(
        {
            "containerDefinitions": [
                {
                    "name": "a",
                    "image": "x",
                    "memory": 64,
                    "portMappings": [{"containerPort": 80, "protocol": "sctp"}],
                }
            ]
        },
        "ClientException",
        id="port-protocol",
    ),
    pytest.param(
        {"containerDefinitions": [{"name": "a", "image": "x", "memory": 64, "links": ["b"]}]},
        "ClientException",
        id="link-to-missing-container",
    ),
    pytest.param(
        {
            "containerDefinitions": [
                {
                    "name": "a",
                    "image": "x",
                    "memory": 64,
                    "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 1},
                }
            ]
        },
        "ClientException",
        id="health-interval",
    ),
    pytest.param(
        {"containerDefinitions": [{"name": "a", "image": "x", "memory": "lots"}]},
        "InvalidParameterException",
        id="memory-type",
    ),
    pytest.param(
        {"containerDefinitions": None}, "InvalidParameterException", id="missing-containers"
    ),
]


@pytest.mark.parametrize(("change", "code"), BAD_TASK_DEFINITIONS)
def test_bad_task_definitions_are_refused_and_change_nothing(
    server: ServerProcess, change: dict[str, Any], code: str
) -> None:
    ecs = server.client(config=Config(parameter_validation=False))
    ecs.register_task_definition(**taskdef("web"))
    params = taskdef("web")
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ClientError) as excinfo:
        ecs.register_task_definition(**params)
    assert error_code(excinfo) == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ecs.list_task_definitions()["taskDefinitionArns"][-1].endswith("web:1")
    assert len(ecs.list_task_definitions()["taskDefinitionArns"]) == 1


def test_protocol_errors_are_clean_4xx(server: ServerProcess) -> None:
    status, body = raw(server, b"{not json", TARGET + "ListClusters")
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = raw(server, b"[]", TARGET + "ListClusters")
    assert status == 400
    status, body = raw(server, b"{}", TARGET + "FlyToTheMoon")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = raw(server, b"{}", None)
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = raw(server, b"{}", "SomethingElse.ListClusters")
    assert status == 400
    status, body = raw(server, b'{"clusterName": 5}', TARGET + "CreateCluster")
    assert (status, body["__type"]) == (400, "InvalidParameterException")
    status, body = raw(server, b"\xff\xfe", TARGET + "CreateCluster")
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = raw(server, b"{}", TARGET + "ListClusters")
    assert status == 200 and body == {"clusterArns": []}


def test_kill_9_loses_nothing_acknowledged(server: ServerProcess) -> None:
    ecs = server.client()
    ecs.create_cluster(clusterName="stage01")
    ecs.create_cluster(clusterName="prod")
    for _ in range(3):
        ecs.register_task_definition(**taskdef("web"))
    instance = register_instance(ecs)
    ecs.put_attributes(
        cluster="stage01",
        attributes=[
            {"name": "stack", "value": "prod", "targetId": instance["containerInstanceArn"]}
        ],
    )
    before = (
        ecs.describe_clusters(clusters=["stage01", "prod"], include=["TAGS", "SETTINGS"])[
            "clusters"
        ],
        ecs.list_task_definitions()["taskDefinitionArns"],
        ecs.describe_task_definition(taskDefinition="web:3")["taskDefinition"],
        ecs.describe_container_instances(
            cluster="stage01", containerInstances=[instance["containerInstanceArn"]]
        )["containerInstances"],
    )
    server.kill9()
    server.start()
    ecs = server.client()
    after = (
        ecs.describe_clusters(clusters=["stage01", "prod"], include=["TAGS", "SETTINGS"])[
            "clusters"
        ],
        ecs.list_task_definitions()["taskDefinitionArns"],
        ecs.describe_task_definition(taskDefinition="web:3")["taskDefinition"],
        ecs.describe_container_instances(
            cluster="stage01", containerInstances=[instance["containerInstanceArn"]]
        )["containerInstances"],
    )
    assert after == before
    assert ecs.register_task_definition(**taskdef("web"))["taskDefinition"]["revision"] == 4


def test_boto3_session_default_cluster(server: ServerProcess) -> None:
    session = boto3.session.Session(
        aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-west-1"
    )
    ecs = session.client("ecs", endpoint_url=server.endpoint)
    ecs.create_cluster()
    assert ecs.describe_clusters()["clusters"][0]["clusterName"] == "default"
