"""Task and container lifecycle: ordered statuses that only move forward.

    PROVISIONING < PENDING < ACTIVATING < RUNNING < DEACTIVATING < STOPPING
                 < DEPROVISIONING < STOPPED

Each task has a *desired* status (RUNNING or STOPPED, written by the API and the
controllers) and a *last* (known) status, written only from the agent's reports
or when the control plane gives a task up (host lost). Shared by server and agent.
"""

from __future__ import annotations

import enum


class TaskStatus(enum.IntEnum):
    PROVISIONING = 0
    PENDING = 1
    ACTIVATING = 2
    RUNNING = 3
    DEACTIVATING = 4
    STOPPING = 5
    DEPROVISIONING = 6
    STOPPED = 7

    @classmethod
    def parse(cls, text: str) -> TaskStatus:
        return cls[text]


PENDING_STATUSES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
LIVE_STATUSES = frozenset(s.name for s in TaskStatus if s is not TaskStatus.STOPPED)


def advance(current: str, reported: str) -> str:
    """The status after a report: the later of the two (statuses never move back)."""
    return max(TaskStatus.parse(current), TaskStatus.parse(reported)).name


class StopCode(enum.StrEnum):
    """ECS stopCode values."""

    TASK_FAILED_TO_START = "TaskFailedToStart"
    ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
    USER_INITIATED = "UserInitiated"
    SERVICE_SCHEDULER_INITIATED = "ServiceSchedulerInitiated"
    SPOT_INTERRUPTION = "SpotInterruption"
    TERMINATION_NOTICE = "TerminationNotice"
