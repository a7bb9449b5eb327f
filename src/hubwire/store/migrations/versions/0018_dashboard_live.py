"""A sync run's pages stored so far, for its live progress on the dashboard.

Revision ID: 0018_dashboard_live
Revises: 0014_field_mappings
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_dashboard_live"
down_revision = "0014_field_mappings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("pages", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("pages")
