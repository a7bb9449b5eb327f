"""Salesforce end to end against the simulator over loopback: connect, SOQL sync (paging, incremental,
deletions, the API usage stop), field mappings, write-through and composite push."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import requests
from simple_salesforce import Salesforce

from hubwire.connectors.salesforce import push
from hubwire.domains.crm import Contact, Deal, Lead, Organization
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ProviderAuthError, ProviderInvalidRequest, ProviderRateLimited, ValidationError
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.salesforce import DEFAULT_SESSION, SalesforceSimulator
from hubwire.sync.state import load_cursor
from tests.connectors.loopback import LOOPBACK
from tests.fakes import FakeClock
from tests.simulators.crm_fixtures import (
    Clock,
    LoopbackTLS,
    assert_no_mismatches,
    loopback_tls,
    require_salesforce_collection,
    salesforce_served,
)

__all__ = ["loopback_tls", "salesforce_served"]  # fixtures used below, from crm_fixtures


http_time = FakeClock()


async def no_sleep(seconds: float) -> None:
    """The HTTP layer's waits (backoff, its own rate budget) pass at once on its clock."""
    http_time.advance(seconds)


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    client = HttpClient(policy=LOOPBACK, clock=http_time, sleep=no_sleep, retry=RetryPolicy(attempts=3))
    use_http_client(hub, client)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sim(clock: Clock) -> AsyncIterator[SalesforceSimulator]:
    """A Salesforce org on loopback (plain HTTP), every request checked against the Postman collection."""
    require_salesforce_collection()
    async with SalesforceSimulator(now=clock) as s:
        yield s
    assert_no_mismatches(s)


def seed_org(sim: SalesforceSimulator) -> dict[str, Any]:
    acme = sim.seed("Account", Name="Acme", Website="https://www.acme.example", Industry="Retail", NumberOfEmployees=40)
    ada = sim.seed("Contact", FirstName="Ada", LastName="Lovelace", Email="ada@acme.example", AccountId=acme["Id"])
    won = sim.seed(
        "Opportunity",
        Name="Big",
        StageName="Closed Won",
        IsWon=True,
        IsClosed=True,
        CloseDate="2026-01-31",
        Amount=5000,
        AccountId=acme["Id"],
        ContactId=ada["Id"],
    )
    lead = sim.seed("Lead", FirstName="Grace", LastName="Hopper", Company="Navy", Status="Open - Not Contacted")
    return {"account": acme, "contact": ada, "opportunity": won, "lead": lead}


async def connect(sim: SalesforceSimulator, **config: Any) -> str:
    integ = await Integration.connect(
        provider="salesforce", access_token=DEFAULT_SESSION, instance_url=sim.url, **config
    )
    return integ.id


def queries(sim: SalesforceSimulator) -> list[str]:
    return [r.param("q") or "" for r in sim.requests if r.param("q")]


async def test_a_refused_token_makes_nothing(hub: Hub, sim: SalesforceSimulator) -> None:
    with pytest.raises(ProviderAuthError) as err:
        await Integration.connect(provider="salesforce", access_token="00Dwrong!token", instance_url=sim.url)
    assert "00Dwrong!token" not in str(err.value.to_dict())
    assert await Integration.find({"provider": "salesforce"}) == []
    with pytest.raises(ValidationError) as bad:
        await Integration.connect(provider="salesforce", access_token="x", instance_url="ftp://nowhere")
    assert bad.value.errors[0].field == "instance_url"


