"""AWS/ECS metrics from the agents' metrics messages: a pure translation.

    {"type": "metrics", "timestamp": T, "groups": [{cluster, service?, cpu?, memory?}]}
        -> (MetricKey(AWS/ECS, CPUUtilization|MemoryUtilization,
                      {ClusterName[, ServiceName]}), T, StatisticSet, "Percent")

Each group is already a StatisticSet [sampleCount, sum, minimum, maximum] of per-task
utilisation (per service) or of the instance's utilisation (per cluster), computed by
`agent/metrics.py`; the server only names them, so ingestion costs one sample per
instance x service. Agent input is checked here (malformed groups are skipped, a
timestamp far from the server's clock is replaced by the server's): an agent cannot
write outside AWS/ECS or poison a statistic with NaN.
Neighbours: `api/agent_channel.py` (calls `ecs_samples`), `latest.MetricsSink` (stores).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dockyard.metrics.model import MetricKey, StatisticSet
from dockyard.metrics.store import Sample

NAMESPACE = "AWS/ECS"
METRICS = {"cpu": "CPUUtilization", "memory": "MemoryUtilization"}
UNIT = "Percent"
MAX_SKEW_S = 300.0


def statistic_set(value: Any) -> StatisticSet | None:
    """[count, sum, min, max] from the wire, or None when it is not a sane one."""
    if not isinstance(value, list) or len(value) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    count, total, low, high = (float(v) for v in value)
    if not all(math.isfinite(v) for v in (count, total, low, high)):
        return None
    if count <= 0 or low > high:
        return None
    return StatisticSet(count, total, low, high)


def ecs_samples(message: Mapping[str, Any], now: float) -> list[Sample]:
    """The samples of one agent metrics message (see the module docstring)."""
    timestamp = message.get("timestamp")
    if not isinstance(timestamp, int | float) or abs(float(timestamp) - now) > MAX_SKEW_S:
        timestamp = now
    groups = message.get("groups")
    out: list[Sample] = []
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, dict):
            continue
        cluster, service = group.get("cluster"), group.get("service")
        if not isinstance(cluster, str) or not cluster:
            continue
        dimensions = {"ClusterName": cluster}
        if service is not None:
            if not isinstance(service, str) or not service:
                continue
            dimensions["ServiceName"] = service
        for field, name in METRICS.items():
            stats = statistic_set(group.get(field))
            if stats is not None:
                key = MetricKey.of(NAMESPACE, name, dimensions)
                out.append((key, float(timestamp), stats, UNIT))
    return out
