"""Database engines: URL normalisation, SQLite pragmas and transaction modes, migrations.

SQLite (the embedded default) runs in WAL mode with one writer: write transactions start with
``BEGIN IMMEDIATE`` and are serialised in-process by a lock, so they never deadlock on upgrade.
PostgreSQL uses psycopg 3. Nothing here knows about Nouns or jobs.

A SQLite file Hubwire creates is 0600 (its ``-wal`` and ``-shm`` take the database's mode), in a
data directory made 0700: it holds the encrypted credentials and everything synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hubwire.errors import ConfigurationError

__all__ = ["MIGRATIONS", "async_url", "make_engine", "migrate", "sync_url"]

MIGRATIONS = Path(__file__).parent / "migrations"  # Alembic's script location


def async_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigurationError(f"unsupported database URL scheme {u.drivername!r}: use sqlite:// or postgresql://")
    return u.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    u = make_url(async_url(url))
    if u.drivername == "sqlite+aiosqlite":
        u = u.set(drivername="sqlite")
    elif u.drivername == "postgresql+asyncpg":
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


# How long a SQLite writer waits for another process's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30000


def _sqlite_setup(engine: sa.engine.Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN IMMEDIATE is ours to emit.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")  # validated by Settings
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.engine.Connection) -> None:
        mode = conn.get_execution_options().get("hubwire_sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_reset(dbapi_conn: Any, _record: Any, reset_state: Any) -> None:
    """Roll back a pooled SQLite connection on its return only if a transaction is open.

    The pool's default reset is an unconditional ROLLBACK, which on aiosqlite is one more trip to
    the connection's thread, and a turn of the event loop, for every connection used; but
    connections almost always come back with no transaction (SQLAlchemy ends its own, one-hop
    writes end theirs), and SQLite knows (``in_transaction``: the driver runs in autocommit mode).
    """
    if reset_state.terminate_only:
        return  # being discarded (garbage-collected): nothing can be awaited, the close ends it
    driver = getattr(dbapi_conn, "_connection", dbapi_conn)  # aiosqlite's, under SQLAlchemy's adapter
    if getattr(driver, "in_transaction", True):
        dbapi_conn.rollback()


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file of ``url`` readable by its owner only, before SQLite creates it with the umask's mode."""
    db = make_url(url).database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    path = Path(db)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # an existing file keeps the mode its owner gave it
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(url: str, *, pool_size: int = 10, sqlite_synchronous: str = "NORMAL") -> AsyncEngine:
    aurl = async_url(url)
    if aurl.startswith("sqlite"):
        _private_sqlite_file(aurl)
        # The pool's reset is ours (_sqlite_reset): it rolls back only a connection left in a transaction.
        engine = create_async_engine(aurl, pool_size=pool_size, max_overflow=pool_size, pool_reset_on_return=None)
        _sqlite_setup(engine.sync_engine, sqlite_synchronous)
        event.listen(engine.sync_engine, "reset", _sqlite_reset)
        return engine
    return create_async_engine(aurl, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=False)


def _migrate_sync(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    if sync_url(url).startswith("sqlite"):
        _private_sqlite_file(sync_url(url))
    engine = sa.create_engine(sync_url(url))
    if engine.dialect.name == "sqlite":
        _sqlite_setup(engine, "FULL")  # migrations are rare: sync every commit
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # Many workers may start at once: one migrates, the others wait and find nothing to do.
                conn.exec_driver_sql("SELECT pg_advisory_lock(7262001)")
                conn.commit()
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, revision)
            finally:
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(7262001)")
                    conn.commit()
    finally:
        engine.dispose()


async def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (Alembic), safely from many processes."""
    await asyncio.to_thread(_migrate_sync, url, revision)
