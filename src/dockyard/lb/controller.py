"""The load-balancer controller: keeps one HAProxy equal to the ALB model, level-triggered.

Each step (every `interval_s`, or at once after `wake()`):

    load_model(store) -> render_haproxy -> structure (config minus server lines)
      + in the same read: tls_files.wanted -> tls_writer.write_missing (certificates, keys,
        CA bundles, CRLs from the store into <lb-dir>/certs; pruned once HAProxy loaded it)
      no listener              -> stop HAProxy
      HAProxy not running      -> start it (or adopt a master left running)
      structure changed        -> hitless reload (listeners, rules, group settings)
    show stat -> plan_runtime -> runtime API (add/drain/remove servers: scaling and
                                 deployments never reload)
    show stat -> health_changes -> TargetHealth + state written back to TARGET rows,
                                   finished deregistrations deleted (idle, or past the delay)
    served frontends + last failure -> lb_states -> LOAD_BALANCER State (active / failed + Reason),
                                       also before a start or reload (provisioning)
    every metrics_interval_s: show info + show stat -> lb/alb_metrics.py -> AWS/ApplicationELB

Nothing lives only in memory: a restarted server re-derives all of it from the
store and HAProxy (whose server states persist in the server-state file).
Neighbours: `model`, `render`, `plan`, `health` (pure); `haproxy`, `runtime_api` (I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.context import ApiContext
from dockyard.lb import alb_metrics
from dockyard.lb.haproxy import HAProxyError, HAProxyKilled, HAProxyProcess
from dockyard.lb.health import health_changes
from dockyard.lb.model import Doc, LbModel, Target, backend_name, load_model
from dockyard.lb.plan import Plan, ServerOp, plan_runtime
from dockyard.lb.render import frontends, left_out, render_haproxy, structure
from dockyard.lb.runtime_api import RuntimeApiError, Stats
from dockyard.lb.settings import LbSettings
from dockyard.lb.state import lb_states
from dockyard.lb.tls_files import Piece, wanted
from dockyard.lb.tls_writer import TlsWriter
from dockyard.metrics.latest import MetricsSink
from dockyard.store import Kind
from dockyard.store.offload import off_loop

log = logging.getLogger("dockyard.lb")
RETRY_REFUSED_S = 10.0


@dataclass
class LbMetrics:
    """What the controller did, for logs, tests and benchmarks."""

    starts: int = 0
    reloads: int = 0
    runtime_ops: int = 0
    reload_seconds: list[float] = field(default_factory=list)
    op_seconds: list[float] = field(default_factory=list)


class LbController:
    def __init__(
        self,
        ctx: ApiContext,
        settings: LbSettings,
        sink: MetricsSink | None = None,
        metrics_interval_s: float = 10.0,
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.sink = sink if sink is not None else MetricsSink(ctx.metrics)
        self.metrics_interval_s = metrics_interval_s
        self._counters = alb_metrics.CounterTracker()
        self._sampled_at = float("-inf")
        self.process = HAProxyProcess(settings)
        self.tls = TlsWriter(settings.tls_dir.resolve())
        self.metrics = LbMetrics()
        self._structure: str | None = None  # of the config the running worker has
        self._refused: tuple[str, float] | None = None  # (structure, retry time)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._secret = ""
        self._served: set[str] = set()  # frontends of the config the running worker loaded
        self._failure: str | None = None  # why the last start or reload failed

    def wake(self) -> None:
        """Nudge the loop (the API calls this after a commit that changed the ALB model)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._secret = await asyncio.to_thread(self.process.prepare)
        await self.process.adopt()
        last_error = ""
        while True:
            try:
                await self.step()
                last_error = ""
            except (HAProxyError, RuntimeApiError, OSError) as error:
                if str(error) != last_error:  # retried every step: say it once
                    log.warning("load balancer step: %s", error)
                last_error = str(error)
            except Exception:
                log.exception("load balancer step failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.interval_s):
                    await self._wake.wait()
            self._wake.clear()

    async def stop(self) -> None:
        await self.process.stop()
        self._structure = None
        self._served = set()

    def _read(self) -> tuple[LbModel, dict[Path, Piece]]:
        with self.ctx.store.read() as tx:
            model = load_model(tx)
            tls_files = wanted(model, self.tls.certs_dir)
            if tls_files:  # a stat per file; reads and writes only what is missing
                self.tls.write_missing(tx, tls_files)
        return model, tls_files

    async def step(self) -> None:
        """One pass; its store work runs off the event loop when the store blocks."""
        store = self.ctx.store
        model, tls_files = await off_loop(store, self._read)
        written = {name: state for name, (_arn, state) in model.stored_states.items()}
        if not model.listeners:
            if self.process.pid is not None:
                await self.stop()
            self.tls.prune(tls_files)
            self._failure = None
            states = lb_states(model, set(), None)
            await off_loop(store, self._write_states, model, written, states)
            await off_loop(store, self._write_back, model, None, Plan())
            return
        config = render_haproxy(model, self.settings.render_settings(self._secret))
        shape = structure(config)
        left = left_out(config)
        try:
            # Listeners not bound yet show `provisioning` while HAProxy starts or reloads.
            if self.process.pid is None or not await self.process.alive():
                self._served = set()
                states = lb_states(model, self._served, self._failure, left)
                await off_loop(store, self._write_states, model, written, states)
                await self._converge(config, shape, model, start=True)
            elif shape != self._structure:
                states = lb_states(model, self._served, self._failure, left)
                await off_loop(store, self._write_states, model, written, states)
                await self._converge(config, shape, model, start=False)
        finally:
            states = lb_states(model, self._served, self._failure, left)
            await off_loop(store, self._write_states, model, written, states)
        if shape == self._structure:  # the running worker loaded this config's files
            self.tls.prune(tls_files)
        stats = await self.process.api.show_stat()
        plan = plan_runtime(
            model, stats, self.ctx.now(), old_workers=await self._old_workers(model, stats)
        )
        if plan.ops:
            failed = await self._apply(plan.ops)
            plan.delete = [key for key in plan.delete if key not in failed]
            stats = await self.process.api.show_stat()
        await off_loop(store, self._write_back, model, stats, plan)
        if time.monotonic() - self._sampled_at >= self.metrics_interval_s:
            await self._sample_metrics(model)

    async def _old_workers(self, model: LbModel, stats: Stats) -> bool:
        """Whether a worker from before a reload may still serve a draining target the
        current worker no longer has (asked only when there is such a target)."""
        current = stats.by_ref()
        groups = {g.arn: backend_name(g) for g in model.target_groups}
        if not any(
            t.draining and (groups.get(t.group), t.server) not in current for t in model.targets
        ):
            return False
        try:
            processes = await self.process.master.processes()
        except RuntimeApiError:
            return True
        return any(survived > 0 for _pid, survived in processes.workers)

    async def _sample_metrics(self, model: LbModel) -> None:
        """HAProxy's counters -> per-interval AWS/ApplicationELB samples (lb/alb_metrics.py)."""
        self._sampled_at = time.monotonic()
        try:
            text = await self.process.api.execute("show info", "show stat -1 7 -1")
        except RuntimeApiError as error:
            log.debug("metrics: %s", error)
            return
        rows = alb_metrics.parse_counters(text)
        deltas = self._counters.advance(rows, alb_metrics.worker_pid(text))
        if deltas is not None:
            names = alb_metrics.alb_names(model)
            self.sink.put(alb_metrics.alb_samples(names, rows, deltas, self.ctx.now()))

    async def _converge(self, config: str, shape: str, model: LbModel, *, start: bool) -> None:
        """Start or reload; a refused config is retried only after a pause."""
        refused = self._refused
        if refused is not None and refused[0] == shape and time.monotonic() < refused[1]:
            return
        known: set[tuple[str, str]] = set()
        try:
            if start:
                self.process.pid = None
                await self.process.start(config)
                self.metrics.starts += 1
            else:
                known = set((await self.process.api.show_stat()).by_ref())
                seconds = await self.process.reload(config)
                self.metrics.reloads += 1
                self.metrics.reload_seconds.append(seconds)
                log.info("HAProxy reloaded in %.0f ms", seconds * 1000)
        except HAProxyError as error:
            if not isinstance(error, HAProxyKilled):
                self._refused = (shape, time.monotonic() + RETRY_REFUSED_S)
            self._failure = str(error)
            raise
        except OSError as error:  # the binary is missing or cannot run: retried every step
            self._failure = f"HAProxy could not run: {error}"
            raise
        self._refused = None
        self._failure = None
        self._structure = shape
        self._served = frontends(config)
        await self._hold_new_servers(model, known)

    async def _hold_new_servers(self, model: LbModel, known: set[tuple[str, str]]) -> None:
        """Servers HAProxy starts without a saved state come up UP; put them DOWN until
        their checks pass, unless their target was already healthy."""
        healthy = {t.server for t in model.targets if t.state == "healthy"}
        stats = await self.process.api.show_stat()
        hold = [
            f"set server {s.backend}/{s.server} health down"
            for ref, s in stats.by_ref().items()
            if ref not in known and s.server not in healthy and s.check_status in {"", "INI"}
        ]
        for start in range(0, len(hold), 100):
            await self.process.api.execute(*hold[start : start + 100])

    async def _apply(self, ops: list[ServerOp]) -> set[str]:
        """Run the operations; return the keys of targets whose removal failed."""
        api = self.process.api
        failed: set[str] = set()
        for op in ops:
            started = time.monotonic()
            try:
                if op.kind == "add":
                    address = f"{op.address}:{op.port}"
                    await api.add_server(
                        op.backend, op.server, address, op.options, up=op.up, cookie=op.cookie
                    )
                elif op.kind == "address":
                    await api.set_address(op.backend, op.server, op.address, op.port)
                elif op.kind == "ready":
                    await api.set_state(op.backend, op.server, "ready")
                    if not op.up:
                        await api.set_health_down(op.backend, op.server)
                elif op.kind == "drain":
                    await api.set_state(op.backend, op.server, "drain")
                elif op.kind == "maint":
                    await api.set_state(op.backend, op.server, "maint")
                elif op.kind == "remove":
                    await api.remove_server(op.backend, op.server)
            except RuntimeApiError as error:
                log.warning("runtime API: %s", error)
                failed.add(op.key)
                continue
            self.metrics.runtime_ops += 1
            self.metrics.op_seconds.append(time.monotonic() - started)
            log.debug("%s %s/%s", op.kind, op.backend, op.server)
        return failed

    def _write_states(
        self, model: LbModel, written: dict[str, Doc | None], states: dict[str, dict[str, str]]
    ) -> None:
        """DescribeLoadBalancers' State (lb/state.py), written only where it differs from
        `written`: the States the model read, updated with what this step wrote."""
        changed = {
            name: state
            for name, state in states.items()
            if name in model.stored_states and written.get(name) != state
        }
        if not changed:
            return
        with self.ctx.store.transaction() as tx:
            for name, state in changed.items():
                arn = model.stored_states[name][0]
                doc = tx.get(Kind.LOAD_BALANCER, arn)
                if doc is not None and doc.get("State") != state:
                    tx.update(
                        Kind.LOAD_BALANCER, arn, {**doc, "State": state}, status=state["Code"]
                    )
                    log.info("load balancer %s: %s", name, state)
        written.update(changed)

    def _write_back(self, model: LbModel, stats: Stats | None, plan: Plan) -> None:
        """Health into TARGET rows (only when changed, only if the row did not move on
        meanwhile), drainingSince stamps, and finished deregistrations deleted."""
        changes = health_changes(model, None if stats is None else stats.by_ref())
        if not (changes or plan.delete or plan.stamp):
            return
        targets = {t.key: t for t in model.targets}
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            for key in plan.stamp:
                row = tx.get_row(Kind.TARGET, key)
                if row is not None and row["state"] == "draining":
                    doc = dict(row["doc"])
                    doc.setdefault("drainingSince", now)
                    tx.update(Kind.TARGET, key, doc)
            for key, health in changes.items():
                row = tx.get_row(Kind.TARGET, key)
                if row is None or row["state"] != targets[key].state:
                    continue
                doc = dict(row["doc"])
                doc["TargetHealth"] = health
                tx.update(Kind.TARGET, key, doc, state=health["State"])
            for key in plan.delete:
                row = tx.get_row(Kind.TARGET, key)
                if row is not None and _still_draining(row, targets[key]):
                    tx.delete(Kind.TARGET, key)
        # Services behind these target groups react (health, drained targets).
        self.ctx.targets_changed(key.split("|", 1)[0] for key in [*changes, *plan.delete])


def _still_draining(row: dict[str, object], target: Target) -> bool:
    """The row is the deregistration we planned for (not a re-registration since)."""
    doc = row["doc"]
    since = doc.get("drainingSince") if isinstance(doc, dict) else None
    same = target.draining_since is None or since == target.draining_since
    return row["state"] == "draining" and same
