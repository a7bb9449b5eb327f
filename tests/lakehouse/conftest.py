"""Fixtures for the lakehouse: a hub on a fake clock with small batches, and events to collect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from hubwire.analytics import AnalyticsEvent, record_collected
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from tests.conftest import make_hub
from tests.fakes import FakeClock

DAY = 86400.0
BATCH = 50


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def lhub(db_url: str, tmp_path: Path, providers: ProviderRegistry, clock: FakeClock) -> AsyncIterator[Hub]:
    """A hub whose lakehouse appends batches of at most 50 events, 5 s after the first of them
    (it may dial the loopback simulators)."""
    async with make_hub(
        db_url,
        tmp_path,
        providers,
        clock=clock,
        allow_private_networks=True,
        lakehouse_batch_size=BATCH,
        lakehouse_flush_interval=5,
    ) as h:
        yield h


def events(
    n: int, *, start: float, names: Sequence[str] = ("page_view", "signup"), days: int = 1
) -> list[AnalyticsEvent]:
    """``n`` collected events named in turn from ``names``, spread over ``days`` days from ``start``."""
    return [
        AnalyticsEvent(
            f"evt_{int(start)}_{i}",
            names[i % len(names)],
            f"user_{i % 7}",
            start + (i % days) * DAY + i,
            {"i": i, "plan": "pro" if i % 2 else "free"},
            "collect",
        )
        for i in range(n)
    ]


async def collect(hub: Hub, batch: Sequence[AnalyticsEvent]) -> None:
    await record_collected(hub, batch)
