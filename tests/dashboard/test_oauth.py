"""The catalogue's OAuth button against a real authorization server on loopback (Authlib's): the
dashboard sends the user to the provider, the provider back to the hub's callback, the callback to
the dashboard, which shows the connected Integration (or what went wrong, readably)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

import hubwire
from hubwire import Integration
from hubwire.connectors.registry import ProviderRegistry
from hubwire.oauth import set_app
from tests.oauth.authserver import CLIENT_ID, CLIENT_SECRET, SLUG, AuthlibServer, provider
from tests.oauth.conftest import approve


@pytest.fixture
def authserver(hub: hubwire.Hub, providers: ProviderRegistry) -> Iterator[AuthlibServer]:
    with AuthlibServer() as server:
        providers.register(provider(base_url=server.url))
        yield server


async def test_the_oauth_button_connects_through_the_provider(
    hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str], authserver: AuthlibServer
) -> None:
    c, csrf = admin
    await set_app(
        hub,
        SLUG,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{authserver.url}/authorize",
        token_url=f"{authserver.url}/token",
    )
    catalogue = await c.get("/catalogue")
    assert f'action="/catalogue/{SLUG}/authorize"' in catalogue.text
    assert "Connect Authlib test server with OAuth" in catalogue.text
    assert 'action="/catalogue/stripe/authorize"' not in catalogue.text  # Stripe takes a key, no OAuth

    r = await c.post(f"/catalogue/{SLUG}/authorize", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith(f"{authserver.url}/authorize?")
    back = approve(r.headers["location"])  # the provider approves and sends the browser to the hub's callback
    callback = await c.get("/v1/oauth/callback", params=back)
    assert callback.status_code == 302
    done = urlsplit(callback.headers["location"])
    assert done.path == "/oauth/done"
    shown = await c.get(f"{done.path}?{done.query}")
    assert shown.status_code == 303
    (integ,) = await Integration.find({"provider": SLUG})
    assert shown.headers["location"] == f"/integrations/{integ.id}" and integ["status"] == "Connected"


async def test_a_refused_authorization_is_a_readable_page(admin: tuple[httpx.AsyncClient, str]) -> None:
    c, _ = admin
    r = await c.get("/oauth/done", params={"error": "access_denied", "error_description": "<b>no</b> thanks"})
    assert r.status_code == 422 and 'role="alert"' in r.text and "&lt;b&gt;no&lt;/b&gt; thanks" in r.text


async def test_without_an_oauth_app_the_button_says_so(
    hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str], authserver: AuthlibServer
) -> None:
    c, csrf = admin
    r = await c.post(f"/catalogue/{SLUG}/authorize", data={"csrf": csrf})
    assert 400 <= r.status_code < 500 and 'role="alert"' in r.text
