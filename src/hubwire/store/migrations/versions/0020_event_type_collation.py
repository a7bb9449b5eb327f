"""PostgreSQL: event types compare byte by byte (COLLATE "C").

An event-type prefix (``Deal.*``) is read as the index range ``type >= 'Deal.' AND type < 'Deal/'``,
which holds only when text sorts by code point. A database created with a language collation
(en_US.UTF-8 is a common default) sorts punctuation differently, and would return wrong events.
SQLite compares text byte by byte already.

Revision ID: 0020_event_type_collation
Revises: 0019_outbox_batches
"""

from alembic import op

revision = "0020_event_type_collation"
down_revision = "0019_outbox_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE events ALTER COLUMN type TYPE varchar(128) COLLATE "C"')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE events ALTER COLUMN type TYPE varchar(128) COLLATE "default"')
