"""The agent's task metadata endpoint (v4 and v3), as the ECS agent serves it.

Every container the agent starts gets ECS_CONTAINER_METADATA_URI_V4 and
ECS_CONTAINER_METADATA_URI = http://<bridge gateway>:<port>/v{4,3}/<token>:

- address: containers on Docker's default bridge reach the host at the bridge's
  gateway (docker0, e.g. 172.17.0.1), read once at start from `docker network
  inspect bridge`; the server binds there only (not on every interface). ECS uses
  169.254.170.2:80 through an iptables DNAT it installs as root; Dockyard does not
  rewrite the host's firewall.
- port: `--metadata-port` (ECS_... has no equivalent), else a free ephemeral port,
  kept in `<data-dir>/metadata-endpoint.json` and reused after an agent restart so the
  URIs adopted containers hold keep working; several agents on one machine (simulated
  hosts) each get their own port.
- token: HMAC(agent secret, task ARN + container name), the secret in the same file
  (mode 0600). A container reads its own task only: an unknown token answers 404 and
  a token never names another task.

Shapes are pure (agent/metadata_shapes.py); this module reads the task workers' state
(public attributes of `TaskWorker`, through `task_facts`) and Docker (inspect, one-shot
stats on its own small thread pool: the event loop never blocks). The fake runtime
(simulated hosts) has no containers to serve: no endpoint there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.agent import metadata_shapes as shapes
from dockyard.agent.metrics import service_of
from dockyard.agent.runtime import container_docker_name

if TYPE_CHECKING:
    from dockyard.agent.manager import TaskManager
    from dockyard.agent.task_worker import TaskWorker

log = logging.getLogger("dockyard.agent.metadata")
STATE_FILE = "metadata-endpoint.json"
DOCKER_CALL_TIMEOUT_S = 10.0  # inspect ~2 ms, one-shot stats ~40 ms: a wedged engine only
MAX_PREVIOUS_STATS = 4096  # previous one-shot samples kept (precpu_stats), per container


class DockerFacts:
    """Raw inspect and one-shot stats from Docker, on a few threads of its own (stats
    calls must not queue behind the runtime's `stop -t 30` calls, nor block the loop)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self._executor = ThreadPoolExecutor(4, thread_name_prefix="metadata-docker")
        self._previous: OrderedDict[str, dict[str, Any]] = OrderedDict()

    @classmethod
    def from_env(cls) -> DockerFacts:
        import docker

        return cls(docker.from_env(timeout=int(DOCKER_CALL_TIMEOUT_S) + 5).api)

    async def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(fn, *args, **kw))
        return await asyncio.wait_for(future, DOCKER_CALL_TIMEOUT_S)

    async def bridge_network(self) -> dict[str, Any]:
        return dict(await self._call(self.api.inspect_network, "bridge"))

    async def inspect(self, container_id: str) -> dict[str, Any] | None:
        try:
            return dict(await self._call(self.api.inspect_container, container_id))
        except Exception as exc:  # gone, or the engine is unwell: answer without it
            log.debug("inspect %s for metadata: %s", container_id, exc)
            return None

    async def stats(self, container_id: str) -> dict[str, Any] | None:
        try:
            sample = await self._call(self.api.stats, container_id, stream=False, one_shot=True)
        except Exception as exc:
            log.debug("stats %s for metadata: %s", container_id, exc)
            return None
        out = shapes.with_previous(sample, self._previous.get(container_id))
        self._previous[container_id] = sample
        self._previous.move_to_end(container_id)
        while len(self._previous) > MAX_PREVIOUS_STATS:
            self._previous.popitem(last=False)
        return out

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.api.close()


