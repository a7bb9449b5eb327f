"""Shared fixtures: a Hub on SQLite and on PostgreSQL for every test that asks for ``hub``.

PostgreSQL: each test session makes its own database (``hubwire_t_<pid>``) on
``HUBWIRE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it
once, commits without waiting for the WAL flush, and empties the tables a test wrote to
between tests. Without a server the PostgreSQL half skips with the reason;
under ``CI=true`` it fails instead, so CI can never pass without it.
SQLite: a migrated template file is copied for each test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from hubwire import declarations
from hubwire.connectors.builtin import load_builtins
from hubwire.connectors.registry import ProviderRegistry, default_registry
from hubwire.hub import Hub
from hubwire.store.engine import migrate

# The built-ins load on first use; load them before any test snapshots the hooks they install.
load_builtins()

pytest_plugins = ["tests.simulators.github_fixtures", "tests.simulators.stripe_fixtures"]

PG_ADMIN_URL = os.environ.get("HUBWIRE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET = "test-secret-key-not-for-production"
_TABLES_KEEP = {"alembic_version"}


def _pg_reason() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {str(exc).strip()[:120]}"
    return None


_PG_REASON = _pg_reason()


def require_postgres() -> None:
    if _PG_REASON is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true but {_PG_REASON}; CI must run the PostgreSQL half of the suite")
    pytest.skip(_PG_REASON)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``slow`` tests (seconds to tens of seconds each) run first: under ``-n 2`` the short ones
    then fill in around them, instead of one long test holding a worker while the other is done."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database private to this test session."""
    require_postgres()
    name = f"hubwire_t_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
        # A commit waits for no WAL flush in this throwaway database (the server may lose the last
        # commits if it crashes, which no test does; what other sessions see is unchanged).
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    url = make_url(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://")).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    asyncio.run(migrate(rendered))
    yield rendered
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# Emptying a table: DELETE costs about a millisecond for the few rows most tests write; TRUNCATE
# tens of milliseconds per table even when empty (new files for the table and its indexes), but
# leaves no dead rows behind, so it is kept for tables that got many.
_TRUNCATE_FROM_ROWS = 1000
_USED_SEQUENCES = """
    SELECT s.sequencename FROM pg_sequences s
    WHERE s.schemaname = 'public' AND s.last_value IS NOT NULL
"""
_NOUN_INDEXES = """
    SELECT indexname FROM pg_indexes WHERE schemaname = 'public'
    AND (indexname LIKE 'ix\\_ent\\_%' OR indexname LIKE 'ux\\_ent\\_%')
"""


def _pg_reset(url: str) -> None:
    """Empty every table, restart every sequence used, and drop the Nouns' indexes (``_`` escaped in
    the pattern: unescaped, it matched ix_entities_type_created too), in one transaction."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
            if r[0] not in _TABLES_KEEP
        ]
        counted = " UNION ALL ".join(
            f"SELECT '{t}', (SELECT count(*) FROM (SELECT FROM \"{t}\" LIMIT {_TRUNCATE_FROM_ROWS}) AS r)"
            for t in tables
        )
        rows = dict(conn.execute(counted).fetchall()) if tables else {}
        many = [t for t, n in rows.items() if n >= _TRUNCATE_FROM_ROWS]
        if many:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in many) + " CASCADE")
        for t in (t for t, n in rows.items() if 0 < n < _TRUNCATE_FROM_ROWS):
            conn.execute(f'DELETE FROM "{t}"')
        for (seq,) in conn.execute(_USED_SEQUENCES).fetchall():
            conn.execute(f'ALTER SEQUENCE "{seq}" RESTART')
        indexes = [r[0] for r in conn.execute(_NOUN_INDEXES).fetchall()]
        if indexes:
            conn.execute("DROP INDEX " + ", ".join(f'"{i}"' for i in indexes))
        conn.commit()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet, for migration tests (``db_url``'s are at the newest migration)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    require_postgres()
    name = f"hubwire_t_empty_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = make_url(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://")).set(database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh, migrated database URL: once for SQLite, once for PostgreSQL."""
    if request.param == "sqlite":
        target = tmp_path / "hubwire.db"
        shutil.copy(sqlite_template, target)
        yield f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("pg_url")
        _pg_reset(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "hubwire.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def providers() -> ProviderRegistry:
    """A registry with the built-in providers; tests register their own into it freely."""
    reg = ProviderRegistry()
    for p in default_registry.all():
        reg.register(p)
    return reg


def make_hub(db_url: str, data_dir: Path, providers: ProviderRegistry, **options: Any) -> Hub:
    """A Hub on a test database (already migrated) with the test secret; ``options`` are settings or ``clock``."""
    return Hub(
        database_url=db_url,
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        providers=providers,
        auto_migrate=False,
        **options,
    )


@pytest.fixture
async def hub(db_url: str, tmp_path: Path, providers: ProviderRegistry) -> AsyncIterator[Hub]:
    async with make_hub(db_url, tmp_path, providers) as h:
        yield h


@pytest.fixture(autouse=True)
def _isolate_hooks() -> Iterator[None]:
    """Nouns, hooks, subscriptions, job kinds and extensions a test declares do not leak into the next one."""
    saved = declarations.snapshot()
    yield
    declarations.restore(saved)
