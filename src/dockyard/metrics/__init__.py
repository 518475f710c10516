"""Metrics: datapoints kept apart from the control plane's store.

Producers (agent reports, the load balancer's HAProxy counters, PutMetricData) put
statistic sets into a `MetricsStore`; readers (CloudWatch's GetMetricStatistics /
GetMetricData, the alarm evaluator, /metrics, the CLI) query it. The store is its
own SQLite file (`metrics.db` in the data dir) with its own connection, so metric
ingestion never waits on, or holds, the control plane's write lock.
"""

from dockyard.metrics.model import Datapoint, MetricKey, StatisticSet
from dockyard.metrics.store import MetricsStore

__all__ = ["Datapoint", "MetricKey", "MetricsStore", "StatisticSet"]