def task_facts(
    worker: TaskWorker,
    desired: Mapping[str, Any] | None,
    inspected: Mapping[str, Mapping[str, Any] | None],
    *,
    cluster_arn: str,
    availability_zone: str | None,
) -> shapes.TaskFacts:
    """A snapshot of one task for the shapes: the worker's state, the task definition,
    the desired entry (container ARNs, group, task overrides) and Docker's inspect."""
    desired = desired or {}
    definition = worker.definition
    by_name = {c["name"]: c for c in definition.get("containerDefinitions", [])}
    arns = {c.get("name"): c.get("containerArn") for c in desired.get("containers") or ()}
    facts = []
    for record in worker.containers.values():
        spec = by_name.get(record.name, {})
        override = worker.overrides.get(record.name, {})
        data = inspected.get(record.runtime_id or "") or {}
        state = data.get("State") or {}
        logging_config = spec.get("logConfiguration") or {}
        docker_log = (data.get("HostConfig") or {}).get("LogConfig") or {}
        networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
        mode = (data.get("HostConfig") or {}).get("NetworkMode") or "bridge"
        network_mode = "bridge" if mode == "default" else str(mode)
        addresses = tuple(
            str(n["IPAddress"]) for n in networks.values() if n and n.get("IPAddress")
        )
        if worker.address:  # awsvpc (Docker's mode is "container:<network owner>")
            network_mode, addresses = "awsvpc", (worker.address,)
        facts.append(
            shapes.ContainerFacts(
                name=record.name,
                docker_name=str(data.get("Name") or "").lstrip("/")
                or container_docker_name(worker.arn, record.name),
                image=str(spec.get("image", "")),
                desired_status=worker.desired,
                known_status=record.status,
                cpu=int(override.get("cpu", spec.get("cpu", 0)) or 0),
                memory=int(override.get("memory", spec.get("memory", 0)) or 0),
                docker_id=record.runtime_id or "",
                image_id=str(data.get("Image", "")),
                labels=dict((data.get("Config") or {}).get("Labels") or {}),
                exit_code=record.exit_code,
                created_at=shapes.docker_time(data.get("Created")),
                started_at=shapes.docker_time(state.get("StartedAt")),
                finished_at=shapes.docker_time(state.get("FinishedAt"))
                if record.status == "STOPPED"
                else None,
                container_arn=arns.get(record.name),
                log_driver=logging_config.get("logDriver") or docker_log.get("Type"),
                log_options=dict(
                    (
                        logging_config.get("options")
                        if logging_config.get("logDriver")
                        else docker_log.get("Config")
                    )
                    or {}
                ),
                network_mode=network_mode,
                ipv4_addresses=addresses,
                ports=tuple(
                    shapes.PortFacts(
                        int(b["containerPort"]),
                        str(b.get("protocol", "tcp")),
                        int(b["hostPort"]),
                        str(b.get("bindIP", "")),
                    )
                    for b in record.bindings
                ),
                health_status=record.health if record.has_health_check else None,
            )
        )
    overrides = desired.get("overrides") or {}
    return shapes.TaskFacts(
        cluster=cluster_arn,
        task_arn=worker.arn,
        family=str(definition.get("family", "")),
        revision=str(definition.get("revision", "")),
        desired_status=worker.desired,
        known_status=worker.status.name,
        containers=tuple(facts),
        cpu=overrides.get("cpu") or definition.get("cpu"),
        memory=overrides.get("memory") or definition.get("memory"),
        pull_started_at=worker.timestamps.get("pullStartedAt"),
        pull_stopped_at=worker.timestamps.get("pullStoppedAt"),
        execution_stopped_at=worker.stopped_at,
        availability_zone=availability_zone,
        service_name=service_of(desired.get("group")),
    )


