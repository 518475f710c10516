"""Account-wide answers: DescribeAccountLimits (the quotas Dockyard enforces, under ELB's
names and default values) and GetResourcePolicy.

Every limit listed is checked by the module that owns the resource (the constant is
imported from there, so the answer cannot drift from the check); the two account-wide
quotas, load balancers per type and target groups, are checked here. Limits ELB has and
Dockyard does not check (targets per AZ, GENEVE, gateway load balancers) are not listed.
Dockyard shares no resources with other accounts (no AWS RAM), so no resource has a
resource policy: GetResourcePolicy answers ResourceNotFound for every ARN, saying why.
"""

from __future__ import annotations

from dockyard.api.elbv2 import actions, certificates, conditions, listeners, rules, targets
from dockyard.api.elbv2.paging import answer, page_in_memory, page_of
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import ResourceNotFound, TooManyLoadBalancers, TooManyTargetGroups
from dockyard.store import Kind, Tx

MAX_LOAD_BALANCERS = 50  # per type: ELB's application-load-balancers, network-load-balancers
MAX_TARGET_GROUPS = 3000  # ELB's target-groups (per region)

LIMITS: dict[str, int] = {
    "application-load-balancers": MAX_LOAD_BALANCERS,
    "network-load-balancers": MAX_LOAD_BALANCERS,
    "target-groups": MAX_TARGET_GROUPS,
    "listeners-per-application-load-balancer": listeners.MAX_LISTENERS,
    "listeners-per-network-load-balancer": listeners.MAX_LISTENERS,
    "rules-per-application-load-balancer": rules.MAX_RULES,
    "condition-values-per-alb-rule": conditions.MAX_VALUES,
    "target-groups-per-action-on-application-load-balancer": actions.MAX_TARGET_GROUPS,
    "certificates-per-application-load-balancer": certificates.MAX_CERTIFICATES,
    "targets-per-target-group": targets.MAX_TARGETS,
}


def check_load_balancer_quota(tx: Tx, lb_type: str) -> None:
    """Before creating a load balancer of `lb_type`: TooManyLoadBalancers at ELB's quota."""
    count = sum(
        1 for doc in tx.find(Kind.LOAD_BALANCER) if doc.get("Type", "application") == lb_type
    )
    if count >= MAX_LOAD_BALANCERS:
        raise TooManyLoadBalancers(
            f"You've reached the limit of {MAX_LOAD_BALANCERS} {lb_type} load balancers"
        )


def check_target_group_quota(tx: Tx) -> None:
    """Before creating a target group: TooManyTargetGroups at ELB's quota."""
    if tx.count(Kind.TARGET_GROUP) >= MAX_TARGET_GROUPS:
        raise TooManyTargetGroups(f"You've reached the limit of {MAX_TARGET_GROUPS} target groups")


def describe_account_limits(_ctx: ApiContext, params: Params) -> Result:
    page = page_of(params)
    names = sorted(LIMITS)
    items, marker = page_in_memory(names, page, lambda name: name)
    return answer("Limits", [{"Name": n, "Max": str(LIMITS[n])} for n in items], marker)


def get_resource_policy(_ctx: ApiContext, params: Params) -> Result:
    raise ResourceNotFound(
        f"No resource policy for '{params['ResourceArn']}': Dockyard shares no resources "
        "with other accounts, so none has a resource policy"
    )
