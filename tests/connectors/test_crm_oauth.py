"""The CRMs connect with OAuth 2.0 end to end, each against its simulator's own OAuth endpoints:
the OAuth app set with its URLs pointed at the simulator, ``GET /v1/oauth/{provider}/authorize``
over REST, the simulator's authorize page redirecting with a code, ``GET /v1/oauth/callback``
connecting, the initial sync, and the token refreshed when it is due (HubSpot, Pipedrive) or
refused (Salesforce, whose tokens say no expiry). The pasted-token alternatives (HubSpot private
app, Pipedrive API token) stay tokens that are sent as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.connectors.registry import default_registry
from hubwire.domains.crm import Contact, Organization
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ProviderAuthError, ValidationError
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.oauth import refresh_count, set_app
from hubwire.oauth.tokens import RefreshLocks
from hubwire.simulators.hubspot import DEFAULT_TOKEN, HubSpotSimulator
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from hubwire.simulators.salesforce import SalesforceSimulator
from hubwire.vault.credentials import load_credentials
from tests.connectors.loopback import LOOPBACK
from tests.oauth.conftest import make_due as make_stored_token_due
from tests.oauth.conftest import query_of
from tests.simulators.crm_fixtures import assert_no_mismatches, require_salesforce_collection

BACK = "https://app.example/connected"
CLIENT_ID, CLIENT_SECRET = "crm-client", "crm-client-secret-0123456789"


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


@pytest.fixture
async def rest(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(hub)
    _, key = await create_api_key(hub, "crm-oauth-tests", "admin")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://hubwire.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as client,
    ):
        yield client


async def authorize_over_rest(
    hub: Hub, rest: httpx.AsyncClient, slug: str, sim: Any, authorize: str, token: str, **params: str
) -> tuple[str, dict[str, str]]:
    """Set the OAuth app against the simulator, authorize over REST, approve at the simulator, and
    come back through the hub's callback (no API key: the state authenticates it). Returns the
    Integration id and what the hub sent to the simulator's authorize page."""
    sim.oauth.register(CLIENT_ID, CLIENT_SECRET)
    await set_app(
        hub,
        slug,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{sim.url}{authorize}",
        token_url=f"{sim.url}{token}",
    )
    started = await rest.get(f"/v1/oauth/{slug}/authorize", params={"redirect_uri": BACK, **params})
    assert started.status_code == 302, started.text
    location = started.headers["location"]
    assert location.startswith(f"{sim.url}{authorize}?")
    sent = query_of(location)
    assert sent["code_challenge_method"] == "S256" and sent["redirect_uri"] == "http://hubwire.test/v1/oauth/callback"
    async with httpx.AsyncClient() as browser:  # the simulator serves in this event loop
        approved = await browser.get(location)
    assert approved.status_code == 302 and approved.headers["location"].startswith(
        "http://hubwire.test/v1/oauth/callback?"
    )
    callback = httpx.AsyncClient(transport=rest._transport, base_url="http://hubwire.test")
    async with callback:
        back = await callback.get("/v1/oauth/callback", params=query_of(approved.headers["location"]))
    assert back.status_code == 302, back.text
    landed = query_of(back.headers["location"])
    assert "error" not in landed, landed
    return landed["integration_id"], sent


async def make_due(hub: Hub, integration_id: str) -> None:
    """The stored token due for refresh, and this process's copy of it forgotten (as another
    process, which reads the stored one, would see it)."""
    await make_stored_token_due(hub, integration_id)
    hub.service(RefreshLocks).tokens.pop(integration_id, None)


def test_the_crms_declare_their_oauth() -> None:
    hubspot, salesforce, pipedrive = (default_registry.get(s).oauth for s in ("hubspot", "salesforce", "pipedrive"))
    assert hubspot is not None and salesforce is not None and pipedrive is not None
    assert hubspot.authorize_url == "https://app.hubspot.com/oauth/authorize"
    assert hubspot.token_url == "https://api.hubapi.com/oauth/v1/token" and "crm.objects.leads.write" in hubspot.scopes
    assert salesforce.token_url == "https://login.salesforce.com/services/oauth2/token"
    assert salesforce.token_config == ("instance_url",) and "refresh_token" in salesforce.scopes
    assert pipedrive.client_auth == "client_secret_basic" and pipedrive.token_config == ("api_domain",)
    assert all(s.pkce for s in (hubspot, salesforce, pipedrive))


