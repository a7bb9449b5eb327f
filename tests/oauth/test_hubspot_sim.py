"""The client against the HubSpot simulator's own OAuth endpoints (``hubwire.simulators.oauth``):
HubSpot's token endpoint hands back the same refresh token (no rotation) unless told to rotate, and
says ``BAD_REFRESH_TOKEN`` with RFC 6749's ``invalid_grant`` for a refused one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import hubwire
from hubwire import Integration, oauth
from hubwire.connectors.registry import ProviderContext, ProviderRegistry
from hubwire.connectors.runtime import SpecProvider
from hubwire.connectors.spec import Auth, Endpoint, ProviderSpec
from hubwire.hub import Hub
from hubwire.oauth import OAuthSpec, set_app
from hubwire.simulators.hubspot import HubSpotSimulator
from hubwire.vault.credentials import load_credentials
from tests.oauth.conftest import REDIRECT, make_due

CONTACTS = Endpoint("GET", "/crm/v3/objects/contacts", params=(("limit", "1"),))


class HubSpotLike(SpecProvider):
    """HubSpot's OAuth as a provider declares it (the CRM connector builds on the same declaration)."""

    slug, name, category, auth_type = "hubspot_oauth_test", "HubSpot (OAuth test)", "CRM", "OAuth2"
    oauth = OAuthSpec(
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/v1/token",
        scopes=("crm.objects.contacts.read",),
    )
    spec = ProviderSpec(
        base_url="https://api.hubapi.com", auth=Auth("bearer", credential="access_token"), check=CONTACTS
    )


@pytest.fixture
async def sim(hub: Hub, providers: ProviderRegistry) -> AsyncIterator[HubSpotSimulator]:
    async with HubSpotSimulator(rate_limit=None) as server:
        server.oauth.register("hs-client", "hs-secret-0123456789")
        providers.register(HubSpotLike())
        await set_app(
            hub,
            HubSpotLike.slug,
            client_id="hs-client",
            client_secret="hs-secret-0123456789",
            authorize_url=f"{server.url}/oauth/authorize",
            token_url=f"{server.url}/oauth/v1/token",
        )
        yield server


async def connect(sim: HubSpotSimulator) -> hubwire.Entity:
    url = await Integration.authorize(provider=HubSpotLike.slug, redirect_uri=REDIRECT)
    assert "code_challenge_method=S256" in url
    async with httpx.AsyncClient() as browser:  # the simulator serves in this event loop
        location = (await browser.get(url)).headers["location"]
    back = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return await Integration.connect(code=back["code"], state=back["state"], api_base_url=sim.url)


async def contacts(hub: Hub, integration_id: str) -> object:
    entity = await Integration.get(integration_id)
    prov = hub.providers.get(entity["provider"])
    return await prov.connection(ProviderContext(hub, prov, entity, {}, {})).call(CONTACTS)  # type: ignore[attr-defined]


async def test_connect_refresh_keeps_the_refresh_token_hubspot_returns(hub: Hub, sim: HubSpotSimulator) -> None:
    entity = await connect(sim)
    assert entity["status"] == "Connected"
    before = await load_credentials(hub, entity.id)
    await make_due(hub, entity.id)
    assert isinstance(await contacts(hub, entity.id), dict)
    after = await load_credentials(hub, entity.id)
    assert after["access_token"] != before["access_token"] and after["refresh_token"] == before["refresh_token"]
    assert sim.oauth.grants == ["authorization_code", "refresh_token"]


async def test_a_401_from_hubspot_refreshes_with_rotation(hub: Hub, sim: HubSpotSimulator) -> None:
    sim.oauth.rotate_refresh = True
    entity = await connect(sim)
    before = await load_credentials(hub, entity.id)
    sim.oauth.expire(before["access_token"])
    assert isinstance(await contacts(hub, entity.id), dict)
    after = await load_credentials(hub, entity.id)
    assert after["refresh_token"] != before["refresh_token"] and before["refresh_token"] not in sim.oauth.refresh_tokens


async def test_bad_refresh_token_is_reauth_required(hub: Hub, sim: HubSpotSimulator) -> None:
    entity = await connect(sim)
    sim.oauth.revoke((await load_credentials(hub, entity.id))["refresh_token"])
    await make_due(hub, entity.id)
    with pytest.raises(hubwire.ProviderAuthError) as err:
        await oauth.access_token(hub, entity.id)
    assert err.value.code == "reauth_required"
    assert (await Integration.get(entity.id))["error"] == "reauth_required"


async def test_a_provider_without_pkce_sends_no_challenge(hub: Hub, sim: HubSpotSimulator) -> None:
    await set_app(hub, HubSpotLike.slug, extra={"pkce": False})
    url = await Integration.authorize(provider=HubSpotLike.slug, redirect_uri=REDIRECT)
    assert "code_challenge" not in url
    async with httpx.AsyncClient() as browser:
        location = (await browser.get(url)).headers["location"]
    back = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    entity = await Integration.connect(code=back["code"], state=back["state"], api_base_url=sim.url)
    assert entity["status"] == "Connected"
