"""CLI fixtures: ``cli`` runs ``main([...])`` in process against a private database and returns
(exit code, stdout, stderr); ``cli_provider`` registers a loopback-free test provider."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hubwire.cli import main
from hubwire.connectors.registry import ProviderContext, SyncProgress, default_registry
from hubwire.domains import Metric
from tests.conftest import TEST_SECRET
from tests.fakes import GOOD_KEY, ApiKeyProvider

SIGNING_SECRET = "whsec_RevealedOnce0123456789"


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_template: Path) -> Path:
    """HUBWIRE_* pointing at a fresh, migrated SQLite file in ``tmp_path``."""
    target = tmp_path / "hubwire.db"
    shutil.copy(sqlite_template, target)
    monkeypatch.setenv("HUBWIRE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HUBWIRE_DATABASE_URL", f"sqlite:///{target}")
    monkeypatch.setenv("HUBWIRE_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("HUBWIRE_IMPORT", raising=False)
    monkeypatch.delenv("HUBWIRE_DEBUG", raising=False)
    monkeypatch.delenv("HUBWIRE_AUTH", raising=False)
    return tmp_path


@pytest.fixture
def cli(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli_any_db(cli: Cli, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli`` on SQLite and on PostgreSQL."""
    monkeypatch.setenv("HUBWIRE_DATABASE_URL", db_url)
    return cli


class CliTestProvider(ApiKeyProvider):
    """Its sync creates ``records`` Metrics and reports progress per record; connecting reveals a signing secret."""

    slug = "clitest"
    name = "CLI Test"
    category = "Analytics"
    key = GOOD_KEY

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        for i in range(self.records):
            await Metric.create(name=f"clitest.m{i}", value=i)
            progress.advance("Metric", 1, total=self.records)
        return self.records

    def reveal(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        return {"signing_secret": SIGNING_SECRET}


@pytest.fixture
def cli_provider() -> Iterator[CliTestProvider]:
    p = CliTestProvider()
    default_registry.register(p)
    yield p
    default_registry.unregister(p.slug)
