"""Direct provider calls (``Integration.use``) against the Salesforce, Pipedrive and Stripe simulators on
loopback: the connector's own connection (auth, rate budget, typed errors), resources by spec,
foreign hosts refused, and the REST proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubwire.domains.crm import Contact
from hubwire.domains.platform import Integration
from hubwire.errors import NotFoundError, ProviderInvalidRequest, ProviderNotFound, ValidationError
from hubwire.hub import Hub
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from hubwire.simulators.salesforce import DEFAULT_SESSION, SalesforceSimulator
from hubwire.simulators.stripe import StripeSimulator
from tests.api.conftest import rest_client
from tests.connectors.loopback import LOOPBACK
from tests.fakes import FakeClock
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches, require_salesforce_collection

http_time = FakeClock()


async def no_sleep(seconds: float) -> None:
    http_time.advance(seconds)


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, clock=http_time, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


@pytest.fixture
async def sf() -> AsyncIterator[SalesforceSimulator]:
    require_salesforce_collection()
    async with SalesforceSimulator(now=Clock()) as s:
        yield s
    assert_no_mismatches(s)


@pytest.fixture
async def pd() -> AsyncIterator[PipedriveSimulator]:
    async with PipedriveSimulator(now=Clock()) as s:
        yield s
    assert_no_mismatches(s)


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


async def connect_sf(sim: SalesforceSimulator, **more: Any) -> str:
    integ = await Integration.connect(
        provider="salesforce", access_token=DEFAULT_SESSION, instance_url=sim.url, sync_frequency="manual", **more
    )
    return integ.id


async def test_salesforce_by_slug_request_and_crud(hub: Hub, sf: SalesforceSimulator) -> None:
    sf.seed("Account", Name="Acme")
    iid = await connect_sf(sf)
    crm = await Integration.use("salesforce")
    assert crm.integration.id == iid
    described = await crm.request("GET", "/services/data/v59.0/sobjects/Account/describe")
    assert described.status == 200 and described.body["name"] == "Account"
    assert described.headers["content-type"].startswith("application/json")
    assert all(_header(r.headers, "authorization") == f"Bearer {DEFAULT_SESSION}" for r in sf.requests)
    made = await crm.create("Lead", {"LastName": "Hopper", "Company": "Navy"})
    assert made["success"] is True
    assert (await crm.get("Lead", made["id"]))["Company"] == "Navy"
    updated = await crm.update("Lead", made["id"], {"Company": "US Navy"})  # Salesforce answers 204: read back
    assert updated["Company"] == "US Navy"
    assert [a["Name"] for a in await crm.list("Account")] == ["Acme"]
    # The provider's errors, typed, with its code and message.
    with pytest.raises(ProviderInvalidRequest) as missing:
        await crm.create("Lead", {"FirstName": "No"})
    assert missing.value.code == "REQUIRED_FIELD_MISSING" and "LastName" in missing.value.message
    with pytest.raises(ProviderNotFound):
        await crm.get("Lead", "00Q000000000000AAA")


async def test_salesforce_duplicate_value_is_the_providers_code(hub: Hub, sf: SalesforceSimulator) -> None:
    sf.state.add_field("Account", "Code__c", unique=True)
    await connect_sf(sf)
    crm = await Integration.use("salesforce")
    await crm.create("Account", {"Name": "A", "Code__c": "X1"})
    with pytest.raises(ProviderInvalidRequest) as dup:
        await crm.create("Account", {"Name": "B", "Code__c": "X1"})
    assert dup.value.code == "DUPLICATE_VALUE" and dup.value.provider_status == 400


async def test_a_foreign_host_is_refused_before_any_request(hub: Hub, sf: SalesforceSimulator) -> None:
    await connect_sf(sf)
    crm = await Integration.use("salesforce")
    sent = len(sf.requests)
    for path in ("https://evil.example/steal", "http://127.0.0.2:1/x", "@evil.example/x", "//evil.example/x", "x"):
        with pytest.raises(ValidationError) as err:
            await crm.request("GET", path)
        assert err.value.errors[0].field == "path"
    assert len(sf.requests) == sent
    same = await crm.request("GET", f"{sf.url}/services/data/v59.0/sobjects/Account/describe")  # its own host: fine
    assert same.status == 200
    with pytest.raises(ValidationError):
        await crm.request("TRACE", "/services/data")


async def test_use_by_id_and_the_ambiguous_and_unknown_cases(
    hub: Hub, sf: SalesforceSimulator, pd: PipedriveSimulator
) -> None:
    with pytest.raises(NotFoundError):
        await Integration.use("salesforce")  # none connected
    with pytest.raises(NotFoundError):
        await Integration.use("nope")
    first = await connect_sf(sf)
    second = await connect_sf(sf, slug="second-org")
    with pytest.raises(ValidationError) as amb:
        await Integration.use("salesforce")
    assert first in amb.value.message and second in amb.value.message
    assert (await Integration.use(second)).integration.id == second


async def test_pipedrive_resources_from_its_spec(hub: Hub, pd: PipedriveSimulator) -> None:
    pd.seed("organizations", name="Acme")
    await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=pd.url)
    crm = await Integration.use("pipedrive")
    made = await crm.create("persons", {"name": "Ada Lovelace"})
    pid = made["data"]["id"]
    assert (await crm.get("Contact", pid))["data"]["name"] == "Ada Lovelace"  # by the Noun's name too
    await crm.update("persons", pid, {"name": "Ada King"})
    assert [p["name"] for p in await crm.list("persons")] == ["Ada King"]
    assert [o["name"] for o in await crm.list("organizations", limit=1)] == ["Acme"]
    assert all(_header(r.headers, "x-api-token") == DEFAULT_API_TOKEN for r in pd.requests)
    with pytest.raises(ValidationError):
        await crm.list("widgets")


async def test_rest_proxy(hub: Hub, pd: PipedriveSimulator) -> None:
    integ = await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=pd.url)
    pd.seed("organizations", name="Acme")
    async with rest_client(hub) as client:
        auth: dict[str, str] = {}
        r = await client.post(
            f"/v1/integrations/{integ.id}/proxy",
            json={"method": "GET", "path": "/api/v2/organizations", "query": {"limit": 5}},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["status"] == 200 and [o["name"] for o in out["body"]["data"]] == ["Acme"]
        assert DEFAULT_API_TOKEN not in r.text
        bad = await client.post(
            f"/v1/integrations/{integ.id}/proxy", json={"method": "GET", "path": "https://evil.example/"}, headers=auth
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "foreign_host"
        gone = await client.post(
            f"/v1/integrations/{integ.id}/proxy", json={"method": "GET", "path": "/api/v2/persons/999"}, headers=auth
        )
        assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")


async def test_a_schema_org_person_is_written_through_as_a_salesforce_contact(
    hub: Hub, sf: SalesforceSimulator
) -> None:
    await connect_sf(sf)
    person = {"$type": "Person", "name": "John Smith", "email": "john@example.com", "jobTitle": "CEO"}
    made = await Contact.create(person)
    (remote,) = sf.state.records["Contact"].values()
    assert (remote["FirstName"], remote["LastName"], remote["Email"], remote["Title"]) == (
        "John",
        "Smith",
        "john@example.com",
        "CEO",
    )
    assert made["$type"] == "Contact"
    crm = await Integration.use("salesforce")
    assert (await crm.get("Contact", remote["Id"]))["LastName"] == "Smith"


async def test_stripe_form_bodies_and_its_error_codes(hub: Hub, stripe_sim: StripeSimulator) -> None:
    await Integration.connect(provider="stripe", api_key="sk_test_hubwire", api_base_url=stripe_sim.url)
    pay = await Integration.use("stripe")
    made = await pay.create("Customer", {"email": "ada@example.com", "metadata": {"tier": "gold"}})  # form-encoded
    assert made["id"].startswith("cus_") and made["metadata"] == {"tier": "gold"}
    assert (await pay.update("customer", made["id"], {"name": "Ada"}))["name"] == "Ada"
    assert [c["email"] for c in await pay.list("customer")] == ["ada@example.com"]
    balance = await pay.request("GET", "/v1/balance")
    assert balance.status == 200 and balance.body["object"] == "balance"
    with pytest.raises(ProviderNotFound) as missing:
        await pay.get("customer", "cus_nope")
    assert missing.value.code == "resource_missing" and "sk_test_hubwire" not in str(missing.value.to_dict())
