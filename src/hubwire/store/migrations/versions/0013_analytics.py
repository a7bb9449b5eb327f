"""Analytics forwarding: the outbox of events to forward per destination, and the delivery log.

Revision ID: 0013_analytics
Revises: 0006_conflicts
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_analytics"
down_revision = "0006_conflicts"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("integration_id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_analytics_outbox_pending", "analytics_outbox", ["integration_id", "destination", "status", "id"]
    )
    op.create_table(
        "analytics_batches",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("integration_id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(16), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("latency_ms", sa.Double, nullable=True),
    )
    op.create_index(
        "ix_analytics_batches_integration", "analytics_batches", ["integration_id", "destination", "started_at"]
    )


def downgrade() -> None:
    for table in ("analytics_batches", "analytics_outbox"):
        op.drop_table(table)
