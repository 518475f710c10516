"""DescribeLoadBalancers' State from what the data plane does: a pure function.

CreateLoadBalancer answers `provisioning` (as ELB does); the controller's next step
writes what this function says:

    no listener                                    -> active (nothing to bind: ELB, too,
                                                      shows active with no listener)
    every listener's frontend runs in HAProxy      -> active
    a listener the renderer left out (its port is
      another load balancer's, HTTPS without a
      certificate)                                 -> failed, Reason = the renderer's why
    HAProxy cannot run (missing, exits, a port it
      cannot bind, a refused config) and a listener
      of this load balancer is not served          -> failed, Reason = why
    otherwise (listeners not bound yet)            -> provisioning

`served` is the set of frontends of the configuration the running worker loaded
(empty when no HAProxy runs). The controller writes a State only when it changed,
before a start or reload (a new listener: `provisioning`) and after it (`active` or
`failed`), and keeps retrying, so a load balancer returns to `active` by itself.
Neighbours: `render.frontend_name` (the frontend of a listener), `controller.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from dockyard.lb.model import LbModel
from dockyard.lb.render import frontend_name

State = dict[str, str]
ACTIVE: State = {"Code": "active"}
PROVISIONING: State = {"Code": "provisioning"}
REASON_MAX = 400


def failed(reason: str) -> State:
    text = " ".join(reason.split())
    return {"Code": "failed", "Reason": text[:REASON_MAX]}


def lb_states(
    model: LbModel,
    served: Set[str],
    failure: str | None,
    left_out: Mapping[str, str] | None = None,
) -> dict[str, State]:
    """Load balancer name -> State."""
    out: dict[str, State] = dict.fromkeys(model.load_balancers, ACTIVE)
    for listener in model.listeners:
        name = listener.lb_name
        why = (left_out or {}).get(listener.arn)
        if why is not None:
            out[name] = failed(f"Listener on port {listener.port}: {why}")
        elif frontend_name(listener) in served or out.get(name, ACTIVE)["Code"] == "failed":
            continue
        elif failure is not None:
            out[name] = failed(failure)
        else:
            out[name] = PROVISIONING
    return out
