"""Authorization code + PKCE against Authlib's own authorization server on loopback: authorize,
connect with code and state, states single use and expiring, tokens stored encrypted."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import hubwire
from hubwire import Integration
from hubwire.errors import ValidationError
from hubwire.hub import Hub
from hubwire.store.tables import credentials, oauth_states
from hubwire.vault.credentials import load_credentials
from tests.oauth.authserver import SLUG, AuthlibServer
from tests.oauth.conftest import REDIRECT, approve, query_of


async def test_authorize_sends_pkce_s256_and_a_state(oauth_hub: Hub, authserver: AuthlibServer) -> None:
    url = await Integration.authorize(provider=SLUG, redirect_uri=REDIRECT, scopes=["widgets.read"])
    assert url.startswith(f"{authserver.url}/authorize?")  # the OAuth app's override
    q = query_of(url)
    assert q["response_type"] == "code" and q["redirect_uri"] == REDIRECT
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["scope"] == "profile widgets.read"  # the provider's defaults, then the connection's
    async with oauth_hub.read() as conn:
        stored = (await conn.execute(sa.select(oauth_states))).all()
    assert len(stored) == 1 and stored[0].id != q["state"]  # kept by digest, never the value


async def test_connect_with_code_and_state(oauth_hub: Hub, authserver: AuthlibServer) -> None:
    url = await Integration.authorize(provider=SLUG, redirect_uri=REDIRECT)
    back = approve(url)
    entity = await Integration.connect(code=back["code"], state=back["state"], api_base_url=authserver.url)
    assert entity["provider"] == SLUG and entity["status"] == "Connected"
    assert entity["config"]["account"] == {"id": "user-1", "name": "Ada"}  # the check ran with the new token
    creds = await load_credentials(oauth_hub, entity.id)
    assert creds["refresh_token"] and creds["expires_at"] > creds["refresh_at"]
    async with oauth_hub.read() as conn:
        blob = (await conn.execute(sa.select(credentials.c.ciphertext))).scalar_one()
    assert creds["access_token"].encode() not in bytes(blob)
    assert authserver.store.grants == ["authorization_code"]


@pytest.mark.parametrize("how", ["reused", "wrong", "expired", "other_provider"])
async def test_a_bad_state_is_refused_and_nothing_stored(oauth_hub: Hub, authserver: AuthlibServer, how: str) -> None:
    url = await Integration.authorize(provider=SLUG, redirect_uri=REDIRECT)
    back = approve(url)
    if how == "reused":
        await Integration.connect(code=back["code"], state=back["state"], api_base_url=authserver.url)
    before = len(await Integration.find({}))
    state = back["state"] + "x" if how == "wrong" else back["state"]
    if how == "expired":
        now = oauth_hub.clock
        oauth_hub.clock = lambda: now() + 601
    with pytest.raises(ValidationError) as err:
        await Integration.connect(
            provider="stripe" if how == "other_provider" else None, code=back["code"], state=state
        )
    assert err.value.code in ("oauth_state_invalid", "validation_error")
    assert len(await Integration.find({})) == before
    if how != "other_provider":
        assert err.value.code == "oauth_state_invalid"


async def test_a_refused_code_stores_nothing(oauth_hub: Hub) -> None:
    url = await Integration.authorize(provider=SLUG, redirect_uri=REDIRECT)
    back = approve(url)
    with pytest.raises(hubwire.ProviderAuthError) as err:
        await Integration.connect(code="not-the-code", state=back["state"])
    assert err.value.code == "reauth_required"  # invalid_grant
    assert await Integration.find({}) == []
