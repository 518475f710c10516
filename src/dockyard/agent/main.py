"""`dockyard agent`: register this host, then keep its containers converged.

    register (RegisterContainerInstance; the ARN is kept in --data-dir so a
    restart re-registers the same instance) -> discover containers on the
    engine -> follow engine events -> hold the websocket to the server.

Stopping the agent (SIGTERM/SIGINT) leaves the containers running, as the ECS
agent does: a restarted agent adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.agent import logs_shipper
from dockyard.agent.awsvpc import AddressPool
from dockyard.agent.channel import Channel, signed_headers
from dockyard.agent.config import AgentConfig
from dockyard.agent.manager import TaskManager
from dockyard.agent.metadata import MetadataServer, start_metadata_server
from dockyard.agent.metrics import (
    DEFAULT_INTERVAL_S,
    CgroupReader,
    MetricsSampler,
    SyntheticReader,
    UsageReader,
)
from dockyard.agent.runtime import ContainerRuntime
from dockyard.agent.runtime_ports import DynamicPortPicker
from dockyard.agent.task_worker import WorkerContext
from dockyard.agent.update import Updater
from dockyard.arns import new_ec2_instance_id, parse_arn
from dockyard.wire.package import installed_version

log = logging.getLogger("dockyard.agent")
STATE_FILE = "agent-state.json"


def _client(config: AgentConfig) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=config.endpoint,
        region_name=config.region,
        aws_access_key_id=config.access_key_id or "dockyard-agent",
        aws_secret_access_key=config.secret_access_key or "dockyard-agent",
        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=30),
    )


def _resources(config: AgentConfig) -> list[dict[str, Any]]:
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": config.cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": config.memory},
        {
            "name": "PORTS",
            "type": "STRINGSET",
            "stringSetValue": [str(p) for p in config.reserved_ports],
        },
        {
            "name": "PORTS_UDP",
            "type": "STRINGSET",
            "stringSetValue": [str(p) for p in config.reserved_ports_udp],
        },
    ]


def register(config: AgentConfig, docker_version: str) -> dict[str, Any]:
    """RegisterContainerInstance, re-using the ARN and instance id this agent had."""
    path = config.data_dir / STATE_FILE
    state = json.loads(path.read_text()) if path.exists() else {}
    instance_id = state.get("ec2InstanceId") or new_ec2_instance_id()
    ecs = _client(config)
    agent_version, agent_hash = installed_version()  # wire/package.py: 0.1.0+<hash>
    params: dict[str, Any] = {
        "cluster": config.cluster,
        "totalResources": _resources(config),
        "attributes": config.agent_attributes(),
        "versionInfo": {
            "agentVersion": agent_version,
            "agentHash": agent_hash,
            "dockerVersion": docker_version,
        },
        "instanceIdentityDocument": json.dumps({"instanceId": instance_id}),
    }
    if state.get("containerInstanceArn"):
        params["containerInstanceArn"] = state["containerInstanceArn"]
    try:
        instance = ecs.register_container_instance(**params)["containerInstance"]
    except ClientError as error:
        if (
            "containerInstanceArn" not in params
            or error.response["Error"]["Code"] != "ClientException"
        ):
            raise
        log.warning(
            "the server does not know %s; registering anew", params.pop("containerInstanceArn")
        )
        instance = ecs.register_container_instance(**params)["containerInstance"]
    state = {
        "containerInstanceArn": instance["containerInstanceArn"],
        "ec2InstanceId": instance["ec2InstanceId"],
        "cluster": config.cluster,
    }
    config.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)
    return dict(instance)


async def register_until_done(config: AgentConfig, docker_version: str) -> dict[str, Any]:
    delay = 0.2
    while True:
        try:
            return await asyncio.to_thread(register, config, docker_version)
        except (BotoCoreError, ClientError, OSError) as error:
            if isinstance(error, ClientError) and error.response["Error"]["Code"] in {
                "ClusterNotFoundException",
                "InvalidParameterException",
                "UnrecognizedClientException",
                "InvalidSignatureException",
            }:
                raise
            log.warning("cannot register yet (%s); retrying", error)
            config.rotate_endpoint()  # several servers: try the next one
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _runtime(config: AgentConfig) -> tuple[ContainerRuntime, str]:
    if config.fake_runtime:
        from dockyard.agent.runtime_fake import FakeRuntime

        return FakeRuntime(), "fake"
    from dockyard.agent.runtime_docker import DockerRuntime

    runtime = await DockerRuntime.connect()
    version = await asyncio.to_thread(lambda: runtime.client.version().get("Version", "unknown"))
    if config.awsvpc_pool:  # awsvpc tasks' network owner (agent/netns.py), built here
        from dockyard.agent.pause_image import prepare_pause_image

        await prepare_pause_image(runtime.client)
    return runtime, f"DockerVersion: {version}"


def metrics_sampler(config: AgentConfig, manager: TaskManager, cluster: str) -> MetricsSampler:
    """cgroup files for Docker; synthetic usage for the fake runtime. Environment:
    DOCKYARD_METRICS_INTERVAL (s, default 10), and for --fake-runtime
    DOCKYARD_FAKE_CPU_CORES (default 0.25) and DOCKYARD_FAKE_MEMORY_MIB (default 64)."""
    reader: UsageReader
    if config.fake_runtime:
        reader = SyntheticReader(
            float(os.environ.get("DOCKYARD_FAKE_CPU_CORES", "0.25")),
            float(os.environ.get("DOCKYARD_FAKE_MEMORY_MIB", "64")),
        )
    else:
        reader = CgroupReader()
    return MetricsSampler(
        reader,
        manager.running_tasks,
        cluster,
        instance_cpu=config.cpu,
        instance_memory=config.memory,
        interval_s=float(os.environ.get("DOCKYARD_METRICS_INTERVAL", DEFAULT_INTERVAL_S)),
    )


def cluster_arn_of(instance_arn: str, cluster: str) -> str:
    """The cluster ARN: from a long instance ARN (container-instance/C/ID); a short one
    (containerInstanceLongArnFormat disabled) names no cluster: `cluster` (the agent's
    ECS_CLUSTER, a name or an ARN) does."""
    arn = parse_arn(instance_arn)
    assert arn is not None
    if "/" in arn.resource_path:
        cluster = arn.resource_path.split("/", 1)[0]
    elif parse_arn(cluster) is not None:
        return cluster
    return f"arn:{arn.partition}:ecs:{arn.region}:{arn.account}:cluster/{cluster}"


async def run_agent(config: AgentConfig, ready_file: Path | None = None) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    runtime, docker_version = await _runtime(config)
    instance = await register_until_done(config, docker_version)
    instance_arn = instance["containerInstanceArn"]
    log.info("registered %s (%s) in %s", instance_arn, instance["ec2InstanceId"], config.cluster)
    picker = DynamicPortPicker(config.dynamic_port_range, probe=not config.fake_runtime)
    ctx = WorkerContext(
        runtime=runtime,
        picker=picker,
        host_ip=config.host_ip,
        cluster_arn=cluster_arn_of(instance_arn, config.cluster),
        instance_arn=instance_arn,
        default_stop_timeout_s=config.stop_timeout_s,
        report=lambda _report: None,
        awsvpc=AddressPool(config.awsvpc_pool) if config.awsvpc_pool else None,
    )
    manager = TaskManager(ctx, config.cleanup_wait_s)
    metadata: MetadataServer | None = None
    if not config.fake_runtime:  # ECS_CONTAINER_METADATA_URI_V4 for every container
        metadata = await start_metadata_server(
            manager,
            config.data_dir,
            cluster_arn=ctx.cluster_arn,
            port=config.metadata_port,
            availability_zone=config.availability_zone,
        )
        ctx.metadata_env = metadata.env_for if metadata is not None else None
    events = runtime.events()
    await manager.discover()
    credentials = (
        (config.access_key_id, config.secret_access_key)
        if config.access_key_id and config.secret_access_key
        else None
    )
    channel = Channel(
        config.endpoint,
        ctx.cluster_arn,
        instance_arn,
        manager,
        credentials=credentials,
        region=config.region,
        rotate=config.rotate_endpoint,
    )
    ctx.logs = logs_shipper.attach(runtime, channel, config.data_dir)  # awslogs output

    sampler = metrics_sampler(config, manager, ctx.cluster_arn.rsplit("/", 1)[-1])

    async def follow_events() -> None:
        async for event in events:
            manager.on_event(event)

    stop = asyncio.Event()
    updater = Updater(  # UpdateContainerAgent: install the server's package, then re-exec
        lambda: config.endpoint,  # the server in use when the update comes
        config.data_dir,
        channel.send_now,
        stop.set,
        headers=(lambda url: signed_headers(url, *credentials, config.region))
        if credentials
        else None,
    )
    channel.on_update = updater.start
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(follow_events()),
        asyncio.create_task(channel.run()),
        asyncio.create_task(sampler.run(channel.send_metrics)),
    ]
    try:
        waiter = asyncio.create_task(stop.wait())
        if ready_file is not None:  # ready = registered and connected: tasks may land here
            connected = asyncio.create_task(channel.connected.wait())
            await asyncio.wait([connected, waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            if connected.done():
                await asyncio.to_thread(ready_file.write_text, instance_arn)
            else:
                connected.cancel()  # stopped, or a task ended first (raised below)
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception():
                raise task.exception()  # type: ignore[misc]
    finally:
        log.info("agent stopping; containers keep running")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await manager.close()
        if metadata is not None:
            await metadata.close()
        if ctx.logs is not None:
            await ctx.logs.close()
        await events.aclose()
        await runtime.close()
    if updater.restart_with is not None:
        updater.exec_new_version()  # same argv, new code; containers were left running
