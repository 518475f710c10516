"""ListContainerInstances `filter`: the cluster query language over stored instances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.scheduler.query import compile_query
from dockyard.store import Tx
from dockyard.tasks.memory import memory_of


def instance_filter(expression: str) -> Callable[[Tx, dict[str, Any]], bool]:
    """Compile once (syntax errors raise InvalidParameterException), then match each doc."""
    query = compile_query(expression)

    def matches(tx: Tx, doc: dict[str, Any]) -> bool:
        # task-group counts only when the expression reads them (task:group, ...)
        return query.matches(memory_of(tx).view(tx, doc, groups=query.dynamic))

    return matches
