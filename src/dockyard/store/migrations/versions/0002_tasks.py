"""Tasks.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
GROUP = sa.String(255).with_variant(sa.String(512), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tasks",
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
        sa.Column("reservation", DOC, nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index("ix_tasks_cluster_desired", "tasks", ["cluster", "desired_status"])
    op.create_index("ix_tasks_instance_last", "tasks", ["instance", "last_status"])


def downgrade() -> None:
    op.drop_table("tasks")
