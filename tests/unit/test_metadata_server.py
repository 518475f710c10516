"""The agent's metadata endpoint in process: tokens, routes and the env the workers inject.

Real TaskManager and workers on the fake runtime; Docker's inspect and stats come from a
stand-in; HTTP goes over loopback with aiohttp's client.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dockyard.agent import metadata_shapes as shapes
from dockyard.agent.manager import TaskManager
from dockyard.agent.metadata import (
    MetadataServer,
    load_secret_and_port,
    save_secret_and_port,
    start_metadata_server,
)
from dockyard.agent.runtime import ContainerSpec, ContainerState, HostPortPicker
from dockyard.agent.runtime_ports import DynamicPortPicker
from dockyard.agent.task_worker import WorkerContext
from dockyard.testing.fake_runtime import FakeRuntime
from dockyard.wire.agent import DesiredTask

INSTANCE = "arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc"
CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/c"


class RecordingRuntime(FakeRuntime):
    """Keeps every spec it ran (the environment is what the test looks at)."""

    def __init__(self) -> None:
        super().__init__()
        self.specs: dict[str, ContainerSpec] = {}

    async def run(self, spec: ContainerSpec, dynamic_port_picker: HostPortPicker) -> ContainerState:
        state = await super().run(spec, dynamic_port_picker)
        self.specs[state.id] = spec
        return state


class FakeDocker:
    """Stands in for `DockerFacts`: inspect and stats from dicts, calls counted."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def bridge_network(self) -> dict[str, Any]:
        return {"IPAM": {"Config": [{"Subnet": "127.0.0.0/8"}]}}  # gateway 127.0.0.1

    async def inspect(self, container_id: str) -> dict[str, Any] | None:
        self.calls.append(("inspect", container_id))
        return {
            "Id": container_id,
            "Image": "sha256:" + "1" * 64,
            "Created": "2024-05-01T10:00:00.1Z",
            "State": {"StartedAt": "2024-05-01T10:00:01.2Z"},
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.9"}}},
            "HostConfig": {"NetworkMode": "bridge", "LogConfig": {"Type": "json-file"}},
        }

    async def stats(self, container_id: str) -> dict[str, Any] | None:
        self.calls.append(("stats", container_id))
        return {"id": container_id, "cpu_stats": {}, "memory_stats": {"usage": 1}}

    def close(self) -> None:
        pass


