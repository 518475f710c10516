"""ECS account settings: one row per (principal, setting name).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "account_settings",
        sa.Column("arn", sa.String(1700), primary_key=True),
        sa.Column("principal", sa.String(1600), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )
    op.create_index("ix_account_settings_principal", "account_settings", ["principal"])


def downgrade() -> None:
    op.drop_index("ix_account_settings_principal", table_name="account_settings")
    op.drop_table("account_settings")
