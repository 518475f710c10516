"""The agent <-> server protocol: one websocket, opened by the agent.

    GET /agent/ws?cluster=<arn>&containerInstance=<arn>   (SigV4-signed when the
                                                          server has credentials)
    server -> agent  {"type": "desired", "version": N, "tasks": [DesiredTask...]}
                     the FULL set of tasks this instance should know about; sent on
                     connect and after every change (level-triggered: a lost message
                     or a reconnect heals by itself)
    agent -> server  {"type": "state", "tasks": [TaskReport...]}
                     task and container state changes; on (re)connect the agent
                     sends the state of every task it knows, so nothing is lost
    agent -> server  {"type": "metrics", "timestamp": T, "groups": [MetricsGroup...]}
                     every interval (10 s): utilisation pre-aggregated per service and
                     for the instance (agent/metrics.py); dropped while disconnected
    both             websocket ping/pong heartbeats (aiohttp `heartbeat=`)

A desired task carries its task definition, so an agent needs no other call.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

WS_PATH = "/agent/ws"
HEARTBEAT_S = 10.0


class DesiredTask(TypedDict):
    taskArn: str
    desiredStatus: str  # RUNNING | STOPPED
    lastStatus: str
    taskDefinition: dict[str, Any]
    overrides: dict[str, Any]
    containers: list[dict[str, Any]]  # name, containerArn
    stopTimeout: NotRequired[int]
    group: NotRequired[str]  # "service:NAME" for a service's tasks (metrics per service)


class ContainerReport(TypedDict, total=False):
    name: str
    runtimeId: str
    lastStatus: str
    exitCode: int
    reason: str
    healthStatus: str
    networkBindings: list[dict[str, Any]]


class TaskReport(TypedDict, total=False):
    taskArn: str
    lastStatus: str
    reason: str
    stopCode: str
    healthStatus: str
    pullStartedAt: float
    pullStoppedAt: float
    startedAt: float
    containers: list[ContainerReport]


class MetricsGroup(TypedDict):
    """Utilisation percents as [sampleCount, sum, minimum, maximum]: per-task figures of one
    service (with `service`), or this instance's figure for the cluster (without)."""

    cluster: str  # cluster name
    service: NotRequired[str]
    cpu: NotRequired[list[float]]
    memory: NotRequired[list[float]]


class MetricsMessage(TypedDict):
    type: str  # "metrics"
    timestamp: float
    groups: list[MetricsGroup]
