"""awsvpc and FARGATE pure parts: instance-type defaults, the agent's address pool, the
server's ENI attachment and `ip` targets, Fargate's cpu/memory rules; and
RegisterContainerInstance without totalResources against a real SQLite store."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from dockyard.agent.awsvpc import AddressPool, PoolExhaustedError, eni_details
from dockyard.agent.config import ConfigError, awsvpc_pool_size
from dockyard.api.ecs.task_definition_rules import check_task_definition
from dockyard.errors import ClientException, InvalidParameterException
from dockyard.instance_types import INSTANCE_TYPES, derived_resources, with_defaults
from dockyard.resources import resource_value
from dockyard.tasks import awsvpc, fargate

# --------------------------------------------------------------- instance types


@pytest.mark.parametrize(
    ("instance_type", "cpu", "memory"),
    [
        pytest.param("t3.medium", 2048, 4096 - 256, id="t3.medium"),
        pytest.param("m5.large", 2048, 8192 - 409, id="m5.large-5pct"),
        pytest.param("c5.xlarge", 4096, 8192 - 409, id="c5.xlarge"),
        pytest.param("r5.2xlarge", 8192, 65536 - 3276, id="r5.2xlarge"),
        pytest.param(None, 2048, 4096 - 256, id="no-document-default"),
        pytest.param("x9.unknown", 2048, 4096 - 256, id="unknown-type-default"),
    ],
)
def test_derived_resources(instance_type: str | None, cpu: int, memory: int) -> None:
    assert derived_resources(instance_type) == {"CPU": cpu, "MEMORY": memory}


def test_every_type_registers_positive_memory_below_nominal() -> None:
    for name, (vcpus, gib) in INSTANCE_TYPES.items():
        derived = derived_resources(name)
        assert derived["CPU"] == vcpus * 1024, name
        assert 0 < derived["MEMORY"] < gib * 1024, name


def test_given_resources_win_and_missing_ones_are_filled() -> None:
    given = [{"name": "CPU", "type": "INTEGER", "integerValue": 512}]
    filled = with_defaults(given, {"instanceType": "m5.xlarge"})
    assert {r["name"]: r["integerValue"] for r in filled} == {"CPU": 512, "MEMORY": 16384 - 819}


def test_register_without_total_resources(tmp_path: Path) -> None:
    from dockyard.api.ecs.clusters import create_cluster
    from dockyard.api.ecs.container_instances import register_container_instance
    from dockyard.context import ApiContext
    from dockyard.store.sql import open_store, sqlite_url

    ctx = ApiContext(store=open_store(sqlite_url(tmp_path)), clock=lambda: 1000.0)
    create_cluster(ctx, {"clusterName": "default"})
    document = json.dumps({"instanceId": "i-0123456789abcdef0", "instanceType": "c5.large"})
    with_type = register_container_instance(ctx, {"instanceIdentityDocument": document})
    bare = register_container_instance(ctx, {})
    for result, cpu, memory in ((with_type, 2048, 4096 - 256), (bare, 2048, 4096 - 256)):
        registered = result["containerInstance"]["registeredResources"]
        assert resource_value(registered, "CPU") == cpu
        assert resource_value(registered, "MEMORY") == memory
        remaining = result["containerInstance"]["remainingResources"]
        assert resource_value(remaining, "MEMORY") == memory
    assert with_type["containerInstance"]["ec2InstanceId"] == "i-0123456789abcdef0"
    with pytest.raises(InvalidParameterException, match="not valid JSON"):
        register_container_instance(ctx, {"instanceIdentityDocument": "{"})


def test_attachment_state_change_finds_its_task(tmp_path: Path) -> None:
    """SubmitAttachmentStateChanges: the attachment ARN leads to its task (its id is the
    task's); an ARN of no task in the cluster is refused and nothing is written."""
    from dockyard.api.ecs.agent_calls import submit_attachment_state_changes
    from dockyard.api.ecs.clusters import create_cluster
    from dockyard.api.ecs.container_instances import register_container_instance
    from dockyard.api.ecs.task_definitions import register_task_definition
    from dockyard.api.ecs.tasks import describe_tasks, run_task
    from dockyard.context import ApiContext
    from dockyard.store import Kind
    from dockyard.store.sql import open_store, sqlite_url

    ctx = ApiContext(store=open_store(sqlite_url(tmp_path)), clock=lambda: 1000.0)
    create_cluster(ctx, {"clusterName": "default"})
    attributes = [{"name": awsvpc.TASK_ENI_ATTRIBUTE}]
    registered = register_container_instance(ctx, {"attributes": attributes})
    instance = registered["containerInstance"]["containerInstanceArn"]
    with ctx.store.transaction() as tx:  # as when its agent connects
        doc = tx.get(Kind.CONTAINER_INSTANCE, instance)
        assert doc is not None
        doc["agentConnected"] = True
        tx.update(Kind.CONTAINER_INSTANCE, instance, doc)
    register_task_definition(
        ctx,
        {
            "family": "web",
            "networkMode": "awsvpc",
            "containerDefinitions": [{"name": "web", "image": "web:1", "memory": 64}],
        },
    )
    run = run_task(ctx, {"taskDefinition": "web", "networkConfiguration": NETWORK})
    assert run["failures"] == [] and len(run["tasks"]) == 1, run
    task = run["tasks"][0]
    attachment = task["attachments"][0]
    assert awsvpc.attachment_task_id(attachment["id"]) == task["taskArn"].rsplit("/", 1)[-1]
    arn = ctx.identity.ecs(f"attachment/{attachment['id']}")
    unknown = ctx.identity.ecs("attachment/01234567-89ab-cdef-0123-456789abcdef")

    def status() -> str:
        tasks = describe_tasks(ctx, {"tasks": [task["taskArn"]]})["tasks"]
        return str(tasks[0]["attachments"][0]["status"])

    with pytest.raises(InvalidParameterException, match="Attachment not found"):
        submit_attachment_state_changes(
            ctx,
            {"attachments": [{"attachmentArn": a, "status": "ATTACHED"} for a in (arn, unknown)]},
        )
    assert status() == "PRECREATED"  # refused as a whole
    answer = submit_attachment_state_changes(
        ctx, {"attachments": [{"attachmentArn": arn, "status": "ATTACHED"}]}
    )
    assert answer == {"acknowledgment": "ACK"}
    assert status() == "ATTACHED"


# --------------------------------------------------------------- agent pool


def test_pool_hands_out_one_address_per_task_and_takes_it_back() -> None:
    pool = AddressPool("127.0.2.0/30")  # hosts .1 and .2
    assert pool.size == 2
    first, second = pool.allocate("t1"), pool.allocate("t2")
    assert (first, second) == ("127.0.2.1", "127.0.2.2")
    assert pool.allocate("t1") == first  # idempotent
    with pytest.raises(PoolExhaustedError) as raised:
        pool.allocate("t3")
    assert raised.value.reason.startswith("ResourceInitializationError:")
    pool.release("t1")
    assert pool.allocate("t3") == first


def test_pool_adopts_addresses_found_after_a_restart() -> None:
    pool = AddressPool("127.0.2.0/29")
    pool.adopt("old", "127.0.2.1")
    assert pool.allocate("new") == "127.0.2.2"


def test_a_large_pool_is_never_listed() -> None:
    """A pool is sized by arithmetic and allocated from lazily: listing a /12's million
    addresses (what the pool once did, several times at start) takes ~100 MB."""
    tracemalloc.start()
    try:
        pool = AddressPool("10.0.0.0/12")
        assert pool.size == 2**20 - 2
        assert [pool.allocate(f"t{n}") for n in range(3)] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        pool.release("t1")
        assert pool.allocate("t4") == "10.0.0.2"
        assert awsvpc_pool_size("10.0.0.0/12") == 2**20 - 2
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert (AddressPool("127.0.2.7/32").size, AddressPool("127.0.2.6/31").size) == (1, 2)
    assert AddressPool("127.0.2.6/31").allocate("t") == "127.0.2.6"
    with pytest.raises(ConfigError, match="IPv4"):
        awsvpc_pool_size("::1/128")


def test_pool_refuses_ipv6_and_bad_cidrs() -> None:
    with pytest.raises(ValueError, match="IPv4"):
        AddressPool("::1/128")
    with pytest.raises(ValueError):
        AddressPool("not-a-cidr")


def test_eni_details_are_stable_and_shaped() -> None:
    details = eni_details("127.0.2.7")
    assert details == eni_details("127.0.2.7")
    assert details["privateIPv4Address"] == "127.0.2.7"
    assert details["networkInterfaceId"].startswith("eni-")
    assert len(details["macAddress"].split(":")) == 6


# --------------------------------------------------------------- server attachment

AWSVPC = {"networkMode": "awsvpc"}
NETWORK = {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}
TASK_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("definition", "config", "fragment"),
    [
        pytest.param(AWSVPC, None, "must be provided", id="awsvpc-without"),
        pytest.param(AWSVPC, {"awsvpcConfiguration": {"subnets": []}}, "subnets", id="no-subnet"),
        pytest.param({"networkMode": "bridge"}, NETWORK, "not valid", id="bridge-with"),
        pytest.param(
            AWSVPC,
            {"awsvpcConfiguration": {"subnets": ["s"], "assignPublicIp": "MAYBE"}},
            "assignPublicIp",
            id="bad-public-ip",
        ),
    ],
)
def test_network_configuration_refused(
    definition: dict[str, Any], config: dict[str, Any] | None, fragment: str
) -> None:
    with pytest.raises(InvalidParameterException, match=fragment):
        awsvpc.check_network_configuration(definition, config)


