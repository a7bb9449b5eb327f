"""Shared fixtures: a Hub on SQLite and on PostgreSQL for every test that asks for ``hub``.

PostgreSQL: each test session makes its own database (``hubwire_t_<pid>``) on
``HUBWIRE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it
once and truncates between tests. Without a server the PostgreSQL half skips with the reason;
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


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database private to this test session."""
    require_postgres()
    name = f"hubwire_t_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = make_url(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://")).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    asyncio.run(migrate(rendered))
    yield rendered
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _pg_reset(url: str) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
            if r[0] not in _TABLES_KEEP
        ]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
        # The Nouns' indexes only (``_`` escaped: unescaped, it matched ix_entities_type_created too).
        for (idx,) in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
            "AND (indexname LIKE 'ix\\_ent\\_%' OR indexname LIKE 'ux\\_ent\\_%')"
        ).fetchall():
            conn.execute(f'DROP INDEX IF EXISTS "{idx}"')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    return path


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
