"""Field mappings: the saved versions of each Integration's user field mappings.

Revision ID: 0014_field_mappings
Revises: 0017_lakehouse
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014_field_mappings"
down_revision = "0017_lakehouse"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "field_mapping_versions",
        sa.Column("integration_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("mappings", JSONDoc, nullable=False),
        sa.Column("saved_at", sa.Double, nullable=False),
        sa.Column("saved_by", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("field_mapping_versions")
