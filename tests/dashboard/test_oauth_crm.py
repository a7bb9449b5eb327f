"""The catalogue's OAuth button for the CRMs: shown for the providers that declare OAuth 2.0, it
sends the browser to the provider (here the HubSpot simulator's authorize page), whose code comes
back through the REST callback and ends on the connected Integration's page."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

import hubwire
from hubwire import Integration
from hubwire.oauth import set_app
from hubwire.simulators.hubspot import HubSpotSimulator
from tests.dashboard.conftest import browser, csrf_of
from tests.oauth.conftest import query_of


async def test_the_crms_oauth_button_reconnects_through_the_hubspot_simulator(
    hub: hubwire.Hub, app: FastAPI, admin: tuple[httpx.AsyncClient, str]
) -> None:
    c, csrf = admin
    page = (await c.get("/catalogue")).text
    for slug in ("hubspot", "salesforce", "pipedrive"):
        assert f'action="/catalogue/{slug}/authorize"' in page
    assert 'action="/catalogue/stripe/authorize"' not in page  # Stripe connects with a key only

    # Without an OAuth app the button says what to do, as a readable page.
    r = await c.post("/catalogue/hubspot/authorize", data={"csrf": csrf})
    assert r.status_code == 422 and "oauth-apps set hubspot" in r.text

    async with HubSpotSimulator(rate_limit=None) as sim:
        sim.oauth.register("dash-client", "dash-secret-0123456789")
        await set_app(
            hub,
            "hubspot",
            client_id="dash-client",
            client_secret="dash-secret-0123456789",
            authorize_url=f"{sim.url}/oauth/authorize",
            token_url=f"{sim.url}/oauth/v1/token",
        )
        made = await Integration.create(name="HubSpot", provider="hubspot", api_base_url=sim.url)
        reconnect = await c.get(f"/catalogue?reconnect={made.id}")
        r = await c.post(
            "/catalogue/hubspot/authorize", data={"csrf": csrf_of(reconnect.text), "integration_id": made.id}
        )
        assert r.status_code == 303 and r.headers["location"].startswith(f"{sim.url}/oauth/authorize?")
        assert query_of(r.headers["location"])["redirect_uri"] == "http://hubwire.test/v1/oauth/callback"
        async with httpx.AsyncClient() as outside:
            approved = await outside.get(r.headers["location"])
        async with browser(app) as back:  # the provider's redirect: no session needed, the state is the credential
            done = await back.get(approved.headers["location"])
        assert done.status_code == 302
        assert done.headers["location"].startswith("http://hubwire.test/oauth/done?")
        assert query_of(done.headers["location"])["integration_id"] == made.id
        assert (await Integration.get(made.id))["status"] == "Connected"
