"""What another server's commit wakes here, by the kinds it wrote (ha/wakeups.py)."""

from __future__ import annotations

import pytest

from dockyard.ha.wakeups import Wake, wakeups


@pytest.mark.parametrize(
    ("kinds", "leader", "expected"),
    [
        pytest.param(None, True, Wake(desired=True, services=True, lb=True), id="unknown-leader"),
        pytest.param(None, False, Wake(desired=True, services=False, lb=False), id="unknown"),
        pytest.param({"TASK"}, True, Wake(desired=True, services=True, lb=False), id="task"),
        pytest.param({"TASK"}, False, Wake(desired=True, services=False, lb=False), id="follower"),
        pytest.param({"SERVICE"}, True, Wake(desired=False, services=True, lb=False), id="svc"),
        pytest.param({"LISTENER"}, True, Wake(desired=False, services=False, lb=True), id="lb"),
        pytest.param({"TARGET"}, True, Wake(desired=False, services=True, lb=True), id="target"),
        pytest.param({"CERTIFICATE"}, True, Wake(False, False, True), id="certificate"),
        pytest.param({"CONTAINER_INSTANCE"}, True, Wake(True, True, True), id="instance"),
        pytest.param({"ALARM", "TAGS"}, True, Wake(False, False, False), id="nothing"),
        pytest.param(set(), True, Wake(False, False, False), id="empty"),
    ],
)
def test_wakeups(kinds: set[str] | None, leader: bool, expected: Wake) -> None:
    assert wakeups(None if kinds is None else frozenset(kinds), leader) == expected