async def test_hubspot_connects_with_oauth_syncs_and_refreshes(hub: Hub, rest: httpx.AsyncClient) -> None:
    async with HubSpotSimulator(rate_limit=None) as sim:
        sim.seed("contacts", {"email": "ada@acme.example", "firstname": "Ada"})
        # HubSpot's API has one address: the Integration that points at the simulator is made first,
        # and the authorization connects it.
        made = await Integration.create(name="HubSpot", provider="hubspot", api_base_url=sim.url)
        iid, sent = await authorize_over_rest(
            hub, rest, "hubspot", sim, "/oauth/authorize", "/oauth/v1/token", integration_id=made.id
        )
        assert iid == made.id and "crm.objects.contacts.read" in sent["scope"].split()
        assert (await Integration.get(iid))["status"] == "Connected"
        await Worker(hub).drain()
        assert (await Integration.get(iid))["status"] == "Synced"
        assert [c["email"] for c in await Contact.find({})] == ["ada@acme.example"]
        before = await load_credentials(hub, iid)
        assert before["refresh_token"] and before["expires_at"] > hub.clock()

        await make_due(hub, iid)
        sim.seed("contacts", {"email": "bob@globex.example"})
        await run_sync(hub, iid)
        assert await Contact.count() == 2
        after = await load_credentials(hub, iid)
        assert after["access_token"] != before["access_token"] and after["refresh_token"] == before["refresh_token"]
        assert sim.oauth.grants == ["authorization_code", "refresh_token"]
        assert_no_mismatches(sim)


async def test_salesforce_takes_the_instance_url_from_the_token_and_refreshes_on_401(
    hub: Hub, rest: httpx.AsyncClient
) -> None:
    require_salesforce_collection()
    async with SalesforceSimulator() as sim:
        sim.seed("Account", Name="Acme")
        iid, sent = await authorize_over_rest(
            hub, rest, "salesforce", sim, "/services/oauth2/authorize", "/services/oauth2/token"
        )
        assert sent["scope"].split() == ["api", "refresh_token"]
        integ = await Integration.get(iid)
        assert integ["status"] == "Connected" and integ["config"]["instance_url"] == sim.url
        assert "access_token" not in str(dict(integ))
        await Worker(hub).drain()
        assert (await Integration.get(iid))["status"] == "Synced"
        assert [o["name"] for o in await Organization.find({})] == ["Acme"]

        # Salesforce's token says no expiry: the org's 401 for an expired session refreshes it once.
        before = await load_credentials(hub, iid)
        assert "expires_at" not in before and before["instance_url"] == sim.url
        sim.oauth.expire(before["access_token"])
        refreshes = refresh_count(hub)
        sim.seed("Account", Name="Globex")
        await run_sync(hub, iid)
        assert sorted(o["name"] for o in await Organization.find({})) == ["Acme", "Globex"]
        assert refresh_count(hub) == refreshes + 1 and sim.oauth.grants == ["authorization_code", "refresh_token"]
        after = await load_credentials(hub, iid)
        assert after["access_token"] != before["access_token"] and after["refresh_token"] == before["refresh_token"]
        assert_no_mismatches(sim)


async def test_pipedrive_connects_with_oauth_to_its_api_domain_and_refreshes(hub: Hub, rest: httpx.AsyncClient) -> None:
    async with PipedriveSimulator() as sim:
        sim.seed("organizations", name="Acme")
        iid, sent = await authorize_over_rest(hub, rest, "pipedrive", sim, "/oauth/authorize", "/oauth/token")
        assert "scope" not in sent  # Pipedrive's scopes are the app's, chosen in its Developer Hub
        integ = await Integration.get(iid)
        assert integ["status"] == "Connected" and integ["config"]["api_domain"] == sim.url
        assert integ["api_base_url"] != sim.url  # the requests went to the token's api_domain
        await Worker(hub).drain()
        assert [o["name"] for o in await Organization.find({})] == ["Acme"]
        await make_due(hub, iid)
        sim.seed("organizations", name="Globex")
        await run_sync(hub, iid)
        assert sorted(o["name"] for o in await Organization.find({})) == ["Acme", "Globex"]
        assert sim.oauth.grants == ["authorization_code", "refresh_token"]
        bearer = [r for r in sim.requests if r.headers.get("Authorization", "").startswith("Bearer ")]
        assert bearer and not any(r.headers.get("x-api-token") for r in sim.requests)
        assert_no_mismatches(sim)