def test_network_configuration_defaults() -> None:
    kept = awsvpc.check_network_configuration(AWSVPC, NETWORK)
    assert kept == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-1"],
            "securityGroups": [],
            "assignPublicIp": "DISABLED",
        }
    }
    assert awsvpc.check_network_configuration({}, None) is None


def _task() -> dict[str, Any]:
    return {
        "attachments": [awsvpc.precreated_attachment(NETWORK, TASK_ID)],
        "containers": [{"name": "web"}, {"name": "side"}],
    }


def test_attachment_id_leads_back_to_its_task() -> None:
    attachment = awsvpc.precreated_attachment(NETWORK, TASK_ID)
    assert attachment["id"] == "01234567-89ab-cdef-0123-456789abcdef"  # a UUID, as on ECS
    assert awsvpc.attachment_task_id(attachment["id"]) == TASK_ID
    assert awsvpc.attachment_task_id("x") is None


def test_attachment_lifecycle_and_ip_targets() -> None:
    task = _task()
    service = {
        "loadBalancers": [{"targetGroupArn": "tg", "containerName": "web", "containerPort": 80}]
    }
    assert task["attachments"][0]["status"] == "PRECREATED"
    assert awsvpc.ip_targets(service, task) == []  # no address yet
    assert awsvpc.attach(task, eni_details("127.0.2.3"))
    assert not awsvpc.attach(task, eni_details("127.0.2.3"))  # unchanged
    attachment = task["attachments"][0]
    details = {d["name"]: d["value"] for d in attachment["details"]}
    assert attachment["status"] == "ATTACHED"
    assert details["subnetId"] == "subnet-1"
    assert details["privateIPv4Address"] == "127.0.2.3"
    assert task["containers"][1]["networkInterfaces"] == [
        {"attachmentId": attachment["id"], "privateIpv4Address": "127.0.2.3"}
    ]
    assert awsvpc.ip_targets(service, task) == [("tg", {"Id": "127.0.2.3", "Port": 80})]
    assert awsvpc.detach(task) and attachment["status"] == "DELETED"
    assert not awsvpc.attach(task, eni_details("127.0.2.3"))  # never back from DELETED
    assert awsvpc.ip_targets(service, {"containers": []}) is None  # not awsvpc: host ports


