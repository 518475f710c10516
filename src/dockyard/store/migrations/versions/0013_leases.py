"""Several servers on one PostgreSQL: the controllers' lease, the servers registry and the
write mark (dockyard.ha). Created on both backends; only PostgreSQL uses them.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "servers",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "write_marks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("writer", sa.String(255), nullable=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("write_marks")
    op.drop_table("servers")
    op.drop_table("leases")
