"""Capacity providers through the ECS handlers on a real SQLite store: the provider
documents, cluster associations and their refusals, and RunTask placing each share of a
strategy on its provider's instances (membership by attribute)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dockyard.api.ecs import HANDLERS
from dockyard.context import ApiContext
from dockyard.errors import (
    AwsError,
    ClientException,
    InvalidParameterException,
    ResourceInUseException,
)
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url

ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/"


class Api:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def __call__(self, action: str, **params: Any) -> dict[str, Any]:
        return HANDLERS[action](self.ctx, params)

    def provider(self, name: str, **extra: Any) -> dict[str, Any]:
        asg = {"autoScalingGroupArn": ASG + name, **extra}
        return self("CreateCapacityProvider", name=name, autoScalingGroupProvider=asg)[
            "capacityProvider"
        ]

    def instance(self, provider: str | None) -> str:
        """A registered instance whose agent is connected (as the agent channel marks it)."""
        attributes = [{"name": "ecs.capacity-provider-name", "value": provider}] if provider else []
        arn = self(
            "RegisterContainerInstance",
            cluster="c",
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": 10_000},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 10_000},
            ],
            attributes=attributes,
        )["containerInstance"]["containerInstanceArn"]
        with self.ctx.store.transaction() as tx:
            doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
            assert doc is not None
            doc["agentConnected"] = True
            tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
        return str(arn)


@pytest.fixture
def api(tmp_path: Path) -> Api:
    ctx = ApiContext(store=open_store(sqlite_url(tmp_path)))
    calls = Api(ctx)
    calls("CreateCluster", clusterName="c")
    calls(
        "RegisterTaskDefinition",
        family="web",
        containerDefinitions=[{"name": "web", "image": "web:1", "memory": 8}],
    )
    return calls


def test_provider_document_defaults_update_and_describe(api: Api) -> None:
    created = api.provider("spot")
    assert created["capacityProviderArn"] == (
        "arn:aws:ecs:us-east-1:000000000000:capacity-provider/spot"
    )
    assert created["status"] == "ACTIVE" and created["type"] == "EC2_AUTOSCALING"
    asg = created["autoScalingGroupProvider"]
    assert asg["managedScaling"]["status"] == "DISABLED"
    assert asg["managedScaling"]["targetCapacity"] == 100
    assert (asg["managedTerminationProtection"], asg["managedDraining"]) == (
        "DISABLED",
        "ENABLED",
    )
    with pytest.raises(ClientException, match="already exists"):
        api.provider("spot")
    with pytest.raises(ClientException, match="Auto Scaling group ARN is already"):
        api(
            "CreateCapacityProvider",
            name="other",
            autoScalingGroupProvider={"autoScalingGroupArn": ASG + "spot"},
        )
    with pytest.raises(InvalidParameterException, match="prefixed"):
        api.provider("fargate-x")
    updated = api(
        "UpdateCapacityProvider",
        name="spot",
        autoScalingGroupProvider={"managedScaling": {"status": "ENABLED", "targetCapacity": 80}},
    )["capacityProvider"]
    assert updated["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 80
    assert updated["updateStatus"] == "UPDATE_COMPLETE"
    everything = api("DescribeCapacityProviders")
    assert [p["name"] for p in everything["capacityProviders"]] == [
        "FARGATE",
        "FARGATE_SPOT",
        "spot",
    ]
    first = api("DescribeCapacityProviders", maxResults=2)
    rest = api("DescribeCapacityProviders", maxResults=2, nextToken=first["nextToken"])
    assert [p["name"] for p in rest["capacityProviders"]] == ["spot"]
    named = api("DescribeCapacityProviders", capacityProviders=["spot", "nope"])
    assert [p["name"] for p in named["capacityProviders"]] == ["spot"]
    assert named["failures"][0]["reason"] == "MISSING"


def test_cluster_associations_and_refusals(api: Api) -> None:
    api.provider("spot")
    with pytest.raises(InvalidParameterException, match="does not exist"):
        api(
            "PutClusterCapacityProviders",
            cluster="c",
            capacityProviders=["ghost"],
            defaultCapacityProviderStrategy=[],
        )
    with pytest.raises(InvalidParameterException, match="not associated"):
        api(
            "PutClusterCapacityProviders",
            cluster="c",
            capacityProviders=["spot"],
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
        )
    cluster = api(
        "PutClusterCapacityProviders",
        cluster="c",
        capacityProviders=["spot", "FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "spot", "weight": 1}],
    )["cluster"]
    assert cluster["capacityProviders"] == ["spot", "FARGATE"]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "spot", "weight": 1, "base": 0}
    ]
    # Deleting a provider a cluster lists: nothing deleted, DELETE_FAILED with the reason.
    refused = api("DeleteCapacityProvider", capacityProvider="spot")["capacityProvider"]
    assert (refused["status"], refused["updateStatus"]) == ("ACTIVE", "DELETE_FAILED")
    assert "cluster c" in refused["updateStatusReason"]
    # A service on it pins it to the cluster.
    api.instance("spot")
    api("CreateService", cluster="c", serviceName="s", taskDefinition="web", desiredCount=0)
    with api.ctx.store.read() as tx:
        service = tx.find(Kind.SERVICE)[0]
    assert service["capacityProviderStrategy"] == [
        {"capacityProvider": "spot", "weight": 1, "base": 0}
    ]
    assert "launchType" not in service
    with pytest.raises(ResourceInUseException, match="in use"):
        api(
            "PutClusterCapacityProviders",
            cluster="c",
            capacityProviders=["FARGATE"],
            defaultCapacityProviderStrategy=[],
        )
    api("DeleteService", cluster="c", service="s", force=True)
    with api.ctx.store.transaction() as tx:  # the controller would finish the drain
        service = tx.find(Kind.SERVICE)[0]
        service["status"] = "INACTIVE"
        tx.update(Kind.SERVICE, service["serviceArn"], service, status="INACTIVE")
    api(
        "PutClusterCapacityProviders",
        cluster="c",
        capacityProviders=[],
        defaultCapacityProviderStrategy=[],
    )
    deleted = api("DeleteCapacityProvider", capacityProvider="spot")["capacityProvider"]
    assert (deleted["status"], deleted["updateStatus"]) == ("INACTIVE", "DELETE_COMPLETE")
    assert api("DescribeCapacityProviders")["capacityProviders"][-1]["name"] == "FARGATE_SPOT"


def test_run_task_splits_by_base_and_weight_over_member_instances(api: Api) -> None:
    api.provider("ondemand")
    api.provider("spot")
    api(
        "PutClusterCapacityProviders",
        cluster="c",
        capacityProviders=["ondemand", "spot"],
        defaultCapacityProviderStrategy=[],
    )
    members = {api.instance("ondemand"): "ondemand", api.instance("spot"): "spot"}
    api.instance(None)  # in no provider: never chosen for a provider's share
    strategy = [
        {"capacityProvider": "ondemand", "base": 2, "weight": 1},
        {"capacityProvider": "spot", "weight": 3},
    ]
    tasks = api("RunTask", cluster="c", taskDefinition="web", count=10,
                capacityProviderStrategy=strategy)["tasks"]  # fmt: skip
    assert Counter(t["capacityProviderName"] for t in tasks) == {"ondemand": 4, "spot": 6}
    for task in tasks:
        assert members.get(task["containerInstanceArn"]) == task["capacityProviderName"]
        assert task["launchType"] == "EC2"
    with pytest.raises(InvalidParameterException, match="Specifying both a launch type"):
        api("RunTask", cluster="c", taskDefinition="web", launchType="EC2",
            capacityProviderStrategy=strategy)  # fmt: skip
    with pytest.raises(InvalidParameterException, match="not associated"):
        api("RunTask", cluster="c", taskDefinition="web",
            capacityProviderStrategy=[{"capacityProvider": "FARGATE"}])  # fmt: skip
    described = api("DescribeContainerInstances", cluster="c", containerInstances=list(members))
    assert {i["capacityProviderName"] for i in described["containerInstances"]} == {
        "ondemand",
        "spot",
    }


def test_a_share_with_no_member_instance_is_reported(api: Api) -> None:
    api.provider("empty")
    api(
        "PutClusterCapacityProviders",
        cluster="c",
        capacityProviders=["empty"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "empty"}],
    )
    api.instance(None)
    answer = api("RunTask", cluster="c", taskDefinition="web")  # the cluster's default
    assert answer["tasks"] == []
    assert answer["failures"][0]["reason"] == "MemberOf placement constraint unsatisfied."
    placed = api("RunTask", cluster="c", taskDefinition="web", launchType="EC2")["tasks"]
    assert len(placed) == 1 and "capacityProviderName" not in placed[0]


def test_refusals_write_nothing(api: Api) -> None:
    with api.ctx.store.read() as tx:
        before = tx.count(Kind.CAPACITY_PROVIDER)
    for params in (
        {"name": "aws-x", "autoScalingGroupProvider": {"autoScalingGroupArn": ASG}},
        {"name": "x"},
        {
            "name": "x",
            "autoScalingGroupProvider": {
                "autoScalingGroupArn": ASG,
                "managedTerminationProtection": "ENABLED",
            },
        },
    ):
        with pytest.raises(AwsError):
            api("CreateCapacityProvider", **params)
    with api.ctx.store.read() as tx:
        assert tx.count(Kind.CAPACITY_PROVIDER) == before


def test_update_service_changes_the_strategy_and_daemons_take_none(api: Api) -> None:
    api.provider("spot")
    api(
        "PutClusterCapacityProviders",
        cluster="c",
        capacityProviders=["spot"],
        defaultCapacityProviderStrategy=[],
    )
    api("CreateService", cluster="c", serviceName="s", taskDefinition="web", desiredCount=0)
    strategy = [{"capacityProvider": "spot", "weight": 2}]
    updated = api("UpdateService", cluster="c", service="s", capacityProviderStrategy=strategy,
                  forceNewDeployment=True)["service"]  # fmt: skip
    expected = [{"capacityProvider": "spot", "weight": 2, "base": 0}]
    assert updated["capacityProviderStrategy"] == expected and "launchType" not in updated
    primary = updated["deployments"][0]
    assert primary["capacityProviderStrategy"] == expected and "launchType" not in primary
    back = api("UpdateService", cluster="c", service="s", capacityProviderStrategy=[])["service"]
    assert "capacityProviderStrategy" not in back  # no cluster default: launchType again
    assert back["launchType"] == back["deployments"][0]["launchType"] == "EC2"
    with pytest.raises(InvalidParameterException, match="DAEMON"):
        api("CreateService", cluster="c", serviceName="d", taskDefinition="web",
            schedulingStrategy="DAEMON", capacityProviderStrategy=strategy)  # fmt: skip
