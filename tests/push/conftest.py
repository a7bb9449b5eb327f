from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.connectors.loopback import LoopbackAPI, loopback_api


@pytest.fixture
async def api() -> AsyncIterator[LoopbackAPI]:
    async with loopback_api() as a:
        yield a


@pytest.fixture(autouse=True)
def _dial_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake provider API listens on loopback: these tests' hubs open the SSRF guard for it."""
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")
