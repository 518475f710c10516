"""What every action handler receives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.arns import Identity
from dockyard.store import Store

Params = dict[str, Any]
Result = dict[str, Any]


@dataclass
class ApiContext:
    """Shared by all requests of one server: the store, the identity and the clock."""

    store: Store
    identity: Identity = field(default_factory=Identity)
    clock: Callable[[], float] = time.time

    def now(self) -> float:
        return round(self.clock(), 3)


Handler = Callable[[ApiContext, Params], Result]
