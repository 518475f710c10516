"""lb_states: DescribeLoadBalancers' State from what HAProxy serves (a pure function)."""

from __future__ import annotations

import pytest

from dockyard.lb.model import LbModel, Listener
from dockyard.lb.render import frontends, left_out
from dockyard.lb.state import ACTIVE, PROVISIONING, failed, lb_states

WEB = Listener("arn:l/web/80", "web", 20080, None)
WEB_2 = Listener("arn:l/web/81", "web", 20081, None)
API = Listener("arn:l/api/80", "api", 20090, None)
MODEL = LbModel(("api", "idle", "web"), (API, WEB, WEB_2))
ALL = {"lb-web-20080", "lb-web-20081", "lb-api-20090"}


@pytest.mark.parametrize(
    ("served", "failure", "expected"),
    [
        pytest.param(ALL, None, {"api": ACTIVE, "idle": ACTIVE, "web": ACTIVE}, id="serving"),
        pytest.param(
            {"lb-api-20090", "lb-web-20080"},
            None,
            {"api": ACTIVE, "idle": ACTIVE, "web": PROVISIONING},
            id="a-listener-not-bound-yet",
        ),
        pytest.param(
            set(),
            "HAProxy could not run: [Errno 2] No such file or directory: '/nonexistent'",
            {
                "api": failed(
                    "HAProxy could not run: [Errno 2] No such file or directory: '/nonexistent'"
                ),
                "idle": ACTIVE,
                "web": failed(
                    "HAProxy could not run: [Errno 2] No such file or directory: '/nonexistent'"
                ),
            },
            id="haproxy-missing",
        ),
        pytest.param(
            {"lb-api-20090", "lb-web-20080"},
            "reload failed; the old worker still serves. cannot bind socket",
            {
                "api": ACTIVE,
                "idle": ACTIVE,
                "web": failed("reload failed; the old worker still serves. cannot bind socket"),
            },
            id="a-new-port-cannot-be-bound",
        ),
    ],
)
def test_lb_states(served: set[str], failure: str | None, expected: dict[str, object]) -> None:
    assert lb_states(MODEL, served, failure) == expected


def test_a_listener_the_renderer_left_out_fails_its_load_balancer() -> None:
    config = (
        "frontend lb-web-20080\n    bind 127.0.0.1:20080\n\n"
        "# listener arn:l/api/80: port 20090 is taken; not served\n"
    )
    assert frontends(config) == {"lb-web-20080"}
    states = lb_states(MODEL, ALL - {"lb-api-20090"}, None, left_out(config))
    assert states["api"] == failed("Listener on port 20090: port 20090 is taken")
    assert states["web"] == ACTIVE


def test_reasons_are_one_bounded_line() -> None:
    state = failed("haproxy exited with 1:\n  [ALERT] cannot bind socket\n" + "x" * 1000)
    assert state["Code"] == "failed" and "\n" not in state["Reason"]
    assert state["Reason"].startswith("haproxy exited with 1: [ALERT] cannot bind socket")
    assert len(state["Reason"]) <= 400
