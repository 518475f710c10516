"""Generations and deltas of desired sets: the bookkeeping of both ends, pure.

    server: InstanceView  (one per instance, kept across its connections)
        record/forget/reconcile  -> unsent changes
        delta()                  -> {"generation": G, "base": previous G, changes}
        ack(G) / overdue(now)    -> what the agent holds; resend() from the acknowledged G
        plan_sync(agent G)       -> "none" | "resend" | "full"   (connect and resync)
    agent: AgentView      (one per agent process)
        receive(message)         -> Applied(full?, tasks, removed, G) | Resync(G) | None

A task's *fingerprint* is what the agent acts on and the server can change after the
task was placed: its desiredStatus. lastStatus travels with the entry but is the
agent's own news, so it never makes a delta. No I/O, no clock (`now` is passed in):
tests/unit/test_agent_generations.py drives both ends against each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dockyard.wire.agent import DesiredMessage, DesiredTask, WireTask

Definition = dict[str, Any]
DefinitionLookup = Callable[[str], Definition]
SyncPlan = Literal["none", "resend", "full"]


def fingerprint(task: WireTask) -> str:
    return task["desiredStatus"]


@dataclass
class InstanceView:
    """What the server sent one instance's agent, what it acknowledged, what is unsent."""

    next_generation: Callable[[], int]
    generation: int = 0  # of the last message built (0: nothing sent yet)
    acked: int = 0
    known: dict[str, str] = field(default_factory=dict)  # the desired set: arn -> fingerprint
    unsent: dict[str, WireTask | None] = field(default_factory=dict)  # None: removed
    inflight: dict[str, tuple[int, WireTask | None]] = field(default_factory=dict)
    definitions: set[str] = field(default_factory=set)  # definition ARNs sent to this agent
    full_generation: int | None = None  # a full set not acknowledged yet
    sent_at: float | None = None  # when the oldest unacknowledged message went out

    # -- changes ----------------------------------------------------------------------------
    def record(self, arn: str, task: WireTask | None) -> bool:
        """The task's current entry (None: no longer desired here). True if it changed."""
        if task is None:
            if arn not in self.known:
                self.unsent.pop(arn, None)
                return False
            del self.known[arn]
        else:
            mark = fingerprint(task)
            if self.known.get(arn) == mark:
                return False
            self.known[arn] = mark
        self.unsent[arn] = task
        return True

    def forget(self, arn: str) -> None:
        """The agent reported the task STOPPED: drop it without telling the agent."""
        self.known.pop(arn, None)
        self.unsent.pop(arn, None)
        self.inflight.pop(arn, None)

    def reconcile(self, tasks: Iterable[WireTask]) -> int:
        """Diff the store's whole set for the instance against the view; count changes."""
        listed: set[str] = set()
        changes = 0
        for task in tasks:
            listed.add(task["taskArn"])
            changes += self.record(task["taskArn"], task)
        for arn in [a for a in self.known if a not in listed]:
            changes += self.record(arn, None)
        return changes

    def has_unsent(self) -> bool:
        return bool(self.unsent)

    # -- messages ---------------------------------------------------------------------------
    def delta(self, definition: DefinitionLookup, now: float) -> DesiredMessage | None:
        """The unsent changes since the last message; None when there are none."""
        if not self.unsent:
            return None
        base = self.generation
        changes, self.unsent = self.unsent, {}
        return self._message(changes, base, definition, now, resend=False)

    def resend(self, definition: DefinitionLookup, now: float) -> DesiredMessage | None:
        """Every change since the acknowledged generation (None: only a full set will do)."""
        if self.full_generation is not None or self.acked == 0:
            return None
        changes = {arn: task for arn, (_g, task) in self.inflight.items()}
        changes.update(self.unsent)
        self.unsent = {}
        return self._message(changes, self.acked, definition, now, resend=True)

    def full(
        self, tasks: list[WireTask], definition: DefinitionLookup, now: float
    ) -> DesiredMessage:
        """Start over: the whole set with every definition it uses."""
        self.generation = self.next_generation()
        self.known = {t["taskArn"]: fingerprint(t) for t in tasks}
        self.unsent, self.inflight = {}, {}
        self.definitions = {t["taskDefinitionArn"] for t in tasks}
        self.full_generation = self.generation
        self.sent_at = now
        return {
            "type": "desired",
            "full": True,
            "generation": self.generation,
            "tasks": tasks,
            "taskDefinitions": {arn: definition(arn) for arn in sorted(self.definitions)},
        }

    def _message(
        self,
        changes: Mapping[str, WireTask | None],
        base: int,
        definition: DefinitionLookup,
        now: float,
        *,
        resend: bool,
    ) -> DesiredMessage:
        self.generation = self.next_generation()
        upserts = [task for task in changes.values() if task is not None]
        needed = {t["taskDefinitionArn"] for t in upserts}
        if not resend:  # a resend repeats definitions: the message that carried one may be lost
            needed -= self.definitions
        self.definitions |= needed
        for arn, task in changes.items():
            self.inflight[arn] = (self.generation, task)
        if self.sent_at is None:
            self.sent_at = now
        return {
            "type": "desired",
            "generation": self.generation,
            "base": base,
            "tasks": upserts,
            "removed": [arn for arn, task in changes.items() if task is None],
            "taskDefinitions": {arn: definition(arn) for arn in sorted(needed)},
        }

    # -- acknowledgements -------------------------------------------------------------------
    def ack(self, generation: int, now: float) -> None:
        if generation > self.generation or generation <= self.acked:
            return  # not ours (a previous server run) or old news
        self.acked = generation
        if self.full_generation is not None and generation >= self.full_generation:
            self.full_generation = None
        self.inflight = {a: (g, t) for a, (g, t) in self.inflight.items() if g > generation}
        self.sent_at = None if generation == self.generation else now

    def overdue(self, now: float, timeout_s: float) -> bool:
        return self.sent_at is not None and now - self.sent_at >= timeout_s

    def plan_sync(self, agent_generation: int) -> SyncPlan:
        """On connect or resync: can the agent's set be brought up to date with deltas?"""
        if agent_generation <= 0 or self.generation == 0:
            return "full"
        if agent_generation == self.generation:
            self.ack(agent_generation, 0.0)
            return "none"
        if self.full_generation is None and self.acked <= agent_generation < self.generation:
            return "resend"
        return "full"


