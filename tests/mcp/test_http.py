"""MCP over streamable HTTP at /mcp of the REST app, under uvicorn on 127.0.0.1, behind API keys."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

import hubwire
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from tests.api.conftest import ACME_SECRET, serve
from tests.conftest import make_hub


@contextlib.asynccontextmanager
async def client_for(base: str, key: str, **headers: str) -> AsyncIterator[Client]:
    """The official client over streamable HTTP, sending ``key`` (and ``headers``) with every request."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}", **headers}, timeout=10)
    async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
        yield client


async def test_a_key_is_required_and_its_scope_decides(mhub: Hub, deal: hubwire.Noun) -> None:
    _, read = await create_api_key(mhub, "agent", scope="read")
    _, write = await create_api_key(mhub, "ops", scope="write")
    _, admin = await create_api_key(mhub, "admin", scope="admin")
    existing = await deal.create(name="seen over MCP", stage="Open")
    async with serve(create_app(mhub)) as base:
        async with httpx.AsyncClient(base_url=base) as raw:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            none = await raw.post("/mcp", json=body)
            assert none.status_code == 401
            assert none.headers["content-type"] == "application/problem+json"
            assert none.json()["code"] == "unauthenticated"
            wrong = await raw.post("/mcp", json=body, headers={"Authorization": "Bearer hw_nope"})
            assert wrong.status_code == 401
            foreign = await raw.post(
                "/mcp", json=body, headers={"Authorization": f"Bearer {admin}", "Origin": "https://evil.example"}
            )
            assert foreign.status_code == 403 and foreign.json()["code"] == "origin_not_allowed"

        async with client_for(base, read, Origin="http://localhost:3000") as client:
            found = await client.call_tool("search", {"type": "Deal", "filter": {"stage": "Open"}})
            assert not found.is_error and found.structured_content is not None
            assert [d["$id"] for d in found.structured_content["data"]] == [existing.id]
            refused = await client.call_tool("do", {"type": "Deal", "verb": "close", "id": existing.id})
            assert refused.is_error and refused.structured_content is not None
            assert refused.structured_content["error"]["code"] == "insufficient_scope"
            assert refused.structured_content["error"]["required_scope"] == "write"
        assert (await deal.get(existing.id))["stage"] == "Open"

        connect = {"type": "Integration", "verb": "connect", "args": {"provider": "acme", "api_key": ACME_SECRET}}
        async with client_for(base, write) as client:
            closed = await client.call_tool("do", {"type": "Deal", "verb": "close", "id": existing.id})
            assert not closed.is_error and closed.structured_content is not None
            assert closed.structured_content["stage"] == "Closed"
            not_admin = await client.call_tool("do", connect)
            assert not_admin.is_error and not_admin.structured_content is not None
            assert not_admin.structured_content["error"]["required_scope"] == "admin"
        async with client_for(base, admin) as client:
            connected = await client.call_tool("do", connect)
            assert not connected.is_error and connected.structured_content is not None
            assert connected.structured_content["status"] == "Connected"
            assert ACME_SECRET not in str(connected.content)


async def test_an_origin_is_accepted_once_configured(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, deal: hubwire.Noun
) -> None:
    allowed = "https://app.example.com"
    hub = make_hub(db_url, tmp_path, providers, mcp_allowed_origins=(allowed,))
    async with hub:
        _, key = await create_api_key(hub, "dashboard", scope="read")
        async with serve(create_app(hub)) as base:
            async with client_for(base, key, Origin=allowed) as client:
                page = await client.call_tool("search", {"type": "Deal"})
                assert not page.is_error and page.structured_content == {
                    "data": [],
                    "has_more": False,
                    "next_cursor": None,
                }
            async with httpx.AsyncClient(base_url=base) as raw:
                other = await raw.post(
                    "/mcp",
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={"Authorization": f"Bearer {key}", "Origin": "https://other.example.com"},
                )
                assert other.status_code == 403


async def test_with_authentication_disabled_every_call_passes(
    db_url: str, tmp_path: Path, providers: ProviderRegistry, deal: hubwire.Noun
) -> None:
    hub = make_hub(db_url, tmp_path, providers, auth_required=False)
    async with hub, serve(create_app(hub)) as base:
        http = httpx2.AsyncClient(timeout=10)
        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
            made = await client.call_tool("do", {"type": "Deal", "verb": "create", "args": {"name": "open door"}})
            assert not made.is_error and made.structured_content is not None
            assert made.structured_content["name"] == "open door"
