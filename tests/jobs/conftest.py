"""Fixtures for the job queue: a Hub with a clock the test moves by hand, writes the database refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubwire.hub import Hub
from tests.conftest import TEST_SECRET
from tests.fakes import FakeClock, RefusedWrites


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clocked_hub(db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Hub]:
    """Like ``hub`` (SQLite and PostgreSQL) but on :class:`FakeClock`."""
    h = Hub(database_url=db_url, data_dir=tmp_path, secret_key=TEST_SECRET, auto_migrate=False, clock=clock)
    async with h:
        yield h


@pytest.fixture
async def refused(clocked_hub: Hub) -> AsyncIterator[RefusedWrites]:
    """Writes the database refuses, on ``clocked_hub``; taken back after the test."""
    writes = RefusedWrites(clocked_hub)
    yield writes
    await writes.allow()
