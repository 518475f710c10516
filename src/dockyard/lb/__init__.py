"""The load balancer: the ELBv2 model in the store, served by one HAProxy.

`LbController` (controller.py) is the entry point; see README.md for the flow.
"""

from dockyard.lb.controller import LbController
from dockyard.lb.settings import LbSettings

__all__ = ["LbController", "LbSettings"]