class MetadataServer:
    """Serves ${URI}, /task, /stats and /task/stats for the manager's tasks."""

    def __init__(
        self,
        manager: TaskManager,
        docker: DockerFacts,
        secret: bytes,
        *,
        cluster_arn: str,
        availability_zone: str | None = None,
    ) -> None:
        self.manager = manager
        self.docker = docker
        self.secret = secret
        self.cluster_arn = cluster_arn
        self.availability_zone = availability_zone
        self.base_url = ""
        self._tokens: dict[str, tuple[str, str]] = {}  # token -> (task ARN, container name)
        self._prune_at = 1024
        self._runner: web.AppRunner | None = None

    # -- what containers get -------------------------------------------------------------
    def env_for(self, task_arn: str, container_name: str) -> dict[str, str]:
        """The URI variables for one container (the task worker adds them to its env)."""
        token = shapes.container_token(self.secret, task_arn, container_name)
        self._tokens[token] = (task_arn, container_name)
        if len(self._tokens) > self._prune_at:  # tokens of gone tasks: amortised O(1)
            self._drop_gone_tasks()
        return shapes.metadata_env(self.base_url, token)

    def resolve(self, token: str) -> tuple[str, str] | None:
        """(task ARN, container name) of a token; tasks adopted after a restart are
        indexed on a miss (only those not indexed yet), tokens of gone tasks dropped."""
        found = self._tokens.get(token)
        if found is not None and found[0] in self.manager.workers:
            return found
        workers = self.manager.workers
        known = {arn for arn, _ in self._tokens.values()}
        for arn, worker in workers.items():
            if arn not in known:
                for name in worker.containers:
                    self._tokens[shapes.container_token(self.secret, arn, name)] = (arn, name)
        self._drop_gone_tasks()
        return self._tokens.get(token)

    def _drop_gone_tasks(self) -> None:
        workers = self.manager.workers
        self._tokens = {t: v for t, v in self._tokens.items() if v[0] in workers}
        self._prune_at = 2 * len(self._tokens) + 1024

    # -- HTTP ----------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Bind `host:port` (0: a free port); returns the port."""
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = int(runner.addresses[0][1])
        self.base_url = f"http://{host}:{bound}"
        return bound

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.docker.close()

    async def _handle(self, request: web.Request) -> web.Response:
        route = shapes.parse_path(request.path)
        found = self.resolve(route[1]) if route is not None else None
        worker = self.manager.workers.get(found[0]) if found is not None else None
        if route is None or found is None or worker is None:
            return web.json_response({"error": "not found"}, status=404)
        version, _, resource = route
        own = _id_of(worker, found[1])
        if resource == "stats":
            return _json(await self.docker.stats(own) if own else None)
        ids = [r.runtime_id for r in worker.containers.values() if r.runtime_id]
        if resource == "task_stats":
            samples = await asyncio.gather(*(self.docker.stats(i) for i in ids))
            by_id = dict(zip(ids, samples, strict=True))
            return _json(shapes.task_stats_json(self._facts(worker, {}).containers, by_id))
        wanted = ids if resource == "task" else [own] if own else []
        inspected = await asyncio.gather(*(self.docker.inspect(i) for i in wanted))
        facts = self._facts(worker, dict(zip(wanted, inspected, strict=True)))
        if resource == "task":
            return _json(shapes.task_json(facts, version))
        container = next(c for c in facts.containers if c.name == found[1])
        return _json(shapes.container_json(facts, container, version))

    def _facts(
        self, worker: TaskWorker, inspected: Mapping[str, Mapping[str, Any] | None]
    ) -> shapes.TaskFacts:
        return task_facts(
            worker,
            self.manager.desired.get(worker.arn),
            inspected,
            cluster_arn=self.cluster_arn,
            availability_zone=self.availability_zone,
        )


def _id_of(worker: TaskWorker, name: str) -> str | None:
    record = worker.containers.get(name)
    return record.runtime_id if record is not None else None


def _json(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type="application/json")


def load_secret_and_port(data_dir: Path) -> tuple[bytes, int]:
    """The agent's token secret (created once) and the port it served on last time."""
    path = data_dir / STATE_FILE
    try:
        saved = json.loads(path.read_text())
        return bytes.fromhex(saved["secret"]), int(saved.get("port") or 0)
    except (OSError, ValueError, KeyError, TypeError):
        return secrets.token_bytes(32), 0


def save_secret_and_port(data_dir: Path, secret: bytes, port: int) -> None:
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({"secret": secret.hex(), "port": port}))
    tmp.replace(path)


async def start_metadata_server(
    manager: TaskManager,
    data_dir: Path,
    *,
    cluster_arn: str,
    port: int = 0,
    availability_zone: str | None = None,
    docker: DockerFacts | None = None,
) -> MetadataServer | None:
    """Start the endpoint on the bridge gateway; None (logged) when Docker has no bridge.

    `port` 0 reuses the previous run's port when free, else takes a free one; an
    explicit port that cannot be bound is an error (the operator asked for it)."""
    if docker is None:
        docker = await asyncio.to_thread(DockerFacts.from_env)
    try:
        host = shapes.bridge_gateway(await docker.bridge_network())
    except Exception as exc:
        log.warning("no Docker bridge network (%s): no task metadata endpoint", exc)
        host = None
    if host is None:
        docker.close()
        return None
    secret, previous = await asyncio.to_thread(load_secret_and_port, data_dir)
    server = MetadataServer(
        manager, docker, secret, cluster_arn=cluster_arn, availability_zone=availability_zone
    )
    try:
        bound = await server.start(host, port or previous)
    except OSError:
        if port or not previous:
            docker.close()
            raise
        log.warning("metadata port %d is taken; adopted containers lose their URIs", previous)
        bound = await server.start(host, 0)
    await asyncio.to_thread(save_secret_and_port, data_dir, secret, bound)
    log.info("task metadata endpoint on %s", server.base_url)
    return server
