"""Sync schedules: a row per scheduled integration; sync runs record their tick and a summary.

Revision ID: 0007_schedules
Revises: 0010_outbox
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_schedules"
down_revision = "0010_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_schedules",
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("frequency", sa.String(200), nullable=False),
        sa.Column("reconcile", sa.String(200), nullable=False),
        sa.Column("next_run_at", sa.Double, nullable=True),
        sa.Column("next_reconcile_at", sa.Double, nullable=True),
        sa.Column("last_tick_at", sa.Double, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_sync_schedules_next_run", "sync_schedules", ["next_run_at"])
    op.create_index("ix_sync_schedules_next_reconcile", "sync_schedules", ["next_reconcile_at"])
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("tick", sa.Double, nullable=True))
        batch.add_column(sa.Column("summary", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("summary")
        batch.drop_column("tick")
    op.drop_index("ix_sync_schedules_next_reconcile", "sync_schedules")
    op.drop_index("ix_sync_schedules_next_run", "sync_schedules")
    op.drop_table("sync_schedules")
