"""CloudWatch alarms (+ history) and Application Auto Scaling (targets, policies,
scheduled actions, activities). Metric datapoints live in the metrics store, not here.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("namespace", sa.String(255), nullable=True),
        sa.Column("metric_name", sa.String(255), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(1600), nullable=True),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index("ix_alarms_metric", "alarms", ["namespace", "metric_name"])
    op.create_index("ix_alarms_owner", "alarms", ["owner"])
    op.create_table(
        "alarm_history",
        sa.Column("arn", sa.String(64), primary_key=True),
        sa.Column("alarm_name", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index("ix_alarm_history_name_time", "alarm_history", ["alarm_name", "timestamp"])
    op.create_index("ix_alarm_history_time", "alarm_history", ["timestamp"])
    op.create_table(
        "scalable_targets",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("service_namespace", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(1600), nullable=False),
        sa.Column("dimension", sa.String(128), nullable=False),
        sa.Column("doc", DOC, nullable=False),
        sa.UniqueConstraint(
            "service_namespace", "resource_id", "dimension", name="uq_scalable_targets_resource"
        ),
    )
    op.create_table(
        "scaling_policies",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("service_namespace", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(1600), nullable=False),
        sa.Column("dimension", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("doc", DOC, nullable=False),
        sa.UniqueConstraint(
            "service_namespace",
            "resource_id",
            "dimension",
            "name",
            name="uq_scaling_policies_name",
        ),
    )
    op.create_table(
        "scheduled_actions",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("service_namespace", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(1600), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("doc", DOC, nullable=False),
        sa.UniqueConstraint(
            "service_namespace", "resource_id", "name", name="uq_scheduled_actions_name"
        ),
    )
    op.create_table(
        "scaling_activities",
        sa.Column("arn", sa.String(64), primary_key=True),
        sa.Column("service_namespace", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(1600), nullable=False),
        sa.Column("start_time", sa.Float, nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index(
        "ix_scaling_activities_resource_time",
        "scaling_activities",
        ["service_namespace", "resource_id", "start_time"],
    )


def downgrade() -> None:
    for table in (
        "scaling_activities",
        "scheduled_actions",
        "scaling_policies",
        "scalable_targets",
        "alarm_history",
        "alarms",
    ):
        op.drop_table(table)
