"""OAuth over REST: authorize -> 302 to the provider -> callback -> 302 to the caller with the
Integration id; bad states refused with nothing stored; OAuth apps whose secret never comes back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hubwire import Integration
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key, revoke_api_key
from hubwire.hub import Hub
from tests.oauth.authserver import CLIENT_SECRET, SLUG, AuthlibServer
from tests.oauth.conftest import approve, query_of

BACK = "https://app.example/connected?from=hubwire"


@pytest.fixture
async def rest(oauth_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(oauth_hub)
    _, key = await create_api_key(oauth_hub, "oauth-tests", "admin")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://hubwire.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as client,
    ):
        yield client


async def start(rest: httpx.AsyncClient, **params: str) -> dict[str, str]:
    """Authorize over REST and let the provider approve: the query it sends to the hub's callback."""
    r = await rest.get(f"/v1/oauth/{SLUG}/authorize", params={"redirect_uri": BACK, **params})
    assert r.status_code == 302, r.text
    to_provider = query_of(r.headers["location"])
    assert to_provider["redirect_uri"] == "http://hubwire.test/v1/oauth/callback"
    assert to_provider["code_challenge_method"] == "S256"
    return approve(r.headers["location"])


async def test_authorize_callback_connects_and_redirects_with_the_id(
    rest: httpx.AsyncClient, authserver: AuthlibServer
) -> None:
    back = await start(rest)
    r = await httpx.AsyncClient(transport=rest._transport, base_url="http://hubwire.test").get(  # no API key
        "/v1/oauth/callback", params=back
    )
    assert r.status_code == 302, r.text
    assert r.headers["location"].startswith("https://app.example/connected?")
    q = query_of(r.headers["location"])
    assert q["from"] == "hubwire" and q["integration_id"].startswith("integration_")
    entity = await Integration.get(q["integration_id"])
    assert entity["provider"] == SLUG and entity["status"] == "Connected"


async def test_a_reused_or_wrong_state_is_refused_and_nothing_stored(rest: httpx.AsyncClient) -> None:
    back = await start(rest)
    wrong = await rest.get("/v1/oauth/callback", params={**back, "state": "forged"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "oauth_state_invalid"
    first = await rest.get("/v1/oauth/callback", params=back)
    assert first.status_code == 302
    again = await rest.get("/v1/oauth/callback", params=back)
    assert again.status_code == 422 and again.json()["code"] == "oauth_state_invalid"
    assert len(await Integration.find({})) == 1


async def test_a_refusal_at_the_provider_goes_back_with_the_error(rest: httpx.AsyncClient) -> None:
    back = await start(rest)
    r = await rest.get("/v1/oauth/callback", params={"state": back["state"], "error": "access_denied"})
    assert r.status_code == 302 and query_of(r.headers["location"])["error"] == "access_denied"
    assert await Integration.find({}) == []


async def test_a_state_of_a_revoked_key_is_refused(oauth_hub: Hub, rest: httpx.AsyncClient) -> None:
    other, key = await create_api_key(oauth_hub, "short-lived", "admin")
    r = await rest.get(
        f"/v1/oauth/{SLUG}/authorize", params={"redirect_uri": BACK}, headers={"Authorization": f"Bearer {key}"}
    )
    back = approve(r.headers["location"])
    await revoke_api_key(oauth_hub, other.id)
    refused = await rest.get("/v1/oauth/callback", params=back)
    assert refused.status_code == 422 and "revoked" in refused.json()["detail"]
    assert await Integration.find({}) == []


async def test_oauth_apps_never_show_the_secret(rest: httpx.AsyncClient, authserver: AuthlibServer) -> None:
    r = await rest.put(f"/v1/oauth-apps/{SLUG}", json={"scopes": ["profile", "widgets"]})
    assert r.status_code == 200, r.text
    assert r.json()["client_secret_set"] is True and r.json()["scopes"] == ["profile", "widgets"]
    listed = await rest.get("/v1/oauth-apps")
    one = await rest.get(f"/v1/oauth-apps/{SLUG}")
    for resp in (r, listed, one):
        assert CLIENT_SECRET not in resp.text
    bad = await rest.put(f"/v1/oauth-apps/{SLUG}", json={"token_url": "file:///etc/passwd"})
    assert bad.status_code == 422  # the SSRF guard: a token URL is dialled (tests/net covers its addresses)
    unknown = await rest.put("/v1/oauth-apps/stripe", json={"client_id": "x", "client_secret": "y"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "oauth_unsupported"
    assert (await rest.delete(f"/v1/oauth-apps/{SLUG}")).status_code == 204
    assert (await rest.get(f"/v1/oauth-apps/{SLUG}")).status_code == 404
    missing = await rest.get(f"/v1/oauth/{SLUG}/authorize", params={"redirect_uri": BACK})
    assert missing.status_code == 422 and missing.json()["errors"][0]["code"] == "oauth_app_missing"
