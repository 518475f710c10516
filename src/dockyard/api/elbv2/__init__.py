"""The ELBv2 API (Application Load Balancers) on AWS's query protocol, version 2015-12-01.

One module per resource; this table maps each action to its handler. The
documents these handlers keep are the LB controller's input (see targets.py for
the target rows the ECS service controller writes through `elbv2/targets.py`).
"""

from __future__ import annotations

from dockyard.api.elbv2 import (
    account,
    certificates,
    listener_attributes,
    listeners,
    load_balancers,
    network_settings,
    rules,
    tags,
    target_groups,
    targets,
    trust_store_revocations,
    trust_stores,
    unsupported,
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
    "DescribeListenerAttributes": listener_attributes.describe_listener_attributes,
    "ModifyListenerAttributes": listener_attributes.modify_listener_attributes,
    "SetSubnets": network_settings.set_subnets,
    "SetSecurityGroups": network_settings.set_security_groups,
    "SetIpAddressType": network_settings.set_ip_address_type,
    "DescribeAccountLimits": account.describe_account_limits,
    "GetResourcePolicy": account.get_resource_policy,
    "DescribeCapacityReservation": unsupported.describe_capacity_reservation,
    "ModifyCapacityReservation": unsupported.modify_capacity_reservation,
    "ModifyIpPools": unsupported.modify_ip_pools,
    "CreateTrustStore": trust_stores.create_trust_store,
    "DescribeTrustStores": trust_stores.describe_trust_stores,
    "ModifyTrustStore": trust_stores.modify_trust_store,
    "DeleteTrustStore": trust_stores.delete_trust_store,
    "GetTrustStoreCaCertificatesBundle": trust_stores.get_trust_store_ca_certificates_bundle,
    "DescribeTrustStoreAssociations": trust_stores.describe_trust_store_associations,
    "DeleteSharedTrustStoreAssociation": trust_stores.delete_shared_trust_store_association,
    "AddTrustStoreRevocations": trust_store_revocations.add_trust_store_revocations,
    "RemoveTrustStoreRevocations": trust_store_revocations.remove_trust_store_revocations,
    "DescribeTrustStoreRevocations": trust_store_revocations.describe_trust_store_revocations,
    "GetTrustStoreRevocationContent": trust_store_revocations.get_trust_store_revocation_content,
}

ELBV2 = QueryService(model_name="elbv2", handlers=HANDLERS)
