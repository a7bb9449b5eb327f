"""Fixtures of the MCP tests: a hub that may name loopback webhook URLs, the test provider, a Deal, a client.

Tests open the official SDK's ``Client`` on the server in process inside the test itself (an async
fixture's teardown runs in another task than its setup, which anyio's cancel scopes refuse); the HTTP
and stdio tests start real servers instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

import hubwire
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from tests.api.conftest import AcmeProvider
from tests.conftest import make_hub


@pytest.fixture
async def mhub(db_url: str, tmp_path: Path, providers: ProviderRegistry) -> AsyncIterator[Hub]:
    """A hub on SQLite and PostgreSQL whose webhook endpoints may be loopback URLs (nothing is sent to them)."""
    async with make_hub(db_url, tmp_path, providers, allow_private_networks=True) as h:
        yield h


@pytest.fixture(autouse=True)
def acme(providers: ProviderRegistry) -> AcmeProvider:
    p = AcmeProvider()
    providers.register(p)
    return p


@pytest.fixture(autouse=True)
def deal() -> hubwire.Noun:
    """The README's Deal, with its state machine and verbs."""
    return hubwire.Noun(
        "Deal",
        {"name": "string!", "value": "number", "stage": "Open | Closed | Lost", "close": "Closed", "lose": "Lost"},
        states={"stage": {"Open": ["Closed", "Lost"], "Closed": [], "Lost": ["Open"]}},
        description="A sales opportunity.",
    )


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result; fails the test on a tool error."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error_of(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool error's ``{"code", "message", ...}``; fails the test if the call succeeded."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    assert result.structured_content is not None
    error: dict[str, Any] = result.structured_content["error"]
    assert error["code"] in result.content[0].text  # type: ignore[union-attr]
    return error
