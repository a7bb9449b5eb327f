"""``hubwire migrate``: bring the database to the newest schema (Alembic), safe from many processes."""

from __future__ import annotations

import asyncio

from hubwire.cli.output import say
from hubwire.cli.runtime import redacted_url
from hubwire.settings import Settings
from hubwire.store.engine import migrate as migrate_database

__all__ = ["migrate"]


def migrate() -> None:
    """Run the database migrations."""
    settings = Settings()
    asyncio.run(migrate_database(settings.database_url))
    say(f"database {redacted_url(settings.database_url)} is up to date")
