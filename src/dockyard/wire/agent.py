"""The agent <-> server protocol: one websocket, opened by the agent.

    GET /agent/ws?cluster=<arn>&containerInstance=<arn>&generation=<G>
        (SigV4-signed when the server has credentials). G is the generation of the
        desired set this agent process last applied; 0 or absent: it holds nothing.

Each instance's desired set carries a *generation* (an int from one counter per server
process, seeded with the clock, so generations of different server runs never meet).
The server keeps, per instance, what it sent and what the agent acknowledged, and
sends only what changed:

    server -> agent  {"type": "desired", "full": true, "generation": G,
                      "tasks": [WireTask...], "taskDefinitions": {arn: definition}}
                     the FULL set (every live task with every definition it uses): on
                     connect when the agent's generation is not the server's (agent or
                     server restart), or when a delta cannot be repaired
    server -> agent  {"type": "desired", "generation": G, "base": B,
                     "tasks": [WireTask...], "removed": [taskArn...],
                     "taskDefinitions": {arn: definition}}
                     a DELTA: tasks added or changed (desiredStatus) and tasks the
                     server gave up, since generation B; applies to any set at
                     generation >= B (entries are whole tasks, so re-applying is
                     harmless). Definitions travel once per agent, by ARN: only those
                     this agent has not been sent yet.
    agent -> server  {"type": "ack", "generation": G}   after applying a desired message
    agent -> server  {"type": "resync", "generation": G}
                     the agent cannot apply a delta (B > its generation: a message was
                     lost; or a definition is missing): the server resends every change
                     since the acknowledged generation, or a full set (G = 0 asks for it)
    agent -> server  {"type": "state", "tasks": [TaskReport...]}
                     task and container states, coalesced per task over a short window
                     (agent/channel.py REPORT_WINDOW_S) and applied in one transaction;
                     on (re)connect the agent sends the state of every task it knows
    agent -> server  {"type": "metrics", "timestamp": T, "groups": [MetricsGroup...]}
                     every interval (10 s): utilisation pre-aggregated per service and
                     for the instance (agent/metrics.py); dropped while disconnected
    server -> agent  {"type": "logs", ...} / agent -> server {"type": "log", ...}
                     a task's container output for `dockyard task logs`
    agent -> server  {"type": "log_events", "id": N, "group": G, "stream": S,
                      "createGroup": bool, "events": [[dockerNs, seq, message]...]}
                     output of awslogs containers (agent/logs_shipper.py), stored by
                     logs/shipping.py (dropping positions stored before); the server
                     answers {"type": "log_ack", "id": N} (with "error" when refused)
                     and the agent checkpoints the batch's last position on that ack
    server -> agent  {"type": "exec-start", "id": S, "taskArn", "container", "command": [..],
                      "tty": bool, "rows"?, "cols"?}   `dockyard task exec` (agent/exec.py)
    server -> agent  {"type": "exec-input", "id": S, "data": base64} ({"eof": true}: stdin
                     closed); {"type": "exec-resize", "id": S, "rows", "cols"};
                     {"type": "exec-cancel", "id": S} (the client went away)
    agent -> server  {"type": "exec-output", "id": S, "stream": 1|2, "data": base64};
                     {"type": "exec-exit", "id": S, "exitCode": N} (with "error" when the
                     command could not run); relayed by api/exec.py
    server -> agent  {"type": "update", "version": V, "agentHash": H, "sha256": Z,
                      "path": "/agent/package"}   UpdateContainerAgent (instances/agent_update.py)
    agent -> server  {"type": "update_status", "status": STAGING|STAGED|UPDATING|FAILED,
                      "version": V, "reason"?: R}   the agent's progress (agent/update.py)
    both             websocket ping/pong heartbeats (aiohttp `heartbeat=`)

Healing stays level-triggered: a delta the agent cannot place makes it ask (resync); an
unacknowledged message is resent after `ACK_TIMEOUT_S`; every (re)connect diffs the
store's set for the instance against what the server last sent; a task reported STOPPED
leaves the server's set silently (its agent is the one that told). The bookkeeping on
both sides is pure code in wire/generations.py.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

WS_PATH = "/agent/ws"
EXEC_TO_AGENT = frozenset({"exec-start", "exec-input", "exec-resize", "exec-cancel"})
EXEC_FROM_AGENT = frozenset({"exec-output", "exec-exit"})
HEARTBEAT_S = 10.0
ACK_TIMEOUT_S = 30.0  # an unacknowledged desired message is resent after this long


class WireTask(TypedDict):
    """A desired task as it travels: its definition by ARN (sent once per agent)."""

    taskArn: str
    desiredStatus: str  # RUNNING | STOPPED
    lastStatus: str
    taskDefinitionArn: str
    overrides: dict[str, Any]
    containers: list[dict[str, Any]]  # name, containerArn
    stopTimeout: NotRequired[int]
    group: NotRequired[str]  # "service:NAME" for a service's tasks (metrics per service)


class DesiredTask(TypedDict):
    """A desired task on the agent, its definition resolved from the agent's cache."""

    taskArn: str
    desiredStatus: str  # RUNNING | STOPPED
    lastStatus: str
    taskDefinition: dict[str, Any]
    overrides: dict[str, Any]
    containers: list[dict[str, Any]]  # name, containerArn
    taskDefinitionArn: NotRequired[str]
    stopTimeout: NotRequired[int]
    group: NotRequired[str]  # "service:NAME" for a service's tasks (metrics per service)


class DesiredMessage(TypedDict):
    type: str  # "desired"
    generation: int
    tasks: list[WireTask]
    taskDefinitions: dict[str, dict[str, Any]]
    full: NotRequired[bool]
    base: NotRequired[int]  # deltas: the generation they apply on
    removed: NotRequired[list[str]]


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
    eni: dict[str, str]  # awsvpc: privateIPv4Address, macAddress, networkInterfaceId


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
