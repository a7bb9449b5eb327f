"""The lakehouse feed: events waiting to be appended to the Iceberg table.

(pyiceberg's SQL catalog creates its own ``iceberg_tables`` and ``iceberg_namespace_properties``
on first use; they are pyiceberg's, not these migrations'.)

Revision ID: 0017_lakehouse
Revises: 0013_analytics
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_lakehouse"
down_revision = "0013_analytics"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "lakehouse_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("batch", sa.String(32), nullable=True),
        sa.Column("claimed_at", sa.Double, nullable=True),
    )
    op.create_index("ix_lakehouse_outbox_batch", "lakehouse_outbox", ["batch", "id"])


def downgrade() -> None:
    op.drop_table("lakehouse_outbox")