async def test_pasted_tokens_are_sent_as_they_are_and_never_refreshed(hub: Hub) -> None:
    async with HubSpotSimulator(rate_limit=None) as hubspot, PipedriveSimulator() as pipedrive:
        private = await Integration.connect(provider="hubspot", access_token=DEFAULT_TOKEN, api_base_url=hubspot.url)
        await Worker(hub).drain()
        token = await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=pipedrive.url)
        await Worker(hub).drain()
        assert (await Integration.get(private.id))["status"] == "Synced"
        assert (await Integration.get(token.id))["status"] == "Synced"
        assert pipedrive.requests[-1].headers.get("x-api-token") == DEFAULT_API_TOKEN
        # A refused private-app token is HubSpot's refusal, not a refresh (there is nothing to refresh).
        hubspot.tokens = frozenset()
        with pytest.raises(ProviderAuthError) as refused:
            await run_sync(hub, private.id)
        assert refused.value.code != "reauth_required" and refresh_count(hub) == 0
        assert hubspot.oauth.grants == [] and pipedrive.oauth.grants == []


async def test_salesforce_connects_with_the_client_credentials_grant_set_on_its_oauth_app(hub: Hub) -> None:
    """The grant is the OAuth app's (``extra.grant``), not the provider's declared one: a connect
    without a token asks the token endpoint; the token (no expiry, no refresh token, as Salesforce
    answers) is handed out by hubwire.oauth, and a 401 fetches a new one with the client credentials."""
    require_salesforce_collection()
    async with SalesforceSimulator() as sim:
        sim.seed("Account", Name="Acme")
        sim.oauth.register(CLIENT_ID, CLIENT_SECRET)
        await set_app(
            hub,
            "salesforce",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_url=f"{sim.url}/services/oauth2/token",
            extra={"grant": "client_credentials"},
        )
        integ = await Integration.connect(provider="salesforce")
        assert integ["status"] == "Connected" and integ["config"]["instance_url"] == sim.url
        asked = [r for r in sim.requests if r.path == "/services/oauth2/token"]
        assert len(asked) == 1 and query_of("?" + asked[0].body.decode())["grant_type"] == "client_credentials"
        before = await load_credentials(hub, integ.id)
        assert "refresh_token" not in before and "expires_at" not in before
        await Worker(hub).drain()
        assert (await Integration.get(integ.id))["status"] == "Synced"
        assert [o["name"] for o in await Organization.find({})] == ["Acme"]

        sim.oauth.expire(before["access_token"])  # the org's session timed out: 401 INVALID_SESSION_ID
        sim.seed("Account", Name="Globex")
        await run_sync(hub, integ.id)
        assert sorted(o["name"] for o in await Organization.find({})) == ["Acme", "Globex"]
        assert refresh_count(hub) == 1 and sim.oauth.grants == ["client_credentials", "client_credentials"]
        after = await load_credentials(hub, integ.id)
        assert after["access_token"] != before["access_token"] and "refresh_token" not in after
        assert after["instance_url"] == sim.url  # kept with the new token
        assert_no_mismatches(sim)


async def test_the_declared_grant_stands_without_an_oauth_app_override(hub: Hub) -> None:
    """Without ``extra.grant`` Salesforce stays the web server flow: a connect with neither a code nor
    a token is refused for the missing token, and the token endpoint is never asked."""
    async with SalesforceSimulator() as sim:
        sim.oauth.register(CLIENT_ID, CLIENT_SECRET)
        await set_app(
            hub,
            "salesforce",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_url=f"{sim.url}/services/oauth2/token",
        )
        with pytest.raises(ValidationError) as refused:
            await Integration.connect(provider="salesforce")
        assert "access_token" in str(refused.value) and sim.oauth.grants == []
