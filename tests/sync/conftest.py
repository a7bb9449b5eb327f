from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.connectors.loopback import LoopbackAPI, loopback_api


@pytest.fixture
async def api() -> AsyncIterator[LoopbackAPI]:
    async with loopback_api() as a:
        yield a
