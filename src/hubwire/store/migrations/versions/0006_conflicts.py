"""Field-level conflicts: the base of each external ref, and conflicts as a review queue.

``external_refs.base`` is the last synced snapshot of a record's mapped fields (the base of the
three-way merge). ``conflicts`` gains what a review queue and its audit trail need: a status
(open | resolved), the per-field base/local/remote and outcome, who resolved it, when and why.
Conflicts recorded before this revision were decided at once (whole entity, last modified
wins): they become ``resolved`` by ``system``.

Revision ID: 0006_conflicts
Revises: 0005_inbound
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_conflicts"
down_revision = "0005_inbound"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("external_refs") as batch:
        batch.add_column(sa.Column("base", JSONDoc, nullable=True))
    with op.batch_alter_table("conflicts") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="resolved"))
        batch.add_column(sa.Column("fields", JSONDoc, nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("resolved_at", sa.Double, nullable=True))
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))
    # The default only fills the rows made before; every new row says its status.
    op.execute("UPDATE conflicts SET resolved_by = 'system', resolved_at = created_at")
    with op.batch_alter_table("conflicts") as batch:
        batch.alter_column("status", existing_type=sa.String(16), existing_nullable=False, server_default=None)
    op.create_index("ix_conflicts_status", "conflicts", ["status", "created_at"])
    op.create_index("ix_conflicts_entity", "conflicts", ["entity_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_conflicts_entity", "conflicts")
    op.drop_index("ix_conflicts_status", "conflicts")
    with op.batch_alter_table("conflicts") as batch:
        for column in ("reason", "resolved_at", "resolved_by", "fields", "status"):
            batch.drop_column(column)
    with op.batch_alter_table("external_refs") as batch:
        batch.drop_column("base")
