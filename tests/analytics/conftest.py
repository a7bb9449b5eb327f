"""Fixtures for analytics forwarding: a hub on a fake clock that may dial the loopback simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from tests.conftest import make_hub
from tests.fakes import FakeClock, deal_noun


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def ahub(db_url: str, tmp_path: Path, providers: ProviderRegistry, clock: FakeClock) -> AsyncIterator[Hub]:
    """A hub with a fake clock that may dial loopback simulators; it serves Deal, so events may be selected."""
    deal_noun()
    async with make_hub(db_url, tmp_path, providers, clock=clock, allow_private_networks=True) as h:
        yield h