async def test_initial_sync_maps_sobjects_with_relations_and_status(hub: Hub, sim: SalesforceSimulator) -> None:
    s = seed_org(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    integ = await Integration.get(iid)
    assert integ["status"] == "Synced" and integ["last_sync_count"] == 4
    assert integ["config"]["account"]["api_usage"] == "1/15000"  # Sforce-Limit-Info of the check
    org = (await Organization.find({"name": "Acme"}))[0]
    assert (org["domain"], org["industry"], org["employees"]) == ("acme.example", "Retail", 40)
    ada = (await Contact.find({"email": "ada@acme.example"}))[0]
    assert ada["organization"] == org.id and ada["first_name"] == "Ada" and ada["emails"] == ["ada@acme.example"]
    deal = (await Deal.find({"name": "Big"}))[0]
    assert (deal["status"], deal["stage"], deal["amount"]) == ("Won", "Closed Won", 5000)
    assert deal["organization"] == org.id and deal["contact"] == ada.id
    lead = (await Lead.find({"company": "Navy"}))[0]
    assert (lead["name"], lead["status"]) == ("Grace Hopper", "New")
    assert s["lead"]["Id"]  # seeded
    # The first pass asks query (live records), oldest change first.
    assert all(q.endswith("ORDER BY SystemModstamp ASC, Id ASC") for q in queries(sim))
    assert [r.path.rsplit("/", 1)[-1] for r in sim.requests if "/query" in r.path] == ["query"] * 4


async def test_incremental_sync_takes_changes_and_deletions_and_pages(
    hub: Hub, sim: SalesforceSimulator, clock: Clock
) -> None:
    s = seed_org(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    clock.advance(60)
    sim.state.update("Contact", s["contact"]["Id"], {"Title": "Countess"})
    sim.state.delete("Lead", s["lead"]["Id"])
    sim.batch_size = 2  # queryMore pages of two
    for i in range(5):
        sim.seed("Contact", LastName=f"New{i}")
    sim.requests.clear()
    await run_sync(hub, iid)
    ada = (await Contact.find({"email": "ada@acme.example"}))[0]
    assert ada["title"] == "Countess"
    assert await Lead.count() == 0  # deleted in Salesforce (recycle bin, seen by queryAll)
    assert await Contact.count() == 6
    contact_q = next(q for q in queries(sim) if "FROM Contact" in q)
    assert "WHERE SystemModstamp >= " in contact_q
    paths = [r.path for r in sim.requests]
    assert any("/queryAll/" in p for p in paths)  # nextRecordsUrl followed
    cursor = await load_cursor(hub, iid, "contact")
    assert cursor["since"] >= clock.value - 1
    # Nothing changed: the next pass writes nothing.
    again = await run_sync(hub, iid)
    assert again["last_sync_count"] >= 0 and await Contact.count() == 6


async def test_the_sync_stops_near_the_daily_api_limit(hub: Hub, sim: SalesforceSimulator) -> None:
    seed_org(sim)
    iid = await connect(sim, api_usage_stop=0.5)
    sim.api_usage = 0
    sim.daily_limit = 8  # the check used one; each sObject costs a describe and a query
    with pytest.raises(ProviderRateLimited) as err:
        await run_sync(hub, iid)
    assert err.value.retry_after == 3600 and "api usage" in err.value.message.lower()
    # What was read before the stop is stored, with its cursor; the rest waits for the next sync.
    assert await Organization.count() == 1 and await Contact.count() == 1
    assert await Deal.count() == 0 and await load_cursor(hub, iid, "opportunity") == {}
    sim.daily_limit = 15_000
    await run_sync(hub, iid)
    assert await Deal.count() == 1 and await Lead.count() == 1


async def test_field_mappings_fill_noun_fields_from_custom_fields(hub: Hub, sim: SalesforceSimulator) -> None:
    sim.add_field("Contact", "Tier__c", "picklist")
    sim.seed("Contact", LastName="Gold", Tier__c="gold")
    with pytest.raises(ValidationError) as err:
        await connect(sim, field_mappings={"Contact.shoeSize": "Shoe__c"})
    assert err.value.errors[0].code == "unknown_field"
    iid = await connect(sim, field_mappings={"Contact.lifecycleStage": "Tier__c"})
    await run_sync(hub, iid)
    assert (await Contact.find({"last_name": "Gold"}))[0]["lifecycle_stage"] == "gold"


async def test_write_through_creates_updates_and_maps_errors(hub: Hub, sim: SalesforceSimulator) -> None:
    seed_org(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    org = (await Organization.find({"name": "Acme"}))[0]
    made = await Contact.create(first_name="Alan", last_name="Turing", email="alan@acme.example", organization=org.id)
    remote = [r for r in sim.state.records["Contact"].values() if r["LastName"] == "Turing"]
    assert len(remote) == 1 and remote[0]["AccountId"] == sim.state.records["Account"][org_remote(sim)]["Id"]
    await Contact.update(made.id, title="Cryptanalyst")
    assert remote[0]["Title"] == "Cryptanalyst"
    deal = await Deal.create(name="Small", stage="Prospecting", close_date="2026-06-30", organization=org.id)
    won = await Deal.win(deal.id)
    opp = next(r for r in sim.state.records["Opportunity"].values() if r["Name"] == "Small")
    assert opp["StageName"] == "Closed Won" and won["status"] == "Won"
    # The refs are saved with the hash a sync computes: the next sync changes nothing.
    before = (await Contact.get(made.id)).version
    await run_sync(hub, iid)
    assert (await Contact.get(made.id)).version == before
    with pytest.raises(ProviderInvalidRequest) as err:
        await Lead.create(first_name="No", email="no@where.example")  # LastName and Company are required
    assert err.value.code == "REQUIRED_FIELD_MISSING"  # the provider's code, as with Stripe's error codes
    assert await Lead.count() == 1  # nothing written locally


def org_remote(sim: SalesforceSimulator) -> str:
    return next(iter(sim.state.records["Account"]))


async def test_push_writes_many_with_the_composite_api(hub: Hub, sim: SalesforceSimulator) -> None:
    iid = await connect(sim, write_creates=False)
    await Worker(hub).drain()
    orgs = [await Organization.create(name=f"Org {i}") for i in range(3)]
    assert "Account" not in sim.state.records or not sim.state.records["Account"]  # write_creates false
    done = await push(hub, iid, Organization, [o.id for o in orgs])
    assert len(done) == 3 and not done.errors
    assert [r.path for r in sim.requests if "composite" in r.path] == ["/services/data/v59.0/composite/sobjects"]
    await Organization.update(orgs[0].id, name="Renamed")
    done = await push(hub, iid, Organization, [orgs[0].id])
    assert sim.state.get("Account", done[orgs[0].id])["Name"] == "Renamed"
    await run_sync(hub, iid)
    assert await Organization.count() == 3  # linked: the sync does not duplicate them


async def test_simple_salesforce_and_hubwire_agree_on_the_wire(
    hub: Hub, salesforce_served: SalesforceSimulator, loopback_tls: LoopbackTLS
) -> None:
    """Records made with simple-salesforce (Salesforce's own wire format) sync into Hubwire over HTTPS,
    and what Hubwire writes reads back through simple-salesforce."""
    sim = salesforce_served
    trust = ssl.create_default_context(cafile=str(loopback_tls.ca_file))
    transport = httpx.AsyncHTTPTransport(verify=trust)
    use_http_client(
        hub, HttpClient(transport=transport, clock=http_time, sleep=no_sleep, retry=RetryPolicy(attempts=3))
    )
    http = requests.Session()
    http.trust_env = False
    http.verify = str(loopback_tls.ca_file)
    sdk = Salesforce(instance_url=sim.url, session_id=DEFAULT_SESSION, version="59.0", session=http)
    account = await asyncio.to_thread(sdk.Account.create, {"Name": "Initech", "Website": "initech.example"})
    await asyncio.to_thread(
        sdk.Contact.create, {"LastName": "Lumbergh", "Email": "bill@initech.example", "AccountId": account["id"]}
    )
    iid = await connect(sim)
    assert sim.url.startswith("https://")
    await run_sync(hub, iid)
    bill = (await Contact.find({"email": "bill@initech.example"}))[0]
    org = await Organization.get(bill["organization"])
    assert (org["name"], org["domain"]) == ("Initech", "initech.example")
    made = await Contact.create(last_name="Gibbons", email="peter@initech.example", organization=org.id)
    found = await asyncio.to_thread(sdk.query, "SELECT Id, LastName, AccountId FROM Contact WHERE LastName = 'Gibbons'")
    assert found["totalSize"] == 1 and found["records"][0]["AccountId"] == account["id"]
    await Contact.update(made.id, title="Engineer")
    got = await asyncio.to_thread(sdk.Contact.get, found["records"][0]["Id"])
    assert got["Title"] == "Engineer"


async def test_connect_parameters_are_checked_before_anything_is_sent(hub: Hub, sim: SalesforceSimulator) -> None:
    for params, field in (
        ({"api_version": "v59"}, "api_version"),
        ({"api_usage_stop": 1.5}, "api_usage_stop"),
        ({"field_mappings": {"Deal.organization": "AccountId"}}, "Deal.organization"),
        ({"field_mappings": {"Contact.title": "Title; DROP"}}, "Contact.title"),
        ({"field_mappings": {"Invoice.total": "Amount"}}, "Invoice.total"),
    ):
        with pytest.raises(ValidationError) as err:
            await connect(sim, **params)
        assert err.value.errors[0].field == field
    assert sim.requests == []


async def test_the_token_and_instance_url_of_an_oauth_answer_connect(hub: Hub, sim: SalesforceSimulator) -> None:
    """A connected app's token answer (client credentials here) carries instance_url: both are what connect takes."""
    seed_org(sim)
    sim.oauth.register("connected-app", "app-secret")
    async with httpx.AsyncClient(base_url=sim.url) as http:
        form = {"grant_type": "client_credentials", "client_id": "connected-app", "client_secret": "app-secret"}
        token = (await http.post("/services/oauth2/token", data=form)).json()
    integ = await Integration.connect(
        provider="salesforce", access_token=token["access_token"], instance_url=token["instance_url"]
    )
    await run_sync(hub, integ.id)
    assert await Contact.count() == 1


async def test_a_spent_daily_allowance_is_a_rate_limit_not_a_refused_token(hub: Hub, sim: SalesforceSimulator) -> None:
    seed_org(sim)
    iid = await connect(sim, api_usage_stop=1)
    sim.api_usage = sim.daily_limit  # other clients of the org spent it: 403 REQUEST_LIMIT_EXCEEDED
    with pytest.raises(ProviderRateLimited) as err:
        await run_sync(hub, iid)
    assert err.value.retry_after == 3600 and err.value.provider_status == 403
