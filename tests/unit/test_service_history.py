"""Service deployment history: the pure documents and transitions (services/history.py),
and the controller's record keeping on a real SQLite store (controllers/services/history.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.arns import Identity
from dockyard.controllers.services.history import follow
from dockyard.controllers.services.model import DeploymentChange
from dockyard.services import history, history_records
from dockyard.services.documents import new_deployment
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url

IDENTITY = Identity()
CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/stage01"
SERVICE = "arn:aws:ecs:us-east-1:000000000000:service/stage01/web"


def service_doc(breaker: bool = False) -> dict[str, Any]:
    return {
        "serviceArn": SERVICE,
        "serviceName": "web",
        "clusterArn": CLUSTER,
        "launchType": "EC2",
        "desiredCount": 4,
        "loadBalancers": [
            {"targetGroupArn": "arn:tg", "containerName": "web", "containerPort": 80}
        ],
        "deploymentConfiguration": {
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker},
        },
        "deployments": [],
    }


def definition(revision: int) -> dict[str, Any]:
    return {
        "taskDefinitionArn": f"arn:aws:ecs:us-east-1:000000000000:task-definition/web:{revision}",
        "containerDefinitions": [{"name": "web", "image": f"web:{revision}"}],
    }


def deployment_doc(status: str = "IN_PROGRESS", breaker: bool = True) -> dict[str, Any]:
    doc = history.new_service_deployment(
        service_doc(breaker), "arn:sd", "arn:rev2", ["arn:rev1"], threshold=3, now=10.0
    )
    doc["status"] = status
    return doc


# --- pure ----------------------------------------------------------------------------------


def test_arns_and_documents() -> None:
    service = service_doc()
    arn = history.revision_arn(IDENTITY, service, "ecs-svc/1234567890123456789")
    assert arn == (
        "arn:aws:ecs:us-east-1:000000000000:service-revision/stage01/web/1234567890123456789"
    )
    sd = history.new_deployment_arn(IDENTITY, service)
    prefix = "arn:aws:ecs:us-east-1:000000000000:service-deployment/stage01/web/"
    assert sd.startswith(prefix)
    assert len(sd) - len(prefix) == 22
    revision = history.new_revision(service, definition(2), arn, 5.0)
    assert revision["taskDefinition"].endswith("web:2")
    assert revision["containerImages"] == [{"containerName": "web", "image": "web:2"}]
    assert revision["loadBalancers"] == service["loadBalancers"]
    assert "networkConfiguration" not in revision  # absent on the service: not invented
    assert revision["launchType"] == "EC2"
    providers = [{"capacityProvider": "spot", "weight": 1, "base": 0}]
    on_providers = {k: v for k, v in service.items() if k != "launchType"}
    on_providers["capacityProviderStrategy"] = providers  # as CreateService stores it
    revision = history.new_revision(on_providers, definition(2), arn, 5.0)
    assert "launchType" not in revision  # a strategy replaces it, as on the service
    assert revision["capacityProviderStrategy"] == providers
    doc = deployment_doc()
    assert doc["deploymentCircuitBreaker"] == {
        "status": "MONITORING",
        "failureCount": 0,
        "threshold": 3,
    }
    assert doc["alarms"] == {"status": "DISABLED"}
    assert history.brief(doc)["targetServiceRevisionArn"] == "arn:rev2"
    entry = {"id": "ecs-svc/1", history.REVISION_KEY: "r", history.DEPLOYMENT_KEY: "d"}
    assert history.public_deployment(entry) == {"id": "ecs-svc/1"}


@pytest.mark.parametrize(
    ("start", "action", "status", "time_field"),
    [
        pytest.param("IN_PROGRESS", "completed", "SUCCESSFUL", "finishedAt", id="success"),
        pytest.param(
            "ROLLBACK_IN_PROGRESS", "completed", "ROLLBACK_SUCCESSFUL", "finishedAt", id="rb-ok"
        ),
        pytest.param("IN_PROGRESS", "failed", "STOPPED", "stoppedAt", id="breaker-no-rollback"),
        pytest.param(
            "ROLLBACK_IN_PROGRESS", "failed", "ROLLBACK_FAILED", "finishedAt", id="rb-failed"
        ),
        pytest.param("IN_PROGRESS", "stopped", "STOPPED", "stoppedAt", id="abort"),
        pytest.param("SUCCESSFUL", "failed", "SUCCESSFUL", None, id="terminal-stays"),
        pytest.param("STOPPED", "completed", "STOPPED", None, id="stopped-stays"),
    ],
)
def test_transitions(start: str, action: str, status: str, time_field: str | None) -> None:
    doc = deployment_doc(start)
    changed = {
        "completed": lambda: history.completed(doc, 20.0),
        "failed": lambda: history.failed(doc, "breaker", 3, 20.0),
        "stopped": lambda: history.stopped(doc, "aborted", 20.0),
    }[action]()
    assert doc["status"] == status
    assert changed == (time_field is not None)
    if time_field is not None:
        assert doc[time_field] == 20.0
        assert doc["updatedAt"] == 20.0
        assert doc["deploymentCircuitBreaker"]["status"] != "MONITORING"
    if action == "failed" and changed:
        assert doc["deploymentCircuitBreaker"] == {
            "status": "TRIGGERED",
            "failureCount": 3,
            "threshold": 3,
        }
        assert doc["statusReason"] == "breaker"


def test_rollback_started_records_the_revision_once() -> None:
    doc = deployment_doc()
    assert history.rollback_started(doc, "arn:rev1", "why", 30.0, failures=4)
    assert doc["status"] == "ROLLBACK_IN_PROGRESS"
    assert doc["rollback"] == {"reason": "why", "startedAt": 30.0, "serviceRevisionArn": "arn:rev1"}
    assert doc["deploymentCircuitBreaker"]["failureCount"] == 4
    assert not history.rollback_started(doc, "arn:other", "again", 31.0)
    assert doc["rollback"]["serviceRevisionArn"] == "arn:rev1"


ACTIONS = st.sampled_from(["completed", "failed", "stopped", "rollback"])


@given(st.lists(ACTIONS, max_size=6))
def test_terminal_statuses_never_change(actions: list[str]) -> None:
    doc = deployment_doc()
    seen_terminal: str | None = None
    for index, action in enumerate(actions):
        now = 100.0 + index
        if action == "completed":
            history.completed(doc, now)
        elif action == "failed":
            history.failed(doc, "f", 1, now)
        elif action == "stopped":
            history.stopped(doc, "s", now)
        else:
            history.rollback_started(doc, "arn:rev1", "r", now)
        assert doc["status"] in history.STATUSES
        if seen_terminal is not None:
            assert doc["status"] == seen_terminal
        elif doc["status"] not in history.ONGOING:
            seen_terminal = doc["status"]
            assert ("finishedAt" in doc) != ("stoppedAt" in doc)


# --- with the store ------------------------------------------------------------------------


def test_controller_records_breaker_rollback_and_its_success(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    service = service_doc(breaker=True)
    old = new_deployment(definition(1)["taskDefinitionArn"], 4, 1.0, "ecs-svc/111")
    with store.transaction() as tx:
        service["deployments"].insert(0, old)
        history_records.start(tx, IDENTITY, service, old, definition(1), threshold=3, now=1.0)
        follow(
            tx,
            service["deployments"],
            [DeploymentChange(old["id"], rollout_state="COMPLETED")],
            2.0,
        )
        old.update(status="ACTIVE", rolloutState="COMPLETED")  # as UpdateService leaves it
        new = new_deployment(definition(2)["taskDefinitionArn"], 4, 3.0, "ecs-svc/222")
        service["deployments"].insert(0, new)
        history_records.start(tx, IDENTITY, service, new, definition(2), threshold=3, now=3.0)
    first, second = old[history.DEPLOYMENT_KEY], new[history.DEPLOYMENT_KEY]
    with store.read() as tx:
        assert tx.get(Kind.SERVICE_DEPLOYMENT, first)["status"] == "SUCCESSFUL"
        doc = tx.get(Kind.SERVICE_DEPLOYMENT, second)
        assert doc["status"] == "IN_PROGRESS"
        assert doc["sourceServiceRevisions"] == [{"arn": old[history.REVISION_KEY]}]

    # The breaker trips: the new entry is demoted FAILED and a rollback entry created (as
    # loop._apply_deployments leaves them), then that rollback completes.
    new.update(status="ACTIVE", rolloutState="FAILED", failedTasks=3, rolloutStateReason="cb")
    rollback = new_deployment(definition(1)["taskDefinitionArn"], 4, 4.0, "ecs-svc/222-rollback")
    service["deployments"].insert(0, rollback)
    changes = [
        DeploymentChange(new["id"], status="ACTIVE", rollout_state="FAILED", failed_tasks=3),
        DeploymentChange(
            rollback["id"],
            status="PRIMARY",
            new_task_definition=definition(1)["taskDefinitionArn"],
            rollback_of=new["id"],
            rollback_to=old["id"],
        ),
    ]
    with store.transaction() as tx:
        follow(tx, service["deployments"], changes, 4.0)
    assert rollback[history.REVISION_KEY] == old[history.REVISION_KEY]
    assert rollback[history.DEPLOYMENT_KEY] == second
    with store.read() as tx:
        doc = tx.get(Kind.SERVICE_DEPLOYMENT, second)
    assert doc["status"] == "ROLLBACK_IN_PROGRESS"
    assert doc["rollback"]["serviceRevisionArn"] == old[history.REVISION_KEY]
    assert doc["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert doc["deploymentCircuitBreaker"]["failureCount"] == 3

    with store.transaction() as tx:
        follow(
            tx,
            service["deployments"],
            [DeploymentChange(rollback["id"], rollout_state="COMPLETED")],
            5.0,
        )
        assert history_records.rollback_revision(tx, SERVICE, doc) == old[history.REVISION_KEY]
        listed = tx.find(
            Kind.SERVICE_DEPLOYMENT,
            {"service": SERVICE},
            order_by=("created_at", "arn"),
            descending=True,
        )
    assert [d["serviceDeploymentArn"] for d in listed] == [second, first]
    assert [d["status"] for d in listed] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
    assert listed[0]["finishedAt"] == 5.0
    with store.transaction() as tx:
        history_records.forget(tx, SERVICE)
        assert tx.count(Kind.SERVICE_DEPLOYMENT) == tx.count(Kind.SERVICE_REVISION) == 0
    store.close()


def test_entries_without_history_are_left_alone(tmp_path: Path) -> None:
    """Deployments recorded before the history existed carry no keys: no row, no error."""
    store = open_store(sqlite_url(tmp_path))
    legacy = new_deployment("arn:td:1", 1, 1.0, "ecs-svc/9")
    with store.transaction() as tx:
        follow(tx, [legacy], [DeploymentChange(legacy["id"], rollout_state="COMPLETED")], 2.0)
        assert tx.count(Kind.SERVICE_DEPLOYMENT) == 0
    store.close()
