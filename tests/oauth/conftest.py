from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.oauth import set_app
from tests.oauth.authserver import CLIENT_ID, CLIENT_SECRET, SLUG, AuthlibServer, provider

REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(autouse=True)
def _dial_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The authorization servers listen on loopback: these tests' hubs open the SSRF guard for them."""
    monkeypatch.setenv("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "1")


@pytest.fixture
def authserver() -> Iterator[AuthlibServer]:
    with AuthlibServer() as server:
        yield server


@pytest.fixture
async def oauth_hub(hub: Hub, providers: ProviderRegistry, authserver: AuthlibServer) -> Hub:
    """The hub with the Authlib server's provider registered and its OAuth app set."""
    providers.register(provider(base_url=authserver.url))
    await set_app(
        hub,
        SLUG,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{authserver.url}/authorize",
        token_url=f"{authserver.url}/token",
    )
    return hub


def approve(url: str) -> dict[str, str]:
    """Follow an authorization URL as the user's browser would: the provider approves at once and
    redirects to the redirect URI; its query (``code``, ``state``) is returned."""
    resp = httpx.get(url, follow_redirects=False)
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    return {k: v[0] for k, v in query.items()}


def query_of(url: str) -> dict[str, Any]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def connect_through_flow(hub: Hub, server_url: str, provider_slug: str = SLUG) -> Any:
    """An Integration connected the way a user connects one: authorize, approve, connect(code, state)."""
    from hubwire import Integration

    back = approve(await Integration.authorize(provider=provider_slug, redirect_uri=REDIRECT))
    return await Integration.connect(code=back["code"], state=back["state"], api_base_url=server_url)


async def make_due(hub: Hub, integration_id: str) -> dict[str, Any]:
    """Make the stored token due for refresh (as if its refresh time had come); returns the credentials."""
    from hubwire.vault.credentials import load_credentials, save_credentials

    creds = await load_credentials(hub, integration_id)
    creds["refresh_at"] = hub.clock() - 1
    async with hub.transaction() as tx:
        await save_credentials(tx, integration_id, creds)
    return creds
