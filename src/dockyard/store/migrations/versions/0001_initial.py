"""Clusters, task definitions, container instances, tags.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_table(
        "task_definitions",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("family", sa.String(255), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("doc", DOC, nullable=False),
        sa.UniqueConstraint("family", "revision", name="uq_task_definitions_family_revision"),
    )
    op.create_index("ix_task_definitions_status_family", "task_definitions", ["status", "family"])
    op.create_table(
        "container_instances",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("cluster", sa.String(1600), nullable=False),
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index(
        "ix_container_instances_cluster_status", "container_instances", ["cluster", "status"]
    )
    op.create_table(
        "tags",
        sa.Column("resource_arn", sa.String(1600), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tags")
    op.drop_table("container_instances")
    op.drop_table("task_definitions")
    op.drop_table("clusters")
