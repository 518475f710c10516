"""ACM certificates (their documents; private keys are files, never rows).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Documents: JSONB on PostgreSQL, JSON (text) on SQLite.
DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("arn", sa.String(1600), primary_key=True),
        sa.Column("domain_name", sa.String(253), nullable=False),
        sa.Column("doc", DOC, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("certificates")
