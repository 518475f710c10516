"""Conformance checks every `ContainerRuntime` passes, the fake and Docker alike.

tests/unit/test_runtime_fake.py runs them on `FakeRuntime`, tests/e2e/test_docker_runtime.py
on `DockerRuntime`, so the agent can be tested on the fake and trusted on Docker.
Each check takes a runtime and a `sleeper`: a spec for a container that runs until
stopped, with one dynamic (hostPort 0) tcp port mapping. Checks run their own copies
of it (fresh task ARNs) and remove what they start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

from dockyard.agent.runtime import (
    LABEL_TASK_ARN,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    RuntimeEvent,
)
from dockyard.agent.runtime_ports import DynamicPortPicker

EVENT_WAIT_S = 10.0


def fresh(spec: ContainerSpec, purpose: str) -> ContainerSpec:
    """A copy of `spec` for a new task (new task id in the ARN)."""
    prefix = spec.task_arn.rsplit("/", 1)[0]
    return dataclasses.replace(spec, task_arn=f"{prefix}/{purpose}{uuid.uuid4().hex[:20]}")


async def check_lifecycle(
    runtime: ContainerRuntime, sleeper: ContainerSpec, picker: DynamicPortPicker
) -> None:
    """run -> inspect/list -> stop -> remove, and stop/remove are idempotent."""
    spec = fresh(sleeper, "life")
    state = await runtime.run(spec, picker)
    try:
        assert state.status == "running", state
        assert state.name == spec.docker_name
        assert spec.all_labels().items() <= dict(state.labels).items()
        assert (state.task_arn, state.container_name) == (spec.task_arn, spec.container_name)
        assert len(state.ports) == len(spec.port_mappings)
        for binding in state.ports:
            assert picker.low <= binding.host_port <= picker.high
            assert (binding.protocol, binding.host_port) in picker.in_use
        assert _same(await runtime.inspect(state.id), state)
        assert _same(await runtime.inspect(spec.docker_name), state)
        listed = await runtime.list_containers({LABEL_TASK_ARN: spec.task_arn})
        assert [c.id for c in listed] == [state.id]
        assert await runtime.list_containers({LABEL_TASK_ARN: spec.task_arn + "-other"}) == []

        await runtime.stop(state.id, 5)
        stopped = await runtime.inspect(state.id)
        assert stopped is not None and stopped.status == "exited", stopped
        assert isinstance(stopped.exit_code, int)
        assert stopped.finished_at is not None and stopped.started_at is not None
        assert stopped.finished_at >= stopped.started_at
        await runtime.stop(state.id, 5)  # already stopped: no-op
    finally:
        await runtime.remove(state.id)
        picker.release_bindings(state.ports)
    assert await runtime.inspect(state.id) is None
    await runtime.remove(state.id)  # missing: no-op
    await runtime.stop(state.id, 1)


async def check_events(
    runtime: ContainerRuntime, sleeper: ContainerSpec, picker: DynamicPortPicker
) -> list[RuntimeEvent]:
    """create, start, die (with the exit code inspect reports), destroy, in that order."""
    spec = fresh(sleeper, "evt")
    subscription = runtime.events()
    try:
        state = await runtime.run(spec, picker)
        await runtime.stop(state.id, 5)
        stopped = await runtime.inspect(state.id)
        await runtime.remove(state.id)
        picker.release_bindings(state.ports)
        seen: list[RuntimeEvent] = []
        async with asyncio.timeout(EVENT_WAIT_S):
            async for event in subscription:
                if event.container_id == state.id:
                    seen.append(event)
                    if event.action == "destroy":
                        break
    finally:
        await subscription.aclose()
    actions = [e.action for e in seen if e.action != "health_status"]
    assert actions == ["create", "start", "die", "destroy"], actions
    die = next(e for e in seen if e.action == "die")
    assert stopped is not None and die.exit_code == stopped.exit_code
    assert all(e.labels.get(LABEL_TASK_ARN) == spec.task_arn for e in seen)
    return seen


async def check_rerun_replaces_leftover(
    runtime: ContainerRuntime, sleeper: ContainerSpec, picker: DynamicPortPicker
) -> None:
    """A second `run` of one task container (agent restarted mid-run) replaces the first."""
    spec = fresh(sleeper, "rerun")
    first = await runtime.run(spec, picker)
    second = await runtime.run(spec, picker)
    try:
        assert first.id != second.id
        assert await runtime.inspect(first.id) is None
        listed = await runtime.list_containers({LABEL_TASK_ARN: spec.task_arn})
        assert [c.id for c in listed] == [second.id]
    finally:
        await runtime.remove(second.id)
        picker.release_bindings(first.ports + second.ports)


async def check_port_retry(
    runtime: ContainerRuntime, sleeper: ContainerSpec, held_port: int
) -> ContainerState:
    """The picker hands out `held_port` (held by someone else, e.g. another process) first;
    the start fails on it and `run` retries with the next port instead of failing."""
    picker = DynamicPortPicker((held_port, held_port + 20), probe=False, start=held_port)
    spec = fresh(sleeper, "port")
    state = await runtime.run(spec, picker)
    try:
        assert state.status == "running", state
        assert [b.host_port for b in state.ports] == [held_port + 1]
        assert picker.in_use == {("tcp", held_port + 1)}
    finally:
        await runtime.remove(state.id)
    return state


def _same(found: ContainerState | None, state: ContainerState) -> bool:
    return found is not None and (found.id, found.name, found.status, found.ports) == (
        state.id,
        state.name,
        state.status,
        state.ports,
    )
