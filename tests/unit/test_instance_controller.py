"""Host-lost planning: pure."""

from __future__ import annotations

import pytest

from dockyard.controllers.instances import lost_reason, plan_lost_hosts


@pytest.mark.parametrize(
    ("doc", "lost"),
    [
        pytest.param({"agentConnected": True, "disconnectedAt": 0.0}, False, id="connected"),
        pytest.param({"agentConnected": False, "disconnectedAt": 100.0}, False, id="within-grace"),
        pytest.param({"agentConnected": False, "disconnectedAt": 39.0}, True, id="past-grace"),
        pytest.param({"agentConnected": False, "disconnectedAt": 40.0}, False, id="exactly-grace"),
        pytest.param({"agentConnected": False}, False, id="never-seen"),
    ],
)
def test_plan_lost_hosts(doc: dict[str, object], lost: bool) -> None:
    doc = {"containerInstanceArn": "arn:x", **doc}
    assert plan_lost_hosts([doc], now=100.0, grace_s=60.0) == (["arn:x"] if lost else [])


def test_reason_names_the_host() -> None:
    assert "i-123" in lost_reason({"ec2InstanceId": "i-123"}, 60.0)
    assert "60 seconds" in lost_reason({"ec2InstanceId": "i-123"}, 60.0)
