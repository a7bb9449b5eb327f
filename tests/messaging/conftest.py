"""Fixtures for messaging: a hub on a fake clock that may dial the simulators on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubwire import Worker
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from tests.conftest import make_hub
from tests.fakes import FakeClock, deal_noun


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def mhub(db_url: str, tmp_path: Path, providers: ProviderRegistry, clock: FakeClock) -> AsyncIterator[Hub]:
    """Serves Deal (so routing rules may subscribe to it); its Twilio status callbacks name a public URL."""
    deal_noun()
    async with make_hub(
        db_url, tmp_path, providers, clock=clock, allow_private_networks=True, public_url="https://hub.example.com"
    ) as h:
        yield h


async def drain(hub: Hub) -> None:
    await Worker(hub, concurrency=4).drain()
