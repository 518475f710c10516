"""The ECS API (AWS JSON 1.1, target prefix AmazonEC2ContainerServiceV20141113).

One module per resource; this table maps each action to its handler.
"""

from __future__ import annotations

from dockyard.api.ecs import (
    account_settings,
    agent_calls,
    agent_update,
    attributes,
    capacity_providers,
    clusters,
    container_instances,
    execute_command,
    external_services,
    lifecycle_hooks,
    service_deployments,
    services,
    tags,
    task_definitions,
    task_protection,
    task_sets,
    tasks,
    unsupported,
)
from dockyard.api.json_protocol import JsonService
from dockyard.context import Handler

HANDLERS: dict[str, Handler] = {
    "CreateCluster": clusters.create_cluster,
    "DescribeClusters": clusters.describe_clusters,
    "ListClusters": clusters.list_clusters,
    "UpdateCluster": clusters.update_cluster,
    "UpdateClusterSettings": clusters.update_cluster_settings,
    "DeleteCluster": clusters.delete_cluster,
    "CreateCapacityProvider": capacity_providers.create_capacity_provider,
    "DescribeCapacityProviders": capacity_providers.describe_capacity_providers,
    "UpdateCapacityProvider": capacity_providers.update_capacity_provider,
    "DeleteCapacityProvider": capacity_providers.delete_capacity_provider,
    "PutClusterCapacityProviders": capacity_providers.put_cluster_capacity_providers,
    "RegisterTaskDefinition": task_definitions.register_task_definition,
    "DescribeTaskDefinition": task_definitions.describe_task_definition,
    "ListTaskDefinitions": task_definitions.list_task_definitions,
    "ListTaskDefinitionFamilies": task_definitions.list_task_definition_families,
    "DeregisterTaskDefinition": task_definitions.deregister_task_definition,
    "DeleteTaskDefinitions": task_definitions.delete_task_definitions,
    "RegisterContainerInstance": container_instances.register_container_instance,
    "DescribeContainerInstances": container_instances.describe_container_instances,
    "ListContainerInstances": container_instances.list_container_instances,
    "DeregisterContainerInstance": container_instances.deregister_container_instance,
    "PutAttributes": attributes.put_attributes,
    "ListAttributes": attributes.list_attributes,
    "DeleteAttributes": attributes.delete_attributes,
    "CreateService": external_services.create_service,  # ECS requests: services.py
    "UpdateService": services.update_service,
    "DescribeServices": services.describe_services,
    "ListServices": services.list_services,
    "DeleteService": services.delete_service,
    "ListServiceDeployments": service_deployments.list_service_deployments,
    "DescribeServiceDeployments": service_deployments.describe_service_deployments,
    "DescribeServiceRevisions": service_deployments.describe_service_revisions,
    "StopServiceDeployment": service_deployments.stop_service_deployment,
    "ContinueServiceDeployment": lifecycle_hooks.continue_service_deployment,
    "CreateTaskSet": task_sets.create_task_set,
    "DescribeTaskSets": task_sets.describe_task_sets,
    "UpdateTaskSet": task_sets.update_task_set,
    "DeleteTaskSet": task_sets.delete_task_set,
    "UpdateServicePrimaryTaskSet": task_sets.update_service_primary_task_set,
    "UpdateContainerInstancesState": container_instances.update_container_instances_state,
    "RunTask": tasks.run_task,
    "StartTask": tasks.start_task,
    "StopTask": tasks.stop_task,
    "DescribeTasks": tasks.describe_tasks,
    "ListTasks": tasks.list_tasks,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
    "UpdateTaskProtection": task_protection.update_task_protection,
    "GetTaskProtection": task_protection.get_task_protection,
    "PutAccountSetting": account_settings.put_account_setting,
    "PutAccountSettingDefault": account_settings.put_account_setting_default,
    "ListAccountSettings": account_settings.list_account_settings,
    "DeleteAccountSetting": account_settings.delete_account_setting,
    "UpdateContainerAgent": agent_update.update_container_agent,
    "SubmitTaskStateChange": agent_calls.submit_task_state_change,
    "SubmitContainerStateChange": agent_calls.submit_container_state_change,
    "SubmitAttachmentStateChanges": agent_calls.submit_attachment_state_changes,
    "DiscoverPollEndpoint": agent_calls.discover_poll_endpoint,
    "ExecuteCommand": execute_command.execute_command,  # session for api/exec.py
    **unsupported.handlers(),  # Express gateways, daemons, Cloud Map: a clear refusal
}

ECS = JsonService(model_name="ecs", handlers=HANDLERS)
