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
