"""Refresh: before expiry, once on a 401, rotation, one refresh for many callers, invalid_grant ->
reauth_required and a re-authorization of the same Integration; the client-credentials grant."""

from __future__ import annotations

import asyncio

import pytest

import hubwire
from hubwire import Integration, oauth
from hubwire.connectors.registry import ProviderContext, ProviderRegistry
from hubwire.connectors.spec import Endpoint
from hubwire.hub import Hub
from hubwire.oauth import set_app
from hubwire.vault.credentials import load_credentials
from tests.oauth.authserver import CLIENT_ID, CLIENT_SECRET, AuthlibServer, provider
from tests.oauth.conftest import REDIRECT, approve, connect_through_flow, make_due

ME = Endpoint("GET", "/api/me")


async def call_me(hub: Hub, integration_id: str) -> object:
    """A request to the provider's API the way connectors send them (token per request, 401 -> refresh)."""
    entity = await Integration.get(integration_id)
    prov = hub.providers.get(entity["provider"])
    ctx = ProviderContext(hub, prov, entity, {}, dict(entity.get("config") or {}))
    return await prov.connection(ctx).call(ME)  # type: ignore[attr-defined]


async def test_a_fresh_token_is_used_as_is(oauth_hub: Hub, authserver: AuthlibServer) -> None:
    entity = await connect_through_flow(oauth_hub, authserver.url)
    creds = await load_credentials(oauth_hub, entity.id)
    assert await oauth.access_token(oauth_hub, entity.id) == creds["access_token"]
    assert await call_me(oauth_hub, entity.id) == {"id": "user-1", "name": "Ada"}
    assert authserver.refreshes == 0


async def test_a_due_token_is_refreshed_and_the_refresh_token_rotated(
    oauth_hub: Hub, authserver: AuthlibServer
) -> None:
    entity = await connect_through_flow(oauth_hub, authserver.url)
    old = await make_due(oauth_hub, entity.id)
    token = await oauth.access_token(oauth_hub, entity.id)
    new = await load_credentials(oauth_hub, entity.id)
    assert token == new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]  # rotated: the server revoked the old one
    assert new["refresh_at"] > oauth_hub.clock()
    assert authserver.refreshes == 1
    assert await call_me(oauth_hub, entity.id) == {"id": "user-1", "name": "Ada"}
    assert authserver.refreshes == 1


async def test_a_401_refreshes_once_and_the_request_is_sent_again(oauth_hub: Hub, authserver: AuthlibServer) -> None:
    entity = await connect_through_flow(oauth_hub, authserver.url)
    authserver.expire_access_tokens()  # Hubwire still thinks the token fresh: the provider says otherwise
    assert await call_me(oauth_hub, entity.id) == {"id": "user-1", "name": "Ada"}
    assert authserver.refreshes == 1


async def test_many_callers_share_one_refresh(oauth_hub: Hub, authserver: AuthlibServer) -> None:
    entity = await connect_through_flow(oauth_hub, authserver.url)
    await make_due(oauth_hub, entity.id)
    results = await asyncio.gather(*(call_me(oauth_hub, entity.id) for _ in range(50)))
    assert all(r == {"id": "user-1", "name": "Ada"} for r in results)
    assert authserver.refreshes == 1 and oauth.refresh_count(oauth_hub) == 1


async def test_invalid_grant_needs_reauth_and_connect_again_reauthorizes(
    oauth_hub: Hub, authserver: AuthlibServer
) -> None:
    entity = await connect_through_flow(oauth_hub, authserver.url)
    authserver.revoke_refresh_tokens()
    await make_due(oauth_hub, entity.id)
    seen: list[str] = []
    hubwire.on("Integration.Errored")(lambda entity: seen.append(entity["error"]))
    with pytest.raises(hubwire.ProviderAuthError) as err:
        await oauth.access_token(oauth_hub, entity.id)
    assert err.value.code == "reauth_required" and err.value.fields["integration_id"] == entity.id
    assert seen == ["reauth_required"]
    failed = await Integration.get(entity.id)
    assert failed["error"] == "reauth_required" and failed["status"] == "Connected"  # data and status kept
    with pytest.raises(hubwire.ProviderAuthError):  # no second request to the provider for a known refusal
        await oauth.access_token(oauth_hub, entity.id)
    assert authserver.store.grants.count("refresh_token") == 0
    # Re-authorize the same Integration.
    back = approve(await Integration.authorize(entity.id, redirect_uri=REDIRECT))
    again = await Integration.connect(code=back["code"], state=back["state"])
    assert again.id == entity.id and again["error"] is None
    assert await call_me(oauth_hub, entity.id) == {"id": "user-1", "name": "Ada"}


async def test_client_credentials(hub: Hub, providers: ProviderRegistry, authserver: AuthlibServer) -> None:
    providers.register(provider("client_credentials", slug="authlibcc"))
    await set_app(
        hub, "authlibcc", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token_url=f"{authserver.url}/token"
    )
    entity = await Integration.connect(provider="authlibcc", api_base_url=authserver.url)
    assert entity["status"] == "Connected" and entity["config"]["account"]["name"] == "Ada"
    assert "refresh_token" not in await load_credentials(hub, entity.id)
    await make_due(hub, entity.id)
    assert await call_me(hub, entity.id) == {"id": "user-1", "name": "Ada"}
    assert authserver.store.grants == ["client_credentials", "client_credentials"]
