"""`dockyard server`: the control plane process (API today; controllers and the LB join it).

Binds loopback unless told otherwise, and refuses a non-loopback address
without `--credentials`: whoever can call RunTask can run a container as root
on every host of the cluster.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from dockyard import console, gc_policy
from dockyard.alarms.actions import ActionRouter
from dockyard.api import exec as exec_relay
from dockyard.api import prometheus, task_logs
from dockyard.api.agent_channel import AgentHub
from dockyard.api.app import authenticate, create_app
from dockyard.api.autoscaling import settings as autoscaling_settings
from dockyard.api.elbv2 import settings as elbv2_settings
from dockyard.arns import Identity
from dockyard.context import ApiContext, Changed
from dockyard.controllers import alarms as alarms_controller
from dockyard.controllers import instances
from dockyard.controllers.instances import InstanceSettings
from dockyard.controllers.scaling import ScalingController
from dockyard.controllers.services import loop as services_loop
from dockyard.errors import AwsError
from dockyard.ha.node import HaNode
from dockyard.ha.notify import Kinds
from dockyard.ha.sweep import Swept
from dockyard.ha.wakeups import wakeups
from dockyard.lb import LbController, LbSettings
from dockyard.lb.legacy_tls import adopt_legacy_files
from dockyard.logs import LogStore
from dockyard.metrics import MetricsStore
from dockyard.metrics.latest import LatestMetrics, MetricsSink
from dockyard.store.lock import DataDirInUse, lock_data_dir
from dockyard.store.sql import SqlStore, open_store, sqlite_url
from dockyard.wire.agent import WS_PATH

log = logging.getLogger("dockyard.server")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTROLLERS = web.AppKey("controllers", list[asyncio.Task[None]])
SBIN = "/usr/sbin:/usr/local/sbin"  # where Debian puts haproxy, often off a user's PATH


class ConfigError(ValueError):
    """The server cannot start with this configuration."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".dockyard")
    region: str = "us-east-1"
    account_id: str = "000000000000"
    credentials_file: Path | None = None
    store_url: str | None = None
    agent_grace_s: float = 60.0
    task_retention_s: float = 3600.0
    metrics_retention_s: float = 15 * 86400.0
    logs_retention_s: float = 7 * 86400.0  # cap for log groups without a retention policy
    lb_bind_address: str = "127.0.0.1"
    haproxy: str | None = None  # path; None: `haproxy` on PATH, load balancing off without it
    target_tracking_period_s: int = 60  # Period of target-tracking alarms (AWS: 60)
    # Several servers on one PostgreSQL (dockyard.ha): this server's name in `dockyard
    # status` (default host:port), the lease TTL, and HAProxy's run dir shared by all of
    # them so that each new leader adopts the running HAProxy (default: <data-dir>/haproxy).
    name: str | None = None
    lease_ttl_s: float = 5.0
    lb_dir: Path | None = None

    def check(self) -> None:
        if not self.account_id.isdigit() or len(self.account_id) != 12:
            raise ConfigError(f"--account-id must be 12 digits; got {self.account_id!r}.")
        if self.credentials_file is None and not is_loopback(self.host):
            raise ConfigError(
                f"Refusing to listen on {self.host} without --credentials: anyone who can reach "
                "the API can run containers as root on every host. Give --credentials FILE, or "
                "bind 127.0.0.1."
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(config: ServerConfig) -> web.Application:
    config.check()
    credentials = None
    if config.credentials_file is not None:
        from dockyard.api.sigv4 import load_credentials

        credentials = load_credentials(str(config.credentials_file))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:  # one server per data dir (SQLite, sidecars, HAProxy run dir): see store/lock.py
        data_lock = lock_data_dir(config.data_dir)
    except DataDirInUse as error:
        raise ConfigError(str(error)) from error
    store = open_store(config.store_url or sqlite_url(config.data_dir))
    store.checkpoint_in_background()  # SQLite: WAL checkpoints off the event loop
    metrics = MetricsStore(config.data_dir / "metrics.db", retention_s=config.metrics_retention_s)
    logs = LogStore(config.data_dir / "logs.db", cap_s=config.logs_retention_s)
    ctx = ApiContext(
        store=store,
        identity=Identity(config.region, config.account_id),
        metrics=metrics,
        logs=logs,
        certs_dir=config.data_dir / "certs",  # trust stores' Get* download files
    )
    adopt_legacy_files(store, config.data_dir / "certs")  # keys/bundles kept as files before 0014
    ctx.alarm_actions = ActionRouter()  # Application Auto Scaling registers its sink here
    autoscaling_settings.TARGET_TRACKING_PERIOD_S = config.target_tracking_period_s
    scaling = ScalingController(ctx)
    scaling.register()  # before the alarm controller's first pass
    app = create_app(ctx, credentials=credentials)
    latest = LatestMetrics()
    sink = MetricsSink(ctx.metrics, latest)  # agents' and HAProxy's metrics go here
    hub = AgentHub(ctx, credentials, sink)
    settings = InstanceSettings(
        grace_s=config.agent_grace_s,
        task_retention_s=config.task_retention_s,
        interval_s=min(2.0, max(config.agent_grace_s / 4, 0.2)),
    )
    lb = lb_controller(config, ctx, sink)

    def controllers() -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(instances.run(ctx, settings, hub.away)),
            asyncio.create_task(services_loop.run(ctx)),
            asyncio.create_task(alarms_controller.run(ctx)),
            asyncio.create_task(scaling.run()),
            asyncio.create_task(lb.run()),
        ]

    # several servers: only the leader runs the controllers (ha/node.py)
    ha = None if store.sqlite else ha_node(config, ctx, hub, store, controllers)
    hub.mark_all_disconnected()
    app.router.add_get(WS_PATH, hub.handle)
    app.router.add_get(task_logs.PATH, task_logs.make_handler(ctx, hub, credentials))
    app.router.add_get(exec_relay.PATH, exec_relay.make_handler(hub))  # dockyard task exec
    console.register(app, ctx, hub, credentials, config.data_dir)  # web console at /console
    app.router.add_get(prometheus.PATH, prometheus.make_handler(ctx, hub.connection_count, latest))
    app.router.add_get(SERVERS_PATH, servers_handler(ha, credentials))  # dockyard status

    async def start_controllers(app: web.Application) -> None:
        await asyncio.to_thread(prometheus.seed_task_counts, store)
        if ha is None:
            app[CONTROLLERS] = controllers()
        else:  # only the leader runs them (ha/node.py)
            app[CONTROLLERS] = []
            ha.start()

    async def stop(app: web.Application) -> None:
        tasks = app.get(CONTROLLERS, [])
        for task in tasks:
            task.cancel()
        if ha is not None:  # HAProxy keeps serving: the next leader adopts it
            await ha.close()
        else:  # HAProxy ends with the server, once its controller has stopped
            await asyncio.gather(*tasks, return_exceptions=True)
            await lb.stop()
        await hub.close()

    async def close_store(_app: web.Application) -> None:
        metrics.close()
        logs.close()
        store.close()
        data_lock.release()

    app.on_startup.append(start_controllers)
    app.on_shutdown.append(stop)
    app.on_cleanup.append(close_store)
    return app


