"""Fixtures for the job queue: a Hub with a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubwire.hub import Hub
from tests.conftest import TEST_SECRET


class FakeClock:
    """A clock that only moves when told: ``clock.advance(seconds)``."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clocked_hub(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Hub]:
    """Like ``hub`` (SQLite and PostgreSQL) but on :class:`FakeClock`."""
    h = Hub(database_url=db_url, data_dir=tmp_path, secret_key=TEST_SECRET, auto_migrate=False, clock=clock)
    async with h:
        yield h


class BrokenJobs:
    """Makes the database itself refuse some updates of ``jobs`` (a trigger), as a failing disk or
    a lost connection would refuse them: a real failure on SQLite and PostgreSQL, no stand-in."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.broken = False

    async def refuse(self, when: str) -> None:
        """Refuse every update of a jobs row for which ``when`` (SQL on OLD and NEW) holds."""
        if self.hub.dialect == "sqlite":
            ddl = [
                f"CREATE TRIGGER test_refuse BEFORE UPDATE ON jobs WHEN {when} "
                "BEGIN SELECT RAISE(ABORT, 'the database refused the write'); END"
            ]
        else:
            ddl = [
                "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the database refused the write'; END $$",
                f"CREATE TRIGGER test_refuse BEFORE UPDATE ON jobs FOR EACH ROW WHEN ({when}) "
                "EXECUTE FUNCTION test_refuse()",
            ]
        async with self.hub.transaction() as tx:
            for stmt in ddl:
                await tx.conn.exec_driver_sql(stmt)
        self.broken = True

    async def heal(self) -> None:
        if not self.broken:
            return
        ddl = ["DROP TRIGGER test_refuse"]
        if self.hub.dialect == "postgresql":
            ddl = ["DROP TRIGGER test_refuse ON jobs", "DROP FUNCTION test_refuse()"]
        async with self.hub.transaction() as tx:
            for stmt in ddl:
                await tx.conn.exec_driver_sql(stmt)
        self.broken = False


@pytest.fixture
async def broken_jobs(clocked_hub: Hub) -> AsyncIterator[BrokenJobs]:
    broken = BrokenJobs(clocked_hub)
    yield broken
    await broken.heal()  # the PostgreSQL database outlives the test
