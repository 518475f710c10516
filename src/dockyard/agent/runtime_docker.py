"""`DockerRuntime`: the `ContainerRuntime` protocol on the Docker Engine API.

The docker SDK blocks, so every call runs on this runtime's own worker threads (see
`runtime_timeouts.DOCKER_CALL_WORKERS` for why not the loop's default executor) under
a deadline from `runtime_timeouts`. Long-lived streams get their own threads: ONE
`/events` stream per runtime (filtered by Docker to containers carrying
`com.dockyard.task-arn`, reconnected with replay when dockerd restarts) fanned out by
`runtime_events.EventHub`, and one thread per followed log.

Neighbours: `runtime_docker_mapping` (pure JSON <-> types), `runtime_docker_streams`
(events and log threads), `runtime_ports` (dynamic ports and the start retry),
`runtime` (types, errors, protocol).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors

from dockyard.agent import runtime_timeouts as timeouts
from dockyard.agent.runtime import (
    CannotCreateContainerError,
    CannotPullContainerError,
    CannotStartContainerError,
    CannotStopContainerError,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerState,
    DockerTimeoutError,
    HostPortPicker,
    ImageNotFoundError,
    PortMapping,
    RuntimeUnavailableError,
    validate_spec,
)
from dockyard.agent.runtime_docker_mapping import create_config, start_error, state_from_inspect
from dockyard.agent.runtime_docker_streams import StreamThreads, follow_logs, pump_events
from dockyard.agent.runtime_events import EventHub, EventSubscription
from dockyard.agent.runtime_ports import run_with_port_retries

log = logging.getLogger(__name__)

_IMAGE_MISSING_HINTS = (
    "not found",
    "manifest unknown",
    "does not exist",
    "pull access denied",
    "invalid reference",
)


class DockerRuntime:
    """ContainerRuntime on a Docker engine. Create with `await DockerRuntime.connect()`."""

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        events_client: docker.DockerClient | None = None,
        workers: int = timeouts.DOCKER_CALL_WORKERS,
    ) -> None:
        self.client = client
        self._api = client.api
        self._stream_api = (events_client or client).api  # long-lived streams, own pool
        self._clients = [client] if events_client is None else [client, events_client]
        self._owns_clients = False
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="docker-call")
        self._hub = EventHub()
        self._threads = StreamThreads()
        self._lock = threading.Lock()
        self._events_thread: threading.Thread | None = None
        self._pulls: dict[str, asyncio.Task[None]] = {}
        self._ncpu: int | None = None  # the engine's CPUs, read at the first CPU ceiling

    @classmethod
    async def connect(
        cls, base_url: str | None = None, *, workers: int = timeouts.DOCKER_CALL_WORKERS
    ) -> DockerRuntime:
        """Connect to `base_url` (default: DOCKER_HOST or /var/run/docker.sock)."""

        def make() -> Any:
            options = {"timeout": timeouts.API_SOCKET_TIMEOUT_S, "max_pool_size": workers}
            if base_url:
                return docker.DockerClient(base_url=base_url, **options)
            return docker.from_env(**options)

        clients: list[Any] = []
        try:
            await asyncio.to_thread(_probe_unix_socket, base_url)
            for _ in range(2):  # calls, and long-lived streams (events, logs)
                clients.append(await asyncio.to_thread(make))
        except (docker.errors.DockerException, OSError) as exc:
            for client in clients:
                client.close()
            raise RuntimeUnavailableError(f"no Docker engine answers: {exc}") from exc
        runtime = cls(clients[0], events_client=clients[1], workers=workers)
        runtime._owns_clients = True
        return runtime

    # --- images ---------------------------------------------------------------------------

    async def ensure_image(self, image: str) -> None:
        if await self._image_present(image):
            return
        pull = self._pulls.get(image)
        if pull is None:  # one pull per image, however many tasks wait for it
            pull = asyncio.ensure_future(self._pull(image))
            self._pulls[image] = pull
            pull.add_done_callback(functools.partial(self._pull_done, image))
        await asyncio.shield(pull)

    def _pull_done(self, image: str, pull: asyncio.Task[None]) -> None:
        self._pulls.pop(image, None)
        if not pull.cancelled():
            pull.exception()  # retrieved here so an unawaited failure is not logged as lost

    async def _image_present(self, image: str) -> bool:
        try:
            await self._call(timeouts.IMAGE_INSPECT_TIMEOUT_S, self._api.inspect_image, image)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise _pull_error(image, exc) from exc
        return True

    async def _pull(self, image: str) -> None:
        def pull() -> str | None:
            last_error = None
            for line in self._api.pull(image, stream=True, decode=True):
                if isinstance(line, dict) and line.get("error"):
                    last_error = str(line["error"])
            return last_error

        started = time.monotonic()
        try:
            error = await self._call(timeouts.PULL_TIMEOUT_S, pull)
        except DockerTimeoutError as exc:
            raise CannotPullContainerError(f"{image}: pull timed out: {exc.message}") from exc
        except docker.errors.APIError as exc:
            raise _pull_error(image, exc) from exc
        if error:
            raise _pull_error(image, error)
        if not await self._image_present(image):
            raise ImageNotFoundError(f"{image}: not present after pull")
        log.info("pulled %s in %.1f s", image, time.monotonic() - started)

    # --- containers -----------------------------------------------------------------------

    async def run(self, spec: ContainerSpec, dynamic_port_picker: HostPortPicker) -> ContainerState:
        validate_spec(spec)
        return await run_with_port_retries(
            spec, dynamic_port_picker, functools.partial(self._create_and_start, spec)
        )

    async def _create_and_start(
        self, spec: ContainerSpec, ports: tuple[PortMapping, ...]
    ) -> ContainerState:
        host_cpus = await self._host_cpus() if spec.cpu_limit_units else None
        container_id = await self._create(spec, create_config(spec, ports, host_cpus))
        try:
            await self._call(timeouts.START_TIMEOUT_S, self._api.start, container_id)
        except docker.errors.APIError as exc:
            await self._discard(container_id)
            raise start_error(_explain(exc)) from exc
        except BaseException:
            await self._discard(container_id)
            raise
        state = await self.inspect(container_id)
        if state is None:
            raise CannotStartContainerError(f"{spec.docker_name} was removed right after start")
        return state

    async def _host_cpus(self) -> int | None:
        """The engine's CPU count (Docker's NCPU), read once: caps CPU ceilings."""
        if self._ncpu is None:
            try:
                info = await self._call(timeouts.INFO_TIMEOUT_S, self._api.info)
            except docker.errors.APIError as exc:
                log.warning("docker info failed (%s): CPU ceilings are not capped", exc)
                return None
            self._ncpu = int(info.get("NCPU") or 0)
        return self._ncpu or None

    async def _create(self, spec: ContainerSpec, config: dict[str, Any]) -> str:
        for _ in range(2):
            try:
                created = await self._call(
                    timeouts.CREATE_TIMEOUT_S,
                    self._api.create_container_from_config,
                    config,
                    spec.docker_name,
                )
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and await self._remove_stale(spec):
                    continue
                if exc.status_code == 404:
                    raise ImageNotFoundError(f"{spec.image}: {_explain(exc)}") from exc
                raise CannotCreateContainerError(_explain(exc)) from exc
            for warning in created.get("Warnings") or ():
                log.warning("%s: docker create: %s", spec.docker_name, warning)
            return str(created["Id"])
        raise CannotCreateContainerError(f"container name {spec.docker_name} stays in use")

    async def _remove_stale(self, spec: ContainerSpec) -> bool:
        """The name is taken: by a leftover of this very task container (an interrupted
        earlier `run`), remove it so the run can proceed; by anything else, refuse."""
        existing = await self.inspect(spec.docker_name)
        if existing is None:
            return True  # removed meanwhile: just retry
        if (existing.task_arn, existing.container_name) != (spec.task_arn, spec.container_name):
            return False
        log.warning("%s: removing leftover container %s", spec.docker_name, existing.id[:12])
        await self.remove(existing.id)
        return True

    async def _discard(self, container_id: str) -> None:
        """Best-effort removal of a container whose start failed (survives cancellation)."""
        try:
            await asyncio.shield(self.remove(container_id))
        except Exception as exc:
            log.warning("could not remove failed container %s: %s", container_id[:12], exc)

    async def stop(self, container_id: str, timeout_s: float) -> None:
        seconds = max(0, math.ceil(timeout_s))  # the Engine API takes whole seconds
        try:
            await self._call(
                seconds + timeouts.STOP_GRACE_S, self._api.stop, container_id, timeout=seconds
            )
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            raise CannotStopContainerError(_explain(exc)) from exc

    async def remove(self, container_id: str) -> None:
        try:
            await self._call(
                timeouts.REMOVE_TIMEOUT_S,
                self._api.remove_container,
                container_id,
                v=True,
                force=True,
            )
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in _explain(exc):
                return
            raise ContainerRuntimeError(f"remove {container_id}: {_explain(exc)}") from exc

    async def inspect(self, container_id: str) -> ContainerState | None:
        try:
            data = await self._call(
                timeouts.INSPECT_TIMEOUT_S, self._api.inspect_container, container_id
            )
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise ContainerRuntimeError(f"inspect {container_id}: {_explain(exc)}") from exc
        return state_from_inspect(data)

    async def list_containers(self, label_filter: Mapping[str, str | None]) -> list[ContainerState]:
        labels = [key if value is None else f"{key}={value}" for key, value in label_filter.items()]
        try:
            summaries = await self._call(
                timeouts.LIST_TIMEOUT_S,
                self._api.containers,
                all=True,
                filters={"label": labels} if labels else None,
            )
        except docker.errors.APIError as exc:
            raise ContainerRuntimeError(f"list containers: {_explain(exc)}") from exc
        states = await asyncio.gather(*(self.inspect(s["Id"]) for s in summaries))
        return [state for state in states if state is not None]  # some vanished meanwhile

    # --- streams --------------------------------------------------------------------------

    def events(self) -> EventSubscription:
        subscription = self._hub.subscribe()
        with self._lock:
            if self._events_thread is None and not self._threads.closing.is_set():
                self._events_thread = self._threads.start(
                    "docker-events",
                    pump_events,
                    self._stream_api,
                    self._hub,
                    self._threads,
                    time.time_ns(),  # replay from here if the thread connects a bit later
                )
        return subscription

    def logs(
        self, container_id: str, *, follow: bool = False, tail: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Use with `contextlib.aclosing` when not reading to the end (closes the stream)."""
        tail_param: int | str = tail if tail is not None else "all"
        if follow:
            return follow_logs(self._stream_api, self._threads, container_id, tail_param)
        return self._logs_so_far(container_id, tail_param)

    def log_lines(self, container_id: str, since_s: int | None) -> AsyncGenerator[bytes, None]:
        """Followed output with Docker's timestamps, from `since_s` (whole epoch seconds,
        inclusive) or the start: what agent/logs_shipper.py positions lines by."""
        options: dict[str, Any] = {"timestamps": True}
        if since_s:
            options["since"] = since_s
        return follow_logs(self._stream_api, self._threads, container_id, "all", **options)

    async def _logs_so_far(self, container_id: str, tail: int | str) -> AsyncGenerator[bytes, None]:
        try:
            data = await self._call(
                timeouts.LOGS_TIMEOUT_S, self._api.logs, container_id, tail=tail
            )
        except docker.errors.NotFound:
            return
        if data:
            yield bytes(data)

    # --- plumbing -------------------------------------------------------------------------

    async def close(self) -> None:
        threads = self._threads.shut()
        self._hub.close()
        loop = asyncio.get_running_loop()
        for thread in threads:
            await loop.run_in_executor(self._executor, thread.join, timeouts.THREAD_JOIN_TIMEOUT_S)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._owns_clients:
            for client in self._clients:
                client.close()

    async def _call(self, deadline: float, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run a blocking SDK call on a worker thread, within `deadline` seconds."""
        if self._threads.closing.is_set():
            raise RuntimeUnavailableError("runtime is closed")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, functools.partial(fn, *args, **kw))
        name = getattr(fn, "__name__", "docker call")
        try:
            return await asyncio.wait_for(future, deadline)
        except TimeoutError as exc:
            raise DockerTimeoutError(f"{name} got no answer within {deadline:.0f} s") from exc
        except docker.errors.APIError:
            raise  # the caller knows what a 404 or 409 means for its call
        except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            raise RuntimeUnavailableError(f"{name}: {exc}") from exc


def _probe_unix_socket(base_url: str | None) -> None:
    """Fail cleanly when nothing listens on the engine's unix socket: the SDK would leave
    the failed socket to the GC (a ResourceWarning per attempt while dockerd is down)."""
    url = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if url.startswith("unix://"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(timeouts.CONNECT_PROBE_TIMEOUT_S)
            probe.connect(url.removeprefix("unix://"))


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def _pull_error(image: str, error: docker.errors.APIError | str) -> CannotPullContainerError:
    """Missing image (permanent) or a registry/network failure (retryable)."""
    text = error if isinstance(error, str) else _explain(error)
    status = None if isinstance(error, str) else error.status_code
    if status == 404 or any(hint in text.lower() for hint in _IMAGE_MISSING_HINTS):
        return ImageNotFoundError(f"{image}: {text}")
    return CannotPullContainerError(f"{image}: {text}")