SERVERS_PATH = "/dockyard/servers"
STARTED_AT = time.time()


def ha_node(
    config: ServerConfig,
    ctx: ApiContext,
    hub: AgentHub,
    store: SqlStore,
    controllers: Callable[[], list[asyncio.Task[None]]],
) -> HaNode:
    """This server as one of several on a shared PostgreSQL (ha/README.md)."""
    name = config.name or f"{config.host}:{config.port}"
    hub.server_id = name

    def changed(leader: bool, kinds: Kinds) -> None:  # another server committed these
        wake = wakeups(kinds, leader)
        if wake.desired:
            ctx.desired_changed(set(hub.connections), None)  # rescan this server's agents
        if wake.services:
            ctx.tasks_changed(None)  # reconcile every service
        else:  # only the services these name (as after a commit on this server)
            groups = frozenset(p for p in wake.task_groups if p[1].startswith("service:"))
            narrowed = Changed(
                task_groups=groups, services=wake.service_arns,
                target_groups=wake.target_groups, instances=wake.instances,
            )  # fmt: skip
            if narrowed != Changed():
                ctx.on_loop(ctx.on_change, narrowed)
        if wake.lb:
            ctx.lb_changed()

    def swept(result: Swept) -> None:  # the leader follows other servers' agents
        if result.since is not None:
            hub.away.seed(result.since)
        for arn in result.marked:
            hub.away.disconnected(arn, result.at)
        ctx.instances_changed(result.marked)

    def deposed() -> None:
        ctx.on_change = None  # the cancelled service runner's queue

    return HaNode(
        store, name, f"http://{config.host}:{config.port}",
        start_controllers=controllers, on_change=changed, on_swept=swept, on_deposed=deposed,
        ttl_s=config.lease_ttl_s, interval_s=max(0.2, config.lease_ttl_s / 5), clock=ctx.now,
    )  # fmt: skip