def desired(task_id: str) -> DesiredTask:
    arn = f"arn:aws:ecs:us-east-1:000000000000:task/c/{task_id}"
    return {
        "taskArn": arn,
        "desiredStatus": "RUNNING",
        "lastStatus": "PROVISIONING",
        "taskDefinition": {
            "family": "web",
            "revision": 7,
            "memory": "256",
            "containerDefinitions": [
                {"name": "web", "image": "web:1", "memory": 64, "cpu": 32,
                 "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                 "environment": [{"name": "ECS_CONTAINER_METADATA_URI_V4", "value": "spoof"}]},
                {"name": "side", "image": "web:1", "memory": 16, "essential": False},
            ],
        },
        "overrides": {},
        "containers": [{"name": "web", "containerArn": f"{arn}/web-arn"}],
        "group": "service:front",
    }  # fmt: skip


class Agent:
    def __init__(self, data_dir: Path) -> None:
        self.runtime = RecordingRuntime()
        self.docker = FakeDocker()
        self.ctx = WorkerContext(
            runtime=self.runtime,
            picker=DynamicPortPicker((50000, 50010), probe=False),
            host_ip="127.0.1.1",
            cluster_arn=CLUSTER,
            instance_arn=INSTANCE,
            default_stop_timeout_s=1.0,
            report=lambda _r: None,
        )
        self.manager = TaskManager(self.ctx, cleanup_wait_s=60)
        self.data_dir = data_dir
        self.server: MetadataServer | None = None

    async def start(self) -> MetadataServer:
        server = await start_metadata_server(
            self.manager, self.data_dir, cluster_arn=CLUSTER, docker=self.docker,  # type: ignore[arg-type]
            availability_zone="az-1",
        )  # fmt: skip
        assert server is not None
        self.ctx.metadata_env = server.env_for
        self.server = server
        return server

    async def running(self, task_id: str) -> dict[str, str]:
        """Run a task; the env its `web` container got."""
        self.manager.apply_desired([desired(task_id)])
        arn = desired(task_id)["taskArn"]
        for _ in range(200):
            worker = self.manager.workers.get(arn)
            if worker is not None and worker.status.name == "RUNNING":
                record = worker.containers["web"]
                assert record.runtime_id
                return dict(self.runtime.specs[record.runtime_id].environment)
            await asyncio.sleep(0.01)
        raise AssertionError("task did not run")

    async def close(self) -> None:
        await self.manager.close()
        if self.server is not None:
            await self.server.close()
        await self.runtime.close()


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        return answer.status, await answer.json(content_type=None)


async def test_routes_answer_the_containers_own_task(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    server = await agent.start()
    try:
        env = await agent.running("t1")
        uri = env["ECS_CONTAINER_METADATA_URI_V4"]
        assert uri.startswith(f"{server.base_url}/v4/") and uri != "spoof"
        assert env["ECS_CONTAINER_METADATA_URI"] == uri.replace("/v4/", "/v3/")
        status, task = await get(uri + "/task")
        assert status == 200
        assert task["TaskARN"].endswith("/t1") and task["Family"] == "web"
        assert task["Revision"] == "7" and task["LaunchType"] == "EC2"
        assert task["ServiceName"] == "front" and task["AvailabilityZone"] == "az-1"
        assert task["Limits"] == {"Memory": 256} and task["KnownStatus"] == "RUNNING"
        web = next(c for c in task["Containers"] if c["Name"] == "web")
        assert web["Ports"][0]["ContainerPort"] == 8080 and web["Ports"][0]["HostPort"] >= 50000
        assert web["ContainerARN"].endswith("/web-arn") and web["Limits"] == {
            "CPU": 32,
            "Memory": 64,
        }
        assert web["Networks"] == [{"NetworkMode": "bridge", "IPv4Addresses": ["172.17.0.9"]}]
        status, container = await get(uri)
        assert status == 200 and container["Name"] == "web" and "Containers" not in container
        status, v3 = await get(env["ECS_CONTAINER_METADATA_URI"] + "/task")
        assert status == 200 and "LaunchType" not in v3 and v3["TaskARN"] == task["TaskARN"]
        status, stats = await get(uri + "/stats")
        assert status == 200 and stats["id"] == web["DockerId"] and "memory_stats" in stats
        status, task_stats = await get(uri + "/task/stats")
        assert status == 200 and set(task_stats) == {c["DockerId"] for c in task["Containers"]}
    finally:
        await agent.close()


@pytest.mark.parametrize("suffix", ["", "/task", "/stats", "/task/stats"])
async def test_wrong_token_answers_404_and_never_asks_docker(tmp_path: Path, suffix: str) -> None:
    agent = Agent(tmp_path)
    server = await agent.start()
    try:
        await agent.running("t1")
        token = shapes.container_token(b"not the agent's secret", desired("t1")["taskArn"], "web")
        for url in (f"{server.base_url}/v4/{token}{suffix}", f"{server.base_url}/v4{suffix}",
                    f"{server.base_url}/"):  # fmt: skip
            status, body = await get(url)
            assert status == 404 and body == {"error": "not found"}
        assert agent.docker.calls == []
    finally:
        await agent.close()


async def test_a_token_reads_only_its_own_task(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    await agent.start()
    try:
        one = await agent.running("t1")
        two = await agent.running("t2")
        _, first = await get(one["ECS_CONTAINER_METADATA_URI_V4"] + "/task")
        _, second = await get(two["ECS_CONTAINER_METADATA_URI_V4"] + "/task")
        assert first["TaskARN"].endswith("/t1") and second["TaskARN"].endswith("/t2")
        assert not {c["DockerId"] for c in first["Containers"]} & {
            c["DockerId"] for c in second["Containers"]
        }
    finally:
        await agent.close()


async def test_a_restarted_agent_serves_the_uris_its_adopted_containers_hold(
    tmp_path: Path,
) -> None:
    agent = Agent(tmp_path)
    server = await agent.start()
    env = await agent.running("t1")
    port = int(server.base_url.rsplit(":", 1)[1])
    await agent.server.close()  # type: ignore[union-attr]
    agent.server = None
    try:
        # The new process: same data dir (secret, port), no env_for call for t1 (adopted).
        restarted = MetadataServer(agent.manager, agent.docker, load_secret_and_port(tmp_path)[0],  # type: ignore[arg-type]
                                   cluster_arn=CLUSTER)  # fmt: skip
        assert load_secret_and_port(tmp_path)[1] == port
        await restarted.start("127.0.0.1", port)
        agent.server = restarted
        status, task = await get(env["ECS_CONTAINER_METADATA_URI_V4"] + "/task")
        assert status == 200 and task["TaskARN"].endswith("/t1")
    finally:
        await agent.close()


def test_secret_file_is_private_and_round_trips(tmp_path: Path) -> None:
    secret, port = load_secret_and_port(tmp_path)
    assert len(secret) == 32 and port == 0
    save_secret_and_port(tmp_path, secret, 41234)
    assert load_secret_and_port(tmp_path) == (secret, 41234)
    assert (tmp_path / "metadata-endpoint.json").stat().st_mode & 0o077 == 0


async def test_tokens_of_gone_tasks_do_not_accumulate(tmp_path: Path) -> None:
    agent = Agent(tmp_path)
    server = await agent.start()
    try:
        env = await agent.running("t1")
        for number in range(5000):  # tasks that came and went (no worker any more)
            server.env_for(f"arn:aws:ecs:us-east-1:000000000000:task/c/gone{number}", "web")
        assert len(server._tokens) <= 1024 + 2 * 2 + 1  # pruned when over 2 x live + 1024
        status, _ = await get(env["ECS_CONTAINER_METADATA_URI_V4"] + "/task")
        assert status == 200
    finally:
        await agent.close()
