"""Dashboard sessions: a signed-in browser's session, bound to the API key it signed in with.

Revision ID: 0009_dashboard
Revises: 0004_api_key_scopes
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_dashboard"
down_revision = "0004_api_key_scopes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("api_key_id", sa.String(64), nullable=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_dashboard_sessions_expires", "dashboard_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("dashboard_sessions")
