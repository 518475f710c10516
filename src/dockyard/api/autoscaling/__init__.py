"""Application Auto Scaling (AWS JSON 1.1, `AnyScaleFrontendService.<Action>`) for
`ecs:service:DesiredCount`.

    targets.py     RegisterScalableTarget / DescribeScalableTargets / DeregisterScalableTarget
    policies.py    PutScalingPolicy / DescribeScalingPolicies / DeleteScalingPolicy
    scheduled.py   PutScheduledAction / DescribeScheduledActions / DeleteScheduledAction
    activities.py  DescribeScalingActivities, TagResource / UntagResource / ListTagsForResource

Documents and ARNs: `autoscaling/records.py`; policy math: `autoscaling/policy.py`;
the controller that applies decisions: `controllers/scaling.py`.
"""

from __future__ import annotations

from dockyard.api.autoscaling import activities, policies, scheduled, targets
from dockyard.api.json_protocol import JsonService
from dockyard.context import Handler

HANDLERS: dict[str, Handler] = {
    "RegisterScalableTarget": targets.register_scalable_target,
    "DescribeScalableTargets": targets.describe_scalable_targets,
    "DeregisterScalableTarget": targets.deregister_scalable_target,
    "PutScalingPolicy": policies.put_scaling_policy,
    "DescribeScalingPolicies": policies.describe_scaling_policies,
    "DeleteScalingPolicy": policies.delete_scaling_policy,
    "PutScheduledAction": scheduled.put_scheduled_action,
    "DescribeScheduledActions": scheduled.describe_scheduled_actions,
    "DeleteScheduledAction": scheduled.delete_scheduled_action,
    "DescribeScalingActivities": activities.describe_scaling_activities,
    "TagResource": activities.tag_resource,
    "UntagResource": activities.untag_resource,
    "ListTagsForResource": activities.list_tags_for_resource,
}

APPLICATION_AUTOSCALING = JsonService(
    model_name="application-autoscaling", handlers=HANDLERS, validation_error="ValidationException"
)