def servers_handler(ha: HaNode | None, credentials: dict[str, str] | None) -> Handler:
    """GET /dockyard/servers: the servers, which is the leader and since when."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if credentials is not None:
            try:
                authenticate(request, b"", credentials)
            except AwsError as error:
                body = {"__type": error.code, "message": str(error)}
                return web.json_response(body, status=403)
        if ha is None:  # alone on SQLite: always the leader
            since = datetime.fromtimestamp(STARTED_AT, UTC).isoformat()
            url = f"http://{request.host}"
            rows: list[dict[str, object]] = [
                {"name": request.host, "url": url, "alive": True, "startedAt": since,
                 "heartbeatAt": datetime.now(UTC).isoformat(), "leader": True,
                 "leaderSince": since, "epoch": None},
            ]  # fmt: skip
        else:
            rows = await asyncio.to_thread(ha.status)
        return web.json_response({"servers": rows})

    return handle


def lb_controller(
    config: ServerConfig, ctx: ApiContext, sink: MetricsSink | None = None
) -> LbController:
    """The load-balancer controller, woken by ELBv2 API commits."""
    elbv2_settings.BIND_ADDRESS = config.lb_bind_address  # DNSName of every load balancer
    haproxy = config.haproxy or shutil.which("haproxy") or shutil.which("haproxy", path=SBIN)
    if haproxy is None or not Path(haproxy).exists():
        # Still run the controller: load balancers with listeners show State `failed`
        # with the reason, and serve once HAProxy appears.
        log.warning("HAProxy not found (--haproxy PATH): load balancers will not serve traffic")
        haproxy = haproxy or "haproxy"
    controller = LbController(
        ctx,
        LbSettings(
            haproxy=haproxy,
            run_dir=config.lb_dir or config.data_dir / "haproxy",  # TLS files in its certs/
            bind_address=config.lb_bind_address,
        ),
        sink,
    )
    ctx.on_lb_change = controller.wake
    return controller


async def serve(config: ServerConfig, ready_file: Path | None = None) -> None:
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    gc_policy.tune_for_server()  # issue 9: the collector's share of the CPU (gc_policy.py)
    freezer = asyncio.create_task(gc_policy.keep_heap_frozen())  # short full collections
    log.info("Dockyard API on http://%s:%s (data in %s)", config.host, config.port, config.data_dir)
    if ready_file is not None:
        await asyncio.to_thread(ready_file.write_text, f"{os.getpid()}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        freezer.cancel()
        await runner.cleanup()


def run(config: ServerConfig, ready_file: Path | None = None) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        asyncio.run(serve(config, ready_file))
    else:
        uvloop.run(serve(config, ready_file))