@dataclass(frozen=True)
class Applied:
    """A desired message to apply: a full set (stop what it lacks) or changes."""

    generation: int
    full: bool
    tasks: list[DesiredTask]
    removed: list[str]


@dataclass(frozen=True)
class Resync:
    """Ask the server to repair: changes since `generation`, or everything when 0."""

    generation: int


@dataclass
class AgentView:
    """The agent's generation and its cache of task definitions (by ARN, in memory).

    The cache is not kept on disk: a restarted agent connects with generation 0 and
    receives a full set with every definition, once.
    """

    generation: int = 0
    definitions: dict[str, Definition] = field(default_factory=dict)
    resync_asked: bool = False  # one request in flight at a time

    def receive(self, message: DesiredMessage) -> Applied | Resync | None:
        """Decide what to do with a desired message (None: nothing new; acknowledge it)."""
        self.definitions.update(message.get("taskDefinitions", {}))
        generation = int(message["generation"])
        full = bool(message.get("full"))
        if not full and generation <= self.generation:
            return None
        if not full and int(message.get("base", 0)) > self.generation:
            return self._resync(self.generation)  # a message in between was lost
        tasks: list[DesiredTask] = []
        for wire in message["tasks"]:
            definition = self.definitions.get(wire["taskDefinitionArn"])
            if definition is None:
                return self._resync(0)  # a definition never arrived: start over
            tasks.append(resolve(wire, definition))
        if full:  # the server now believes this agent holds exactly these definitions
            used = {t["taskDefinitionArn"] for t in message["tasks"]}
            self.definitions = {a: d for a, d in self.definitions.items() if a in used}
        self.generation = generation
        self.resync_asked = False
        return Applied(generation, full, tasks, list(message.get("removed", [])))

    def _resync(self, generation: int) -> Resync | None:
        if self.resync_asked:
            return None
        self.resync_asked = True
        return Resync(generation)


def resolve(wire: WireTask, definition: Definition) -> DesiredTask:
    task: DesiredTask = {
        "taskArn": wire["taskArn"],
        "desiredStatus": wire["desiredStatus"],
        "lastStatus": wire["lastStatus"],
        "taskDefinition": definition,
        "taskDefinitionArn": wire["taskDefinitionArn"],
        "overrides": wire.get("overrides", {}),
        "containers": wire.get("containers", []),
    }
    if "group" in wire:
        task["group"] = wire["group"]
    if "stopTimeout" in wire:
        task["stopTimeout"] = wire["stopTimeout"]
    return task
