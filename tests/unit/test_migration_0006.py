"""Migration 0006: a data dir of the previous version keeps working - the capacity
figures in instance documents move to `instance_capacity`, and the API shows the same."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from dockyard.api.ecs.container_instances import describe_container_instances
from dockyard.context import ApiContext
from dockyard.resources import integer_resource, ports_resource
from dockyard.store import Kind
from dockyard.store.migrate import upgrade
from dockyard.store.sql import open_store, sqlite_url
from dockyard.tasks.memory import memory_of

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/old"
ARN = "arn:aws:ecs:us-east-1:000000000000:container-instance/old/1"


def old_document() -> dict[str, object]:
    registered = [
        integer_resource("CPU", 2048),
        integer_resource("MEMORY", 4096),
        ports_resource("PORTS", [22]),
        ports_resource("PORTS_UDP", []),
    ]
    remaining = [
        integer_resource("CPU", 1792),
        integer_resource("MEMORY", 3584),
        ports_resource("PORTS", [22, 8080, 50001]),
        ports_resource("PORTS_UDP", []),
    ]
    return {
        "containerInstanceArn": ARN,
        "ec2InstanceId": "i-0123",
        "version": 3,
        "status": "ACTIVE",
        "agentConnected": True,
        "runningTasksCount": 1,
        "pendingTasksCount": 0,
        "attributes": [],
        "registeredAt": 1.0,
        "registeredResources": registered,
        "remainingResources": remaining,
        "taskGroups": {"family:web": 1},
        "pendingDynamicPorts": {"tcp": 1, "udp": 0},
    }


def test_old_documents_move_to_the_capacity_table(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    store = open_store(url, migrate=False)
    upgrade(store.engine, "0005")
    with store.transaction() as tx:
        tx.insert(Kind.CLUSTER, CLUSTER, {"clusterArn": CLUSTER, "clusterName": "old",
                                          "status": "ACTIVE"}, name="old", status="ACTIVE")  # fmt: skip
        tx.insert(Kind.CONTAINER_INSTANCE, ARN, old_document(), cluster=CLUSTER,
                  instance_id="i-0123", status="ACTIVE")  # fmt: skip
    upgrade(store.engine)
    with store.transaction() as tx:  # its task: group counts come from the tasks table now
        task = "arn:aws:ecs:us-east-1:000000000000:task/old/t1"
        tx.insert(Kind.TASK, task, {"taskArn": task}, cluster=CLUSTER, instance=ARN,
                  family="web", task_group="family:web", desired_status="RUNNING",
                  last_status="RUNNING", reservation={})  # fmt: skip
    with store.engine.connect() as conn:
        doc = conn.execute(sa.text("select doc from container_instances")).scalar_one()
    assert "remainingResources" not in doc and "taskGroups" not in doc
    out = describe_container_instances(ApiContext(store=store), {"cluster": "old",
                                                                 "containerInstances": [ARN]})  # fmt: skip
    shown = out["containerInstances"][0]
    old = old_document()
    assert shown["remainingResources"] == old["remainingResources"]
    assert (shown["runningTasksCount"], shown["pendingTasksCount"]) == (1, 0)
    assert "taskGroups" not in shown and "pendingDynamicPorts" not in shown
    with store.read() as tx:
        view = memory_of(tx).state(tx, CLUSTER).view(ARN)
    assert view.task_groups == {"family:web": 1} and view.pending_dynamic_tcp == 1
    assert view.used_ports_tcp == {8080, 50001} and view.remaining_memory == 3584
    store.close()
