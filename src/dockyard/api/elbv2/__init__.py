"""The ELBv2 API (Application Load Balancers) on AWS's query protocol, version 2015-12-01.

One module per resource; this table maps each action to its handler. The
documents these handlers keep are the LB controller's input (see targets.py for
the target rows the ECS service controller writes through `elbv2/targets.py`).
"""

from __future__ import annotations

from dockyard.api.elbv2 import (
    certificates,
    listeners,
    load_balancers,
    rules,
    tags,
    target_groups,
    targets,
)
from dockyard.api.query_protocol import QueryService
from dockyard.context import Handler

HANDLERS: dict[str, Handler] = {
    "CreateLoadBalancer": load_balancers.create_load_balancer,
    "DescribeLoadBalancers": load_balancers.describe_load_balancers,
    "DeleteLoadBalancer": load_balancers.delete_load_balancer,
    "DescribeLoadBalancerAttributes": load_balancers.describe_load_balancer_attributes,
    "ModifyLoadBalancerAttributes": load_balancers.modify_load_balancer_attributes,
    "CreateTargetGroup": target_groups.create_target_group,
    "DescribeTargetGroups": target_groups.describe_target_groups,
    "ModifyTargetGroup": target_groups.modify_target_group,
    "DeleteTargetGroup": target_groups.delete_target_group,
    "DescribeTargetGroupAttributes": target_groups.describe_target_group_attributes,
    "ModifyTargetGroupAttributes": target_groups.modify_target_group_attributes,
    "CreateListener": listeners.create_listener,
    "DescribeListeners": listeners.describe_listeners,
    "ModifyListener": listeners.modify_listener,
    "DeleteListener": listeners.delete_listener,
    "AddListenerCertificates": certificates.add_listener_certificates,
    "RemoveListenerCertificates": certificates.remove_listener_certificates,
    "DescribeListenerCertificates": certificates.describe_listener_certificates,
    "DescribeSSLPolicies": certificates.describe_ssl_policies,
    "CreateRule": rules.create_rule,
    "DescribeRules": rules.describe_rules,
    "ModifyRule": rules.modify_rule,
    "SetRulePriorities": rules.set_rule_priorities,
    "DeleteRule": rules.delete_rule,
    "RegisterTargets": targets.register_targets_action,
    "DeregisterTargets": targets.deregister_targets_action,
    "DescribeTargetHealth": targets.describe_target_health,
    "AddTags": tags.add_tags,
    "RemoveTags": tags.remove_tags,
    "DescribeTags": tags.describe_tags,
}

ELBV2 = QueryService(model_name="elbv2", handlers=HANDLERS)
