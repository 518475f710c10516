"""The alarm controller: evaluates every alarm soon after each of its periods ends.

    every tick (1 s): has a 10-second boundary passed (all periods are multiples of 10)?
      -> read the alarms; keep those whose period ended since their last evaluation
      -> (worker thread) query each one's metric over its evaluation range, evaluate (pure)
      -> per alarm whose state changed: one transaction (state + history), then its actions
      -> per alarm still in a state with Auto Scaling actions: invoke them again, once a
         period, as CloudWatch does, so scaling policies keep acting after their cooldown

A period [T, T+P) is judged at T+P+SETTLE_S, so a crossing is decided within one period
plus a few seconds. Work is proportional to the number of alarms (one metric query per
due alarm), never to tasks or instances. What the loop remembers (the last period
evaluated per alarm) is rebuilt by evaluating everything once after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from dockyard.alarms import firing
from dockyard.alarms import store as alarms
from dockyard.alarms.evaluate import AlarmConfig, Evaluation, Point, evaluate, evaluation_range
from dockyard.context import ApiContext
from dockyard.metrics import MetricKey, MetricsStore
from dockyard.store import Kind
from dockyard.store.offload import off_loop

log = logging.getLogger("dockyard.controllers.alarms")
GRID_S = 10  # every alarm period is a multiple of this
HISTORY_RETENTION_S = 30 * 86400.0


@dataclass(frozen=True)
class AlarmSettings:
    interval_s: float = 1.0
    settle_s: float = 2.0  # wait after a period ends for late datapoints (agent reports)


def period_end(doc: dict[str, Any], now: float) -> float:
    """End of the alarm's last complete period at `now`."""
    period = int(doc["Period"])
    return float(math.floor(now / period) * period)


def evaluate_alarm(doc: dict[str, Any], metrics: MetricsStore | None, now: float) -> Evaluation:
    """Read the alarm's metric over its evaluation range and evaluate it (thread-safe)."""
    config = AlarmConfig.from_doc(doc)
    points: list[Point] = []
    if metrics is not None:
        start, end = evaluation_range(config, now)
        key = MetricKey.from_aws(doc["Namespace"], doc["MetricName"], doc.get("Dimensions"))
        for datapoint in metrics.query(key, start, end, config.period, unit=doc.get("Unit")):
            if datapoint.stats.empty:
                continue
            value = datapoint.stats.statistic(config.statistic)
            points.append(Point(datapoint.timestamp, value, datapoint.stats.sample_count))
    return evaluate(config, points, doc["StateValue"], now)


@dataclass
class AlarmController:
    ctx: ApiContext
    settings: AlarmSettings = field(default_factory=AlarmSettings)
    evaluated: dict[str, float] = field(default_factory=dict)  # name -> last period end judged
    last_grid: float = -1.0

    def due(self, docs: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        return [d for d in docs if self.evaluated.get(d["AlarmName"], -1.0) < period_end(d, now)]

    def load(self) -> list[dict[str, Any]]:
        with self.ctx.store.read() as tx:
            docs = tx.find(Kind.ALARM)
        names = {d["AlarmName"] for d in docs}
        for gone in set(self.evaluated) - names:
            del self.evaluated[gone]
        return docs

    def apply(self, doc: dict[str, Any], result: Evaluation, judged_at: float) -> str:
        """Write a state change (then fire its actions) or repeat Auto Scaling actions."""
        now = self.ctx.now()
        self.evaluated[doc["AlarmName"]] = period_end(doc, judged_at)
        if result.state == doc["StateValue"]:
            repeat = firing.repeating_actions(doc)
            if repeat:
                firing.invoke_actions(
                    self.ctx.store,
                    self.ctx.alarm_actions,
                    doc,
                    repeat,
                    metric_value=result.newest_value,
                    now=now,
                    record_successes=False,
                )
            return "kept"
        with self.ctx.store.transaction() as tx:
            changed = alarms.set_state(
                tx,
                doc["AlarmName"],
                result.state,
                result.reason,
                result.reason_data,
                now=now,
                config_updated=doc["AlarmConfigurationUpdatedTimestamp"],
            )
        if changed is None:  # reconfigured meanwhile: judge it again next pass
            self.evaluated.pop(doc["AlarmName"], None)
            return "stale"
        new = changed[1]
        log.info("alarm %s: %s -> %s", new["AlarmName"], doc["StateValue"], new["StateValue"])
        actions = firing.actions_for_state(new)
        if actions:
            firing.invoke_actions(
                self.ctx.store,
                self.ctx.alarm_actions,
                new,
                actions,
                metric_value=result.newest_value,
                now=now,
            )
        return "changed"

    async def step(self, now: float) -> dict[str, int]:
        """One pass over the due alarms; counts of outcomes (for logs and tests)."""
        judged_at = now - self.settings.settle_s
        store = self.ctx.store  # its work runs off the event loop when it blocks
        docs = self.due(await off_loop(store, self.load), judged_at)
        metrics = self.ctx.metrics
        results = await asyncio.to_thread(
            lambda: [evaluate_alarm(doc, metrics, judged_at) for doc in docs]
        )
        counts: dict[str, int] = {}
        for doc, result in zip(docs, results, strict=True):
            try:
                outcome = await off_loop(store, self.apply, doc, result, judged_at)
            except Exception:
                log.exception("alarm %s: applying its evaluation failed", doc["AlarmName"])
                outcome = "failed"
            counts[outcome] = counts.get(outcome, 0) + 1
        await off_loop(store, self._prune, now)
        return counts

    def _prune(self, now: float) -> None:
        with self.ctx.store.transaction() as tx:
            alarms.prune_history(tx, now - HISTORY_RETENTION_S)

    async def run(self) -> None:
        while True:
            now = self.ctx.now()
            grid = math.floor((now - self.settings.settle_s) / GRID_S)
            if grid != self.last_grid:
                try:
                    await self.step(now)
                    self.last_grid = grid
                except Exception:
                    log.exception("alarm controller pass failed; retrying")
            await asyncio.sleep(self.settings.interval_s)


async def run(ctx: ApiContext, settings: AlarmSettings | None = None) -> None:
    await AlarmController(ctx, settings or AlarmSettings()).run()
