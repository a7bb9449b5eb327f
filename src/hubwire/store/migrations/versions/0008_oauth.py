"""OAuth 2.0: OAuth apps (client id, encrypted secret, URL and scope overrides) and authorization states.

Tokens are an Integration's credentials (the ``credentials`` row, encrypted); that row is also
what a refresh locks, so the refresh lock needs no table of its own.

Revision ID: 0008_oauth
Revises: 0007_schedules
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_oauth"
down_revision = "0007_schedules"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "oauth_apps",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(512), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("scopes", JSONDoc, nullable=False),
        sa.Column("authorize_url", sa.Text, nullable=True),
        sa.Column("token_url", sa.Text, nullable=True),
        sa.Column("extra", JSONDoc, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "oauth_states",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("return_to", sa.Text, nullable=True),
        sa.Column("api_key_id", sa.String(64), nullable=True),
        sa.Column("integration_id", sa.String(64), nullable=True),
        sa.Column("scopes", JSONDoc, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_index("ix_oauth_states_expires", "oauth_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oauth_states_expires", table_name="oauth_states")
    op.drop_table("oauth_states")
    op.drop_table("oauth_apps")
