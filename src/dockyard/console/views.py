"""Pure view-models: API-shaped documents (as DescribeX answers them) -> what a page shows.

No I/O and no clock inside (`now` is passed in), so every figure a page shows
is tested from a document literal. Templates only lay these out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Doc = Mapping[str, Any]


def arn_name(arn: str) -> str:
    """The last path part of an ARN: a task id, a service or cluster name."""
    return arn.rsplit("/", 1)[-1]


def task_definition_label(arn: str) -> str:
    """`family:revision` of a task definition ARN."""
    return arn.rsplit("/", 1)[-1]


def ago(timestamp: float | None, now: float) -> str:
    """`12s ago`, `5m ago`, `3h ago`, `2d ago` (empty when unknown)."""
    if timestamp is None:
        return ""
    seconds = max(0, int(now - float(timestamp)))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _resource(resources: Sequence[Doc], name: str) -> int:
    for item in resources:
        if item.get("name") == name:
            return int(item.get("integerValue", 0))
    return 0


@dataclass(frozen=True)
class Bar:
    """A used/registered bar, e.g. CPU units reserved by tasks on an instance."""

    used: int
    total: int

    @property
    def percent(self) -> int:
        return 0 if self.total <= 0 else min(100, round(100 * self.used / self.total))

    @property
    def level(self) -> str:
        return "high" if self.percent >= 90 else "mid" if self.percent >= 70 else "low"


@dataclass(frozen=True)
class InstanceRow:
    arn: str
    id: str
    status: str
    connected: bool
    running: int
    pending: int
    cpu: Bar
    memory: Bar
    address: str

    @property
    def agent_state(self) -> str:
        return "connected" if self.connected else "disconnected"


def instance_row(doc: Doc) -> InstanceRow:
    registered = doc.get("registeredResources", [])
    remaining = doc.get("remainingResources", [])
    bars = {}
    for name in ("CPU", "MEMORY"):
        total = _resource(registered, name)
        bars[name] = Bar(total - _resource(remaining, name), total)
    attrs = {a.get("name"): a.get("value") for a in doc.get("attributes", [])}
    return InstanceRow(
        arn=doc["containerInstanceArn"],
        id=arn_name(doc["containerInstanceArn"]),
        status=doc.get("status", ""),
        connected=bool(doc.get("agentConnected")),
        running=int(doc.get("runningTasksCount", 0)),
        pending=int(doc.get("pendingTasksCount", 0)),
        cpu=bars["CPU"],
        memory=bars["MEMORY"],
        address=str(attrs.get("dockyard.host-ip") or doc.get("ec2InstanceId") or ""),
    )


@dataclass(frozen=True)
class DeploymentRow:
    id: str
    status: str
    task_definition: str
    desired: int
    running: int
    pending: int
    failed: int
    rollout: str
    reason: str

    @property
    def progress(self) -> int:
        """Running tasks as a share of desired ones (a scale-in to 0 is complete)."""
        if self.desired <= 0:
            return 100 if self.running == 0 else 0
        return min(100, round(100 * self.running / self.desired))


def deployment_rows(service: Doc) -> list[DeploymentRow]:
    """PRIMARY first, then older deployments newest first, as the AWS console lists them."""
    deployments = sorted(
        service.get("deployments", []),
        key=lambda d: (d.get("status") != "PRIMARY", -float(d.get("createdAt") or 0)),
    )
    return [
        DeploymentRow(
            id=d.get("id", ""),
            status=d.get("status", ""),
            task_definition=task_definition_label(d.get("taskDefinition", "")),
            desired=int(d.get("desiredCount", 0)),
            running=int(d.get("runningCount", 0)),
            pending=int(d.get("pendingCount", 0)),
            failed=int(d.get("failedTasks", 0)),
            rollout=d.get("rolloutState", ""),
            reason=d.get("rolloutStateReason", ""),
        )
        for d in deployments
    ]


@dataclass(frozen=True)
class ContainerRow:
    name: str
    image: str
    status: str
    exit_code: int | None
    reason: str
    health: str
    ports: str


def container_rows(task: Doc) -> list[ContainerRow]:
    rows = []
    for c in task.get("containers", []):
        ports = ", ".join(
            f"{b.get('bindIP', '')}:{b.get('hostPort')}->{b.get('containerPort')}/"
            f"{b.get('protocol', 'tcp')}"
            for b in c.get("networkBindings", [])
        )
        rows.append(
            ContainerRow(
                name=c.get("name", ""),
                image=c.get("image", ""),
                status=c.get("lastStatus", ""),
                exit_code=c.get("exitCode"),
                reason=c.get("reason", ""),
                health=c.get("healthStatus", ""),
                ports=ports,
            )
        )
    return rows


@dataclass(frozen=True)
class TaskRow:
    arn: str
    id: str
    group: str
    task_definition: str
    last_status: str
    desired_status: str
    health: str
    instance: str
    started: str
    stopped_reason: str


def task_row(task: Doc, now: float) -> TaskRow:
    return TaskRow(
        arn=task["taskArn"],
        id=arn_name(task["taskArn"]),
        group=task.get("group", ""),
        task_definition=task_definition_label(task.get("taskDefinitionArn", "")),
        last_status=task.get("lastStatus", ""),
        desired_status=task.get("desiredStatus", ""),
        health=task.get("healthStatus", ""),
        instance=arn_name(task.get("containerInstanceArn", "")),
        started=ago(task.get("startedAt") or task.get("createdAt"), now),
        stopped_reason=task.get("stoppedReason", ""),
    )


def event_rows(service: Doc, now: float, limit: int = 20) -> list[tuple[str, str]]:
    """The newest events first (ECS already keeps them newest first), with their age."""
    return [
        (ago(e.get("createdAt"), now), e.get("message", "")) for e in service.get("events", [])
    ][:limit]


def _condition_text(condition: Doc) -> str:
    field_name = condition.get("Field", "")
    values: list[str] = list(condition.get("Values", []))
    for key in ("PathPatternConfig", "HostHeaderConfig", "HttpRequestMethodConfig",
                "SourceIpConfig"):  # fmt: skip
        values = values or list(condition.get(key, {}).get("Values", []))
    if "HttpHeaderConfig" in condition:
        config = condition["HttpHeaderConfig"]
        field_name = f"http-header {config.get('HttpHeaderName', '')}"
        values = list(config.get("Values", []))
    if "QueryStringConfig" in condition:
        values = [f"{p.get('Key', '')}={p.get('Value', '')}"
                  for p in condition["QueryStringConfig"].get("Values", [])]  # fmt: skip
    return f"{field_name} is {' or '.join(values)}"


def _action_text(action: Doc, group_names: Mapping[str, str]) -> str:
    kind = str(action.get("Type", ""))
    if kind == "forward":
        groups = [(g.get("TargetGroupArn", ""), g.get("Weight"))
                  for g in action.get("ForwardConfig", {}).get("TargetGroups", [])]  # fmt: skip
        if not groups and action.get("TargetGroupArn"):
            groups = [(action["TargetGroupArn"], None)]
        parts = [group_names.get(arn, arn_name(arn)) + (f" ({w})" if w is not None and
                 len(groups) > 1 else "") for arn, w in groups]  # fmt: skip
        return "forward to " + ", ".join(parts)
    if kind == "fixed-response":
        return f"fixed response {action.get('FixedResponseConfig', {}).get('StatusCode', '')}"
    if kind == "redirect":
        config = action.get("RedirectConfig", {})
        target = f"{config.get('Host', '#{host}')}{config.get('Path', '/#{path}')}"
        return f"redirect {config.get('StatusCode', '')} to {target}"
    return kind


@dataclass(frozen=True)
class RuleRow:
    priority: str
    conditions: str
    actions: str


def rule_row(rule: Doc, group_names: Mapping[str, str]) -> RuleRow:
    """A listener rule as a person reads it: `path-pattern is /api/*` -> `forward to api`."""
    conditions = [_condition_text(c) for c in rule.get("Conditions", [])]
    actions = sorted(rule.get("Actions", []), key=lambda a: a.get("Order", 0))
    return RuleRow(
        priority=str(rule.get("Priority", "")),
        conditions=" and ".join(conditions) or "(default)",
        actions="; ".join(_action_text(a, group_names) for a in actions),
    )
