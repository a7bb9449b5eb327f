"""API keys carry a scope (read, write or admin); keys made before scopes become admin.

Revision ID: 0004_api_key_scopes
Revises: 0003_connectors
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_api_key_scopes"
down_revision = "0003_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A key made before scopes could do everything, so it keeps doing everything. The default
    # only fills the existing rows: it is dropped at once, so that no new key is admin by omission.
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="admin"))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("scope", existing_type=sa.String(16), existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scope")
