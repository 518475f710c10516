"""The store interface: transactions over kinds of JSON documents.

A *kind* is one table: a primary key (an ARN), a few indexed columns, and the
document itself (the AWS-shaped dict the API answers with). Handlers open one
transaction per API call, so a request that fails half-way writes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Doc = dict[str, Any]


class Kind(enum.Enum):
    """Document kinds and their tables."""

    CLUSTER = "clusters"
    TASK_DEFINITION = "task_definitions"
    CONTAINER_INSTANCE = "container_instances"
    TASK = "tasks"
    SERVICE = "services"
    LOAD_BALANCER = "load_balancers"
    LISTENER = "listeners"
    RULE = "rules"
    TARGET_GROUP = "target_groups"
    TARGET = "targets"
    ALARM = "alarms"
    ALARM_HISTORY = "alarm_history"
    SCALABLE_TARGET = "scalable_targets"
    SCALING_POLICY = "scaling_policies"
    SCHEDULED_ACTION = "scheduled_actions"
    SCALING_ACTIVITY = "scaling_activities"


class Tx(Protocol):
    """One transaction. Every method runs inside it; nothing is visible until commit."""

    def get(self, kind: Kind, key: str) -> Doc | None: ...

    def find(
        self,
        kind: Kind,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[str] = (),
        descending: bool = False,
        after: Sequence[Any] | None = None,
        limit: int | None = None,
        prefix: tuple[str, str] | None = None,
    ) -> list[Doc]:
        """Documents whose indexed columns equal `where` (a list value means IN)."""
        ...

    def count(self, kind: Kind, where: Mapping[str, Any] | None = None) -> int: ...

    def distinct(
        self,
        kind: Kind,
        column: str,
        where: Mapping[str, Any] | None = None,
        prefix: tuple[str, str] | None = None,
    ) -> list[Any]: ...

    def max(self, kind: Kind, column: str, where: Mapping[str, Any] | None = None) -> Any: ...

    def insert(self, kind: Kind, key: str, doc: Doc, **columns: Any) -> None: ...

    def update(self, kind: Kind, key: str, doc: Doc, **columns: Any) -> None: ...

    def delete(self, kind: Kind, key: str) -> None: ...

    def find_raw(self, kind: Kind, where: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """(key, stored document) pairs, undecoded (JSON text where the backend keeps text)."""
        ...

    def get_row(self, kind: Kind, key: str) -> dict[str, Any] | None:
        """Every column of a row (the document under "doc")."""
        ...

    def find_rows(self, kind: Kind, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every column of matching rows, ordered by key."""
        ...

    def get_tags(self, resource_arn: str) -> list[dict[str, str]]: ...

    def put_tags(self, resource_arn: str, tags: Sequence[Mapping[str, str]]) -> None: ...

    def remove_tags(self, resource_arn: str, keys: Sequence[str]) -> None: ...

    def delete_all_tags(self, resource_arn: str) -> None: ...


class Store(Protocol):
    """A backend: opens transactions and migrates its schema."""

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction (may be served by a replica later)."""
        ...

    def close(self) -> None: ...
