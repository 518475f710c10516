"""Tables. Each kind: primary key `arn`, indexed columns, and `doc` (the AWS-shaped JSON).

Changing this file needs an Alembic revision in `migrations/versions/`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

# Documents: JSONB on PostgreSQL (parsed once, compact, indexable), JSON text on SQLite.
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
GROUP = sa.String(255).with_variant(sa.String(512), "postgresql")  # tasks.task_group

clusters = sa.Table(
    "clusters",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)

task_definitions = sa.Table(
    "task_definitions",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("family", sa.String(255), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.UniqueConstraint("family", "revision", name="uq_task_definitions_family_revision"),
    sa.Index("ix_task_definitions_status_family", "status", "family"),
)

container_instances = sa.Table(
    "container_instances",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("cluster", sa.String(1600), nullable=False),
    sa.Column("instance_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index("ix_container_instances_cluster_status", "cluster", "status"),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("cluster", sa.String(1600), nullable=False),
    sa.Column("instance", sa.String(1600), nullable=True),
    sa.Column("family", sa.String(255), nullable=False),
    sa.Column("started_by", sa.String(128), nullable=True),
    # "service:" + a 255-character service name: PostgreSQL enforces lengths, SQLite does
    # not (its DDL stays VARCHAR(255), so existing data dirs match schema.py).
    sa.Column("task_group", GROUP, nullable=True),
    sa.Column("desired_status", sa.String(32), nullable=False),
    sa.Column("last_status", sa.String(32), nullable=False),
    sa.Column("reservation", JSON_DOC, nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index("ix_tasks_cluster_desired", "cluster", "desired_status"),
    sa.Index("ix_tasks_instance_last", "instance", "last_status"),
    sa.Index("ix_tasks_cluster_group", "cluster", "task_group"),
)

# Capacity bookkeeping of each container instance, kept apart from its AWS-shaped document
# so a task's state change writes this small row, never the document. `doc` holds the
# sets: {"usedTcp": [...], "usedUdp": [...], "pendingTcp": n, "pendingUdp": n, "enis"?: n};
# remaining cpu/memory and task counts are columns. Task-group counts are counted from
# `tasks` at load (rows written before 2026-12-03 also carry an ignored "taskGroups").
instance_capacity = sa.Table(
    "instance_capacity",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("cluster", sa.String(1600), nullable=False, index=True),
    sa.Column("remaining_cpu", sa.Integer, nullable=False),
    sa.Column("remaining_memory", sa.Integer, nullable=False),
    sa.Column("running_count", sa.Integer, nullable=False),
    sa.Column("pending_count", sa.Integer, nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("cluster", sa.String(1600), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index("ix_services_cluster_status", "cluster", "status"),
)

# --- ELBv2 (documents in the botocore elbv2 shapes) ---------------------------------------
load_balancers = sa.Table(
    "load_balancers",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("name", sa.String(32), nullable=False, unique=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)

listeners = sa.Table(
    "listeners",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("load_balancer", sa.String(1600), nullable=False, index=True),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)

rules = sa.Table(
    "rules",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("listener", sa.String(1600), nullable=False, index=True),
    sa.Column("priority", sa.String(16), nullable=False),  # "1".."50000" or "default"
    sa.Column("doc", JSON_DOC, nullable=False),
)

target_groups = sa.Table(
    "target_groups",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("name", sa.String(32), nullable=False, unique=True),
    sa.Column("doc", JSON_DOC, nullable=False),
)

targets = sa.Table(
    "targets",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),  # "<target group arn>|<id>|<port>"
    sa.Column("target_group", sa.String(1600), nullable=False, index=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)

# --- CloudWatch alarms and Application Auto Scaling (control-plane configuration) ----------
# Metric datapoints are NOT here: they live in the metrics store (dockyard.metrics), apart
# from the control plane's transactions.
alarms = sa.Table(
    "alarms",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("namespace", sa.String(255), nullable=True),
    sa.Column("metric_name", sa.String(255), nullable=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("owner", sa.String(1600), nullable=True),  # scaling policy ARN owning it
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index("ix_alarms_metric", "namespace", "metric_name"),
    sa.Index("ix_alarms_owner", "owner"),
)

alarm_history = sa.Table(
    "alarm_history",
    metadata,
    sa.Column("arn", sa.String(64), primary_key=True),  # an id
    sa.Column("alarm_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index("ix_alarm_history_name_time", "alarm_name", "timestamp"),
    sa.Index("ix_alarm_history_time", "timestamp"),
)

scalable_targets = sa.Table(
    "scalable_targets",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("service_namespace", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(1600), nullable=False),
    sa.Column("dimension", sa.String(128), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.UniqueConstraint(
        "service_namespace", "resource_id", "dimension", name="uq_scalable_targets_resource"
    ),
)

scaling_policies = sa.Table(
    "scaling_policies",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("service_namespace", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(1600), nullable=False),
    sa.Column("dimension", sa.String(128), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.UniqueConstraint(
        "service_namespace", "resource_id", "dimension", "name", name="uq_scaling_policies_name"
    ),
)

scheduled_actions = sa.Table(
    "scheduled_actions",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("service_namespace", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(1600), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.UniqueConstraint(
        "service_namespace", "resource_id", "name", name="uq_scheduled_actions_name"
    ),
)

scaling_activities = sa.Table(
    "scaling_activities",
    metadata,
    sa.Column("arn", sa.String(64), primary_key=True),  # the activity id
    sa.Column("service_namespace", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(1600), nullable=False),
    sa.Column("start_time", sa.Float, nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index(
        "ix_scaling_activities_resource_time", "service_namespace", "resource_id", "start_time"
    ),
)

# --- ACM certificates (migration 0008): the private key is in certificate_keys (0014) ----
certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("domain_name", sa.String(253), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("resource_arn", sa.String(1600), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

TABLES: dict[str, sa.Table] = {
    "clusters": clusters,
    "task_definitions": task_definitions,
    "container_instances": container_instances,
    "tasks": tasks,
    "instance_capacity": instance_capacity,
    "services": services,
    "load_balancers": load_balancers,
    "listeners": listeners,
    "rules": rules,
    "target_groups": target_groups,
    "targets": targets,
    "alarms": alarms,
    "alarm_history": alarm_history,
    "scalable_targets": scalable_targets,
    "scaling_policies": scaling_policies,
    "scheduled_actions": scheduled_actions,
    "scaling_activities": scaling_activities,
    "certificates": certificates,
}

# --- Service controller (migration 0007) ---------------------------------------------------
# tasks.stopped_at: when the task STOPPED (0 while it runs, and for rows stopped before 0007
# until the expiry pass stamps them), so expiry is an indexed range delete. The group index
# covers DescribeServices' counts and serves a service's live-task read and its primary's
# newest STOPPED tasks (equality on the first five columns, ordered by stopped_at).
tasks.append_column(sa.Column("stopped_at", sa.Float, nullable=False, server_default="0"))
sa.Index(
    "ix_tasks_group_status",
    tasks.c.cluster,
    tasks.c.task_group,
    tasks.c.last_status,
    tasks.c.started_by,
    tasks.c.desired_status,
    tasks.c.stopped_at,
)
sa.Index("ix_tasks_stopped", tasks.c.last_status, tasks.c.stopped_at)

# --- ECS service deployment history (migration 0011) ---------------------------------------
# One row per service deployment and per service revision (documents in the botocore ecs
# shapes ServiceDeployment / ServiceRevision); listed per service, newest first.
service_deployments = sa.Table(
    "service_deployments",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("service", sa.String(1600), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index("ix_service_deployments_service_created", "service", "created_at"),
)

service_revisions = sa.Table(
    "service_revisions",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("service", sa.String(1600), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
    sa.Index("ix_service_revisions_service_created", "service", "created_at"),
)

TABLES["service_deployments"] = service_deployments
TABLES["service_revisions"] = service_revisions

# --- ECS account settings (migration 0010): key "<principal ARN>|<setting name>" -------------
account_settings = sa.Table(
    "account_settings",
    metadata,
    sa.Column("arn", sa.String(1700), primary_key=True),
    sa.Column("principal", sa.String(1600), nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)
TABLES["account_settings"] = account_settings

# --- ELBv2 trust stores (migration 0009): CA bundles and CRLs are files -------------------
trust_stores = sa.Table(
    "trust_stores",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("name", sa.String(32), nullable=False, unique=True),
    sa.Column("doc", JSON_DOC, nullable=False),
)

TABLES["trust_stores"] = trust_stores

# --- ECS capacity providers (migration 0012): tasks.capacity_provider is the provider a task
# was placed through (NULL: launchType), counted per service to keep a strategy's split.
capacity_providers = sa.Table(
    "capacity_providers",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("doc", JSON_DOC, nullable=False),
)
TABLES["capacity_providers"] = capacity_providers
tasks.append_column(sa.Column("capacity_provider", sa.String(255), nullable=True))

# --- TLS material any leader can serve (migration 0014): what HAProxy's files are made of.
# certificate_keys: an ACM certificate's private key ({"PrivateKey": pem}), by certificate ARN;
# no API response reads this table (dockyard.acm.keys). trust_store_contents: a trust store's
# CA bundle and each CRL as PEM, key "<trust store ARN>|bundle" / "|revocation-<id>".
certificate_keys = sa.Table(
    "certificate_keys",
    metadata,
    sa.Column("arn", sa.String(1600), primary_key=True),
    sa.Column("doc", JSON_DOC, nullable=False),
)
trust_store_contents = sa.Table(
    "trust_store_contents",
    metadata,
    sa.Column("arn", sa.String(1700), primary_key=True),
    sa.Column("trust_store", sa.String(1600), nullable=False, index=True),
    sa.Column("doc", JSON_DOC, nullable=False),
)
TABLES["certificate_keys"] = certificate_keys
TABLES["trust_store_contents"] = trust_store_contents

# --- Several servers on one PostgreSQL (migration 0013, dockyard.ha): not document kinds.
# leases: one row per lease ("controllers"): holder (a server process), epoch (+1 on every
# change of holder: the fencing token), times from the database clock.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=True),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
)
# servers: one row per server name (its process `instance` changes at each start).
servers = sa.Table(
    "servers",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("instance", sa.String(255), nullable=False),
    sa.Column("url", sa.String(1024), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
)
# write_marks: the last server process that wrote (row "store"), read by every write
# transaction of a server on a shared database to drop caches another server made stale.
write_marks = sa.Table(
    "write_marks",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("writer", sa.String(255), nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
)
