"""ECS service deployments and service revisions (the deployment history).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "service_deployments",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("service", sa.String(1600), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index(
        "ix_service_deployments_service_created",
        "service_deployments",
        ["service", "created_at"],
    )
    op.create_table(
        "service_revisions",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("service", sa.String(1600), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index(
        "ix_service_revisions_service_created", "service_revisions", ["service", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_service_revisions_service_created", table_name="service_revisions")
    op.drop_table("service_revisions")
    op.drop_index("ix_service_deployments_service_created", table_name="service_deployments")
    op.drop_table("service_deployments")
