"""The service reconcile's shared vocabulary: one step's context, ECS texts, orderings.

Neighbours: `reconcile.py` builds a `Context` once per call and hands it to the
strategy modules (`rolling.py` for REPLICA, `daemon.py` for DAEMON) and to
`circuit_breaker.py`. Every message the reconcile writes (events and stop
reasons) is spelled here, so tests and the loop can refer to one place.

Vocabulary:
    home      instances a task of this service may stay on: ACTIVE ones (REPLICA),
              ACTIVE and eligible ones (DAEMON). A task elsewhere is *leaving*.
    doomed    tasks this step stops for failed health checks (still live, so they
              still count toward maximumPercent until they are STOPPED).
    kept      live tasks still wanted after this step's health stops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.controllers.services.model import (
    DeploymentView,
    InstanceView,
    ServiceView,
    TaskView,
)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class Context:
    service: ServiceView
    primary: DeploymentView
    deployments: tuple[DeploymentView, ...]  # sorted by (created_at, id)
    tasks: tuple[TaskView, ...]  # sorted by arn
    home: frozenset[str]  # instance ARNs tasks may stay on
    doomed: frozenset[str]  # task ARNs stopped for failed health checks this step
    desired: int  # the count to keep: desiredCount, eligible instances (DAEMON), 0 if DRAINING
    can_start: bool  # False while the primary deployment is FAILED (circuit breaker)
    instances: tuple[InstanceView, ...] = ()  # the cluster's, for the scale-in order

    @property
    def instances_by_arn(self) -> dict[str, InstanceView]:
        return {i.arn: i for i in self.instances}

    def leaving(self, task: TaskView) -> bool:
        return task.instance_arn not in self.home

    def is_primary(self, task: TaskView) -> bool:
        return task.deployment_id == self.primary.id

    @property
    def live(self) -> list[TaskView]:
        return [t for t in self.tasks if t.live]

    @property
    def kept(self) -> list[TaskView]:
        return [t for t in self.tasks if t.wanted and t.arn not in self.doomed]

    def deployment_age(self, task: TaskView) -> float:
        """created_at of the task's deployment; tasks of unknown deployments count as oldest."""
        for d in self.deployments:
            if d.id == task.deployment_id:
                return d.created_at
        return float("-inf")

    # -- texts -------------------------------------------------------------------------

    @property
    def scaling_reason(self) -> str:
        return scaling_reason(self.primary.id)

    @property
    def draining_reason(self) -> str:
        return draining_reason(self.service.name)

    @property
    def ineligible_reason(self) -> str:
        return (
            f"Service {self.service.name}: container instance no longer meets "
            "the placement constraints"
        )


def scaling_reason(deployment_id: str) -> str:
    """The stop reason of a scale-in (`deployment_id`: a deployment or a task set id)."""
    return f"Scaling activity initiated by (deployment {deployment_id})"


def draining_reason(service_name: str) -> str:
    return f"Service {service_name}: container instance is in DRAINING state"


HEALTH_REASON = "Task failed container health checks."
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: task failed to start."


def steady_message(name: str) -> str:
    return f"(service {name}) has reached a steady state."


def completed_message(name: str, deployment_id: str) -> str:
    return f"(service {name}) (deployment {deployment_id}) deployment completed."


def failed_message(name: str, deployment_id: str) -> str:
    return (
        f"(service {name}) (deployment {deployment_id}) deployment failed: tasks failed to start."
    )


def rollback_message(name: str, failed_id: str, new_id: str) -> str:
    return f"(service {name}) (deployment {failed_id}) rolling back to deployment {new_id}."


def stuck_message(service: ServiceView, desired: int) -> str:
    return (
        f"(service {service.name}) was unable to make progress: the deployment configuration "
        f"(minimumHealthyPercent {service.minimum_healthy_percent}%, "
        f"maximumPercent {service.maximum_percent}%) allows neither starting a new task "
        f"nor stopping an old one with desiredCount {desired}."
    )


# -- orderings -------------------------------------------------------------------------


def least_useful_first(tasks: Iterable[TaskView]) -> list[TaskView]:
    """Which of several equivalent tasks to stop first: not healthy, then not yet
    RUNNING, then the newest (it has served least), then by ARN."""
    return sorted(
        tasks, key=lambda t: (t.healthy, t.last_status == "RUNNING", -t.created_at, t.arn)
    )


def within_budget(candidates: Iterable[TaskView], budget: int) -> tuple[list[TaskView], int]:
    """Pick the candidates to stop, keeping their order: every one that is not healthy
    (stopping it never lowers the healthy count), and healthy ones while `budget`
    (healthy tasks above minimumHealthyPercent) lasts. Returns the picks and the
    budget left."""
    picked = []
    for task in candidates:
        if not task.healthy:
            picked.append(task)
        elif budget > 0:
            picked.append(task)
            budget -= 1
    return picked, budget
