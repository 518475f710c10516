"""DesiredSets (api/agent_desired.py) takes task documents a writer hands over without
reading them back, and never pushes a handed-over document the agent has since
reported STOPPED (it re-reads the store then)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dockyard.api.agent_desired import DesiredSets
from dockyard.store.sql import open_store, sqlite_url

INSTANCE = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc"
TASK = "arn:aws:ecs:us-east-1:000000000000:task/c/t1"


def task_doc() -> dict[str, Any]:
    return {
        "taskArn": TASK,
        "containerInstanceArn": INSTANCE,
        "desiredStatus": "RUNNING",
        "lastStatus": "PROVISIONING",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        "containers": [{"name": "app", "containerArn": f"{TASK}/app"}],
    }


def test_a_handed_over_document_reaches_the_agent_without_a_store_read(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))  # holds no task: a read would find nothing
    woken: list[str] = []
    sets = DesiredSets(store, woken.append)
    sets.view(INSTANCE)
    sets.changed({INSTANCE}, [TASK], {TASK: task_doc()})  # outside a loop: flushed now
    assert woken == [INSTANCE]
    message = sets.message_for(INSTANCE, 1.0)
    assert message is not None
    assert [t["taskArn"] for t in message.get("tasks", [])] == [TASK]
    store.close()


def test_named_without_a_document_is_read_from_the_store(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    woken: list[str] = []
    sets = DesiredSets(store, woken.append)
    sets.view(INSTANCE)
    sets.changed({INSTANCE}, [TASK])  # the store has no such task: nothing to push
    assert woken == []
    store.close()


async def test_a_document_reported_stopped_before_the_flush_is_not_pushed(
    tmp_path: Path,
) -> None:
    store = open_store(sqlite_url(tmp_path))
    woken: list[str] = []
    sets = DesiredSets(store, woken.append)
    sets.view(INSTANCE)
    sets.changed({INSTANCE}, [TASK], {TASK: task_doc()})  # flush at the end of this turn
    sets.reported_stopped(INSTANCE, [TASK])  # the agent's STOPPED came first
    await asyncio.sleep(0)
    assert woken == []  # re-read from the store (gone), not pushed as live
    store.close()