def test_awsvpc_tasks_need_the_task_eni_capability() -> None:
    assert awsvpc.implicit_constraints(AWSVPC) == [
        {"type": "memberOf", "expression": "attribute:ecs.capability.task-eni exists"}
    ]
    assert awsvpc.implicit_constraints({"networkMode": "bridge"}) == []


# --------------------------------------------------------------- fargate


def _definition(**fields: Any) -> dict[str, Any]:
    return {
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "web", "image": "web:1"}],
    } | fields


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        pytest.param({"networkMode": "bridge"}, "awsvpc", id="bridge"),
        pytest.param({"cpu": "256", "memory": "4096"}, "No Fargate configuration", id="combo"),
        pytest.param({"cpu": "384"}, "No Fargate configuration", id="odd-cpu"),
    ],
)
def test_fargate_definitions_refused(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ClientException, match=fragment):
        check_task_definition(_definition(**fields))


def test_fargate_needs_task_level_cpu_and_memory() -> None:
    params = _definition()
    del params["cpu"]
    params["containerDefinitions"][0]["memory"] = 128
    with pytest.raises(ClientException, match="'cpu' be defined"):
        check_task_definition(params)


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [("256", "512"), ("1 vCPU", "2 GB"), ("4096", "30720"), ("16384", "122880")],
)
def test_fargate_definitions_accepted(cpu: str, memory: str) -> None:
    check_task_definition(_definition(cpu=cpu, memory=memory))


def test_compatibilities_and_launch_type() -> None:
    assert fargate.compatibilities("awsvpc", 512, 1024) == ["EC2", "EXTERNAL", "FARGATE"]
    assert fargate.compatibilities("bridge", 512, 1024) == ["EC2", "EXTERNAL"]
    fargate.check_launch_type({"compatibilities": ["EC2", "FARGATE"]}, "FARGATE")
    with pytest.raises(InvalidParameterException, match="does not support launch_type"):
        fargate.check_launch_type({"compatibilities": ["EC2"]}, "FARGATE")


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [("256", "cpu", 256), ("1 vCPU", "cpu", 1024), ("2 GB", "memory", 2048),
     ("0.5GiB", "memory", 512), (1024, "cpu", 1024), (None, "memory", 0),
     ("lots", "memory", 0)],
)  # fmt: skip
def test_agent_reads_task_level_amounts(value: object, unit: str, expected: int) -> None:
    from dockyard.agent.task_limits import amount
    from dockyard.wire.amounts import parse_cpu, parse_memory

    assert amount(value, parse_cpu if unit == "cpu" else parse_memory) == expected
