"""Pipedrive end to end against the simulator over loopback: connect, sync (v2 cursors, v1 leads,
incremental by update_time), custom fields by hash keys, 429 with Retry-After, write-through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubwire.domains.crm import Contact, Deal, Lead, Organization
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ProviderAuthError, ProviderInvalidRequest, ValidationError
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from tests.connectors.loopback import LOOPBACK
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches

slept: list[float] = []


async def no_sleep(seconds: float) -> None:
    slept.append(seconds)


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    slept.clear()
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sim(clock: Clock) -> AsyncIterator[PipedriveSimulator]:
    async with PipedriveSimulator(now=clock) as s:
        yield s
    assert_no_mismatches(s)


def seed_company(sim: PipedriveSimulator) -> dict[str, Any]:
    acme = sim.seed("organizations", name="Acme")
    ada = sim.seed(
        "persons",
        name="Ada Lovelace",
        first_name="Ada",
        last_name="Lovelace",
        email=["ada@acme.example", "ada@home.example"],
        org_id=acme.id,
    )
    won = sim.seed("deals", title="Big", value=5000, currency="EUR", status="won", org_id=acme.id, person_id=ada.id)
    lead = sim.seed("leads", title="Acme expansion", person_id=ada.id, organization_id=acme.id)
    return {"org": acme, "person": ada, "deal": won, "lead": lead}


async def connect(sim: PipedriveSimulator, **config: Any) -> str:
    integ = await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=sim.url, **config)
    return integ.id


async def test_a_refused_token_makes_nothing_and_the_token_stays_out_of_urls(hub: Hub, sim: PipedriveSimulator) -> None:
    with pytest.raises(ProviderAuthError):
        await Integration.connect(provider="pipedrive", api_token="f" * 40, api_base_url=sim.url)
    assert await Integration.find({"provider": "pipedrive"}) == []
    await connect(sim)
    assert all("api_token" not in r.query for r in sim.requests)
    assert sim.requests[-1].headers.get("x-api-token") == DEFAULT_API_TOKEN


async def test_sync_maps_records_with_relations(hub: Hub, sim: PipedriveSimulator) -> None:
    seed_company(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    integ = await Integration.get(iid)
    assert integ["status"] == "Synced" and integ["last_sync_count"] == 4
    org = (await Organization.find({"name": "Acme"}))[0]
    ada = (await Contact.find({"email": "ada@acme.example"}))[0]
    assert ada["emails"] == ["ada@acme.example", "ada@home.example"] and ada["organization"] == org.id
    assert (ada["first_name"], ada["last_name"]) == ("Ada", "Lovelace")
    deal = (await Deal.find({"name": "Big"}))[0]
    assert (deal["status"], deal["amount"], deal["currency"]) == ("Won", 5000, "EUR")
    assert deal["organization"] == org.id and deal["contact"] == ada.id
    lead = (await Lead.find({"name": "Acme expansion"}))[0]
    assert lead["contact"] == ada.id and lead["organization"] == org.id and lead["status"] == "New"
    v2 = [r for r in sim.requests if r.path.startswith("/api/v2/") and r.param("sort_by")]
    assert {r.path for r in v2} == {"/api/v2/organizations", "/api/v2/persons", "/api/v2/deals"}


async def test_incremental_sync_asks_updated_since_and_pages(hub: Hub, sim: PipedriveSimulator, clock: Clock) -> None:
    s = seed_company(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    clock.advance(60)
    sim.state.update("deals", s["deal"].id, {"status": "lost"})
    for i in range(120):
        sim.seed("persons", name=f"Person {i}")
    sim.requests.clear()
    await run_sync(hub, iid)
    assert (await Deal.find({"name": "Big"}))[0]["status"] == "Lost"
    assert await Contact.count() == 121
    persons = [r for r in sim.requests if r.path == "/api/v2/persons"]
    assert len(persons) == 2 and persons[1].param("cursor")  # 100 a page, then the cursor
    assert all(r.param("updated_since") for r in persons)
    deals = [r for r in sim.requests if r.path == "/api/v2/deals"]
    assert deals[0].param("updated_since") is not None


async def test_custom_fields_by_hash_key(hub: Hub, sim: PipedriveSimulator) -> None:
    tier = sim.add_field("persons", "Tier")
    sim.seed("persons", name="Gold Person", **{tier: "gold"})
    with pytest.raises(ValidationError) as err:
        await connect(sim, field_mappings={"Contact.tier": tier})
    assert err.value.errors[0].code == "unknown_field"
    iid = await connect(sim, field_mappings={"Contact.lifecycleStage": tier})
    await run_sync(hub, iid)
    person = (await Contact.find({"last_name": "Gold Person"}))[0]
    assert person["lifecycle_stage"] == "gold"
    await Contact.update(person.id, lifecycle_stage="platinum")
    remote = next(r for r in sim.state.records["persons"].values() if r.values.get("name") == "Gold Person")
    assert remote.custom[tier] == "platinum"


async def test_a_429_is_waited_out_as_retry_after_says(hub: Hub, sim: PipedriveSimulator) -> None:
    seed_company(sim)
    iid = await connect(sim)
    sim.fail_next(1, status=429, retry_after=2)
    await run_sync(hub, iid)
    assert 2.0 in slept and await Contact.count() == 1


async def test_write_through_creates_and_updates(hub: Hub, sim: PipedriveSimulator) -> None:
    seed_company(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    org = (await Organization.find({"name": "Acme"}))[0]
    made = await Contact.create(first_name="Alan", last_name="Turing", email="alan@acme.example", organization=org.id)
    remote = next(r for r in sim.state.records["persons"].values() if r.values.get("last_name") == "Turing")
    assert remote.values["name"] == "Alan Turing" and remote.values["email"][0]["value"] == "alan@acme.example"
    assert remote.values["org_id"] == int(next(iter(sim.state.records["organizations"])))
    deal = await Deal.create(name="Small", amount=100, organization=org.id, contact=made.id)
    await Deal.lose(deal.id)
    rdeal = next(r for r in sim.state.records["deals"].values() if r.values.get("title") == "Small")
    assert rdeal.values["status"] == "lost" and rdeal.values["person_id"] == remote.id
    lead = await Lead.create(name="New lead", contact=made.id)
    await Lead.disqualify(lead.id)
    rlead = next(r for r in sim.state.records["leads"].values() if r.values.get("title") == "New lead")
    assert rlead.values["is_archived"] is True
    before = {e.id: e.version for e in [await Contact.get(made.id), await Deal.get(deal.id), await Lead.get(lead.id)]}
    await run_sync(hub, iid)
    after = {e.id: e.version for e in [await Contact.get(made.id), await Deal.get(deal.id), await Lead.get(lead.id)]}
    assert after == before  # refs hashed as the sync hashes: nothing to change
    with pytest.raises(ProviderInvalidRequest):
        await Lead.create(name="Orphan")  # a Pipedrive lead needs a person or an organization
    assert await Lead.count() == 2
