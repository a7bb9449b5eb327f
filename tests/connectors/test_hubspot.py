"""HubSpot end to end against the simulator over loopback: connect, initial and incremental sync with
associations, archived objects, deal stages as Deal.Won/Lost, write-through, webhooks, rate limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from hubwire import inbound
from hubwire.connectors.hubspot import DailyQuota, HubSpot, deal_status, properties_of, push
from hubwire.connectors.hubspot import provider as hubspot_provider
from hubwire.connectors.registry import ProviderContext
from hubwire.connectors.writethrough import remote_ids
from hubwire.domains.crm import Contact, Deal, Organization
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import (
    ConflictError,
    ProviderAuthError,
    ProviderNotFound,
    ProviderRateLimited,
    ValidationError,
)
from hubwire.hub import Hub
from hubwire.inbound import WebhookRequest
from hubwire.inbound import batch as inbound_batch
from hubwire.inbound.received import ReceivedHook
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.hubspot import DEFAULT_TOKEN, HubSpotSimulator
from hubwire.simulators.hubspot import server as hubspot_server
from hubwire.store.events import EventRecord, read_after
from hubwire.store.tables import jobs
from hubwire.sync.runs import list_runs
from hubwire.vault.credentials import load_credentials
from tests.connectors.loopback import LOOPBACK
from tests.simulators.crm_fixtures import assert_no_mismatches, hubspot_sim

__all__ = ["hubspot_sim"]  # the fixture, imported from crm_fixtures


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


async def events(hub: Hub, prefix: str) -> list[EventRecord]:
    async with hub.read() as conn:
        return [e for e in await read_after(conn, 0, limit=10_000) if e.type.startswith(prefix)]


def seed_portal(sim: HubSpotSimulator) -> dict[str, str]:
    """Two companies, three contacts, three deals, associated as a CRM has them."""
    acme = sim.seed("companies", {"name": "Acme", "domain": "acme.example", "numberofemployees": "120"})["id"]
    globex = sim.seed("companies", {"name": "Globex", "industry": "COMPUTER_SOFTWARE"})["id"]
    ada = sim.seed("contacts", {"email": "ada@acme.example", "firstname": "Ada", "lastname": "Lovelace"})["id"]
    sim.state.update("contacts", ada, {"phone": "+1 555 0100", "jobtitle": "CTO", "lifecyclestage": "customer"})
    bob = sim.seed("contacts", {"email": "bob@globex.example", "firstname": "Bob"})["id"]
    eve = sim.seed("contacts", {"email": "eve@example.com"})["id"]
    sim.associate("contacts", ada, "companies", acme)
    sim.associate("contacts", bob, "companies", globex)
    open_deal = sim.seed(
        "deals",
        {"dealname": "Acme renewal", "amount": "5000", "dealstage": "contractsent", "pipeline": "default"},
    )["id"]
    won = sim.seed("deals", {"dealname": "Globex pilot", "amount": "1200.5", "dealstage": "closedwon"})["id"]
    lost = sim.seed("deals", {"dealname": "Initech", "dealstage": "closedlost", "closedate": "2026-03-01T00:00:00Z"})[
        "id"
    ]
    sim.associate("deals", open_deal, "companies", acme)
    sim.associate("deals", open_deal, "contacts", ada)
    sim.associate("deals", won, "companies", globex)
    return {
        "acme": acme,
        "globex": globex,
        "ada": ada,
        "bob": bob,
        "eve": eve,
        "open": open_deal,
        "won": won,
        "lost": lost,
    }


async def connect(sim: HubSpotSimulator, **params: Any) -> str:
    integ = await Integration.connect(provider="hubspot", access_token=DEFAULT_TOKEN, api_base_url=sim.url, **params)
    return integ.id


async def entity_of(hub: Hub, iid: str, resource: str, remote_id: str) -> Any:
    from hubwire.sync.state import lookup

    eid = await lookup(hub, iid, resource, remote_id)
    assert eid is not None, f"{resource} {remote_id} was not synced"
    noun = {"company": Organization, "contact": Contact, "deal": Deal}[resource]
    return await noun.get(eid)


def test_deal_stages_and_properties() -> None:
    assert [deal_status(s) for s in ("closedwon", "closedlost", "qualifiedtobuy", None)] == [
        "Won",
        "Lost",
        "Open",
        "Open",
    ]
    assert deal_status("signed", won={"signed"}) == "Won"
    assert properties_of("Contact", {"first_name": "Ada", "phones": ["1", "2"], "title": None}) == {
        "firstname": "Ada",
        "phone": "1",
        "mobilephone": "2",
        "jobtitle": "",
    }
    assert properties_of("Deal", {"name": "X", "amount": 5, "status": "Won"}) == {"dealname": "X", "amount": 5}


async def test_bad_token_is_refused(hub: Hub, hubspot_sim: HubSpotSimulator) -> None:
    with pytest.raises(ProviderAuthError) as err:
        await Integration.connect(provider="hubspot", access_token="pat-na1-wrong-token", api_base_url=hubspot_sim.url)
    assert "pat-na1-wrong-token" not in str(err.value.to_dict())
    assert await Integration.find({"provider": "hubspot"}) == []


async def test_initial_sync_maps_objects_and_associations(hub: Hub, hubspot_sim: HubSpotSimulator) -> None:
    ids = seed_portal(hubspot_sim)
    iid = await connect(hubspot_sim)
    await Worker(hub).drain()
    integ = await Integration.get(iid)
    assert integ["status"] == "Synced" and integ["last_sync_count"] == 8
    acme = await entity_of(hub, iid, "company", ids["acme"])
    globex = await entity_of(hub, iid, "company", ids["globex"])
    assert acme["name"] == "Acme" and acme["domain"] == "acme.example" and acme["employees"] == 120
    ada = await entity_of(hub, iid, "contact", ids["ada"])
    assert ada["first_name"] == "Ada" and ada["email"] == "ada@acme.example" and ada["emails"] == ["ada@acme.example"]
    assert ada["phones"] == ["+1 555 0100"] and ada["title"] == "CTO" and ada["lifecycle_stage"] == "customer"
    assert ada["organization"] == acme.id
    assert (await entity_of(hub, iid, "contact", ids["bob"]))["organization"] == globex.id
    assert (await entity_of(hub, iid, "contact", ids["eve"]))["organization"] is None
    open_deal = await entity_of(hub, iid, "deal", ids["open"])
    assert open_deal["status"] == "Open" and open_deal["stage"] == "contractsent" and open_deal["amount"] == 5000
    assert open_deal["organization"] == acme.id and open_deal["contact"] == ada.id
    won = await entity_of(hub, iid, "deal", ids["won"])
    assert won["status"] == "Won" and won["amount"] == 1200.5 and won["organization"] == globex.id
    lost = await entity_of(hub, iid, "deal", ids["lost"])
    assert lost["status"] == "Lost" and lost["close_date"].startswith("2026-03-01")
    assert {e.source for e in await events(hub, "Deal.")} == {"hubspot"}
    # Listed with HubSpot's own parameters: page size, properties and associations in one request.
    lists = hubspot_sim.requests_to("GET", "/crm/v3/objects/contacts")
    first = next(r for r in lists if r.param("archived") is None and r.param("properties") != "email")
    assert first.param("limit") == "100" and "email" in (first.param("properties") or "")
    assert first.param("associations") == "companies"
    # A second run finds nothing changed: no search hit is new, nothing written.
    crm_events = [e for e in await events(hub, "") if e.entity_type in ("Contact", "Organization", "Deal")]
    await run_sync(hub, iid)
    assert hubspot_sim.requests_to("POST", "/crm/v3/objects/contacts/search")
    assert [e for e in await events(hub, "") if e.entity_type in ("Contact", "Organization", "Deal")] == crm_events


async def test_incremental_sync_updates_archives_and_announces_deal_moves(
    hub: Hub, hubspot_sim: HubSpotSimulator
) -> None:
    ids = seed_portal(hubspot_sim)
    iid = await connect(hubspot_sim)
    await Worker(hub).drain()
    won: list[str] = []
    lost: list[str] = []
    Deal.won(lambda deal: won.append(deal.id))
    Deal.lost(lambda deal: lost.append(deal.id))
    hubspot_sim.state.update("contacts", ids["eve"], {"firstname": "Eve", "lastname": "Smith"})
    hubspot_sim.associate("contacts", ids["eve"], "companies", ids["globex"])
    hubspot_sim.state.update("deals", ids["open"], {"dealstage": "closedwon"})
    hubspot_sim.state.update("deals", ids["won"], {"dealstage": "closedlost"})
    hubspot_sim.state.archive("companies", ids["acme"])
    hubspot_sim.state.archive("contacts", ids["bob"])
    new = hubspot_sim.seed("contacts", {"email": "new@example.com"})["id"]
    hubspot_sim.requests.clear()
    await run_sync(hub, iid)
    # Incremental: the search API on the modification date, not the whole list again.
    searches = hubspot_sim.requests_to("POST", "/crm/v3/objects/contacts/search")
    assert searches and searches[0].json()["filterGroups"][0]["filters"][0]["propertyName"] == "lastmodifieddate"
    company_search = hubspot_sim.requests_to("POST", "/crm/v3/objects/companies/search")[0].json()
    assert company_search["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"
    live_lists = [r for r in hubspot_sim.requests_to("GET", "/crm/v3/objects/") if r.param("archived") != "true"]
    assert live_lists == []
    eve = await entity_of(hub, iid, "contact", ids["eve"])
    globex = await entity_of(hub, iid, "company", ids["globex"])
    assert eve["first_name"] == "Eve" and eve["last_name"] == "Smith" and eve["organization"] == globex.id
    assert await entity_of(hub, iid, "contact", new)
    assert await Organization.find({"name": "Acme"}) == []
    assert await Contact.find({"email": "bob@globex.example"}) == []
    deal = await entity_of(hub, iid, "deal", ids["open"])
    assert deal["status"] == "Won" and deal["stage"] == "closedwon"
    assert won == [deal.id] and len(lost) == 1
    assert [e.source for e in await events(hub, "Deal.Won")] == ["hubspot"]
    run = (await list_runs(hub, iid))[0]
    assert run.counts["Contact"]["deleted"] == 1 and run.counts["Organization"]["deleted"] == 1


async def test_incremental_search_goes_past_the_search_cap(
    hub: Hub, hubspot_sim: HubSpotSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot's search stops at 10,000 results (100 pages of 100); the same at 200 (2 pages) on both sides.
    monkeypatch.setattr(hubspot_server, "SEARCH_CAP", 200)
    monkeypatch.setattr(hubspot_provider, "SEARCH_CAP", 200)
    hubspot_sim.seed("contacts", {"email": "first@example.com"})
    iid = await connect(hubspot_sim)
    await Worker(hub).drain()
    start = time.time() + 5
    for i in range(420):  # modified one millisecond apart, after the first sync
        hubspot_sim.seed("contacts", {"email": f"c{i}@example.com"}, at=start + i / 1000)
    hubspot_sim.requests.clear()
    await run_sync(hub, iid)
    assert await Contact.count() == 421
    searches = [r.json() for r in hubspot_sim.requests_to("POST", "/crm/v3/objects/contacts/search")]
    floors = {s["filterGroups"][0]["filters"][0]["value"] for s in searches}
    assert len(floors) >= 3  # searched again from the last modification seen, twice at least


async def test_write_through_creates_updates_and_wins_in_hubspot(hub: Hub, hubspot_sim: HubSpotSimulator) -> None:
    ids = seed_portal(hubspot_sim)
    # Without HubSpot connected, the CRM Nouns are local.
    local = await Contact.create(email="local@example.com")
    assert not hubspot_sim.requests_to("POST", "/crm/v3/objects/contacts")
    iid = await connect(hubspot_sim)
    await run_sync(hub, iid)
    acme = await entity_of(hub, iid, "company", ids["acme"])
    grace = await Contact.create(
        first_name="Grace", email="grace@example.com", phones=["+1 555 0199"], organization=acme.id
    )
    remote = hubspot_sim.state.get("contacts", hubspot_sim.state._emails["grace@example.com"])
    assert remote.properties["firstname"] == "Grace" and remote.properties["phone"] == "+1 555 0199"
    assert [i for i, _ in hubspot_sim.state.associated("contacts", remote.id, "companies")] == [ids["acme"]]
    await Contact.update(grace.id, title="Admiral")
    assert hubspot_sim.state.get("contacts", remote.id).properties["jobtitle"] == "Admiral"
    deal = await Deal.create(name="Grace's deal", amount=700, organization=acme.id, contact=grace.id)
    assert deal["stage"] == "appointmentscheduled" and deal["amount"] == 700
    rdeal = next(o for o in hubspot_sim.state.live("deals") if o.properties.get("dealname") == "Grace's deal")
    assert rdeal.properties["amount"] == "700" and rdeal.properties["pipeline"] == "default"
    assert {i for i, _ in hubspot_sim.state.associated("deals", rdeal.id, "contacts")} == {remote.id}
    won = await Deal.win(deal.id)
    assert won["status"] == "Won" and won["stage"] == "closedwon"
    assert hubspot_sim.state.get("deals", rdeal.id).properties["dealstage"] == "closedwon"
    # HubSpot's refusals as typed errors; nothing written locally.
    with pytest.raises(ConflictError) as dup:
        await Contact.create(email="ada@acme.example")
    assert (
        dup.value.code == "provider_conflict"
        and dup.value.fields["existing_id"] == (await entity_of(hub, iid, "contact", ids["ada"])).id
    )
    assert await Contact.count({"email": "ada@acme.example"}) == 1
    # Archived in HubSpot, not yet synced: the update is refused there, and not written here.
    hubspot_sim.state.archive("contacts", ids["bob"])
    bob = await entity_of(hub, iid, "contact", ids["bob"])
    with pytest.raises(ProviderNotFound) as gone:
        await Contact.update(bob.id, title="Gone")
    assert gone.value.fields["provider_code"] == "OBJECT_NOT_FOUND" and gone.value.fields["correlation_id"]
    assert (await Contact.get(bob.id))["title"] is None
    # An entity made before connecting stays local: updating it sends nothing, associating it is refused.
    sent = len(hubspot_sim.requests)
    await Contact.update(local.id, title="Local only")
    assert len(hubspot_sim.requests) == sent
    with pytest.raises(ValidationError) as unlinked:
        await Deal.create(name="Local deal", contact=local.id)
    assert unlinked.value.errors[0].code == "not_linked" and await Deal.count({"name": "Local deal"}) == 0
    # What write-through stored is what a sync sees: nothing updated.
    n = len(await events(hub, "Contact.Updated")) + len(await events(hub, "Deal.Updated"))
    await run_sync(hub, iid)
    assert len(await events(hub, "Contact.Updated")) + len(await events(hub, "Deal.Updated")) == n
    assert await Contact.count({"email": "grace@example.com"}) == 1


async def test_webhooks_apply_changes_deletions_and_deal_moves(hub: Hub, hubspot_sim: HubSpotSimulator) -> None:
    ids = seed_portal(hubspot_sim)
    iid = await connect(hubspot_sim, webhook_secret="hubspot-app-client-secret")
    await run_sync(hub, iid)
    prov = hub.providers.get("hubspot")
    assert isinstance(prov, HubSpot)
    integ = await Integration.get(iid)
    ctx = ProviderContext(hub, prov, integ, await load_credentials(hub, iid), dict(integ.get("config") or {}))
    won: list[str] = []
    Deal.won(lambda deal: won.append(deal.id))
    hubspot_sim.state.update("contacts", ids["ada"], {"lastname": "King"})
    hubspot_sim.state.update("deals", ids["open"], {"dealstage": "closedwon"})
    hubspot_sim.state.archive("contacts", ids["eve"])
    payload = [
        {
            "eventId": 1,
            "subscriptionType": "contact.propertyChange",
            "objectId": int(ids["ada"]),
            "propertyName": "lastname",
        },
        {
            "eventId": 2,
            "subscriptionType": "deal.propertyChange",
            "objectId": int(ids["open"]),
            "propertyName": "dealstage",
        },
        {"eventId": 3, "subscriptionType": "contact.deletion", "objectId": int(ids["eve"])},
    ]
    assert prov.webhook_event_type({}, payload) == "contact.propertyChange,deal.propertyChange,contact.deletion"
    hook = ReceivedHook("inbox_1", iid, "hubspot", None, prov.webhook_event_type({}, payload), payload, {}, time.time())
    assert await prov.on_webhook(ctx, hook) == "applied"
    assert (await entity_of(hub, iid, "contact", ids["ada"]))["last_name"] == "King"
    assert await Contact.find({"email": "eve@example.com"}) == []
    deal = await entity_of(hub, iid, "deal", ids["open"])
    assert deal["status"] == "Won" and won == [deal.id]
    assert {e.source for e in await events(hub, "Contact.Updated")} == {"hubspot"}
    # A new contact arrives by its creation event, with its association.
    new = hubspot_sim.seed("contacts", {"email": "new@example.com"})["id"]
    hubspot_sim.associate("contacts", new, "companies", ids["globex"])
    created = [{"eventId": 4, "subscriptionType": "contact.creation", "objectId": int(new)}]
    hook = ReceivedHook("inbox_2", iid, "hubspot", None, "contact.creation", created, {}, time.time())
    assert await prov.on_webhook(ctx, hook) == "applied"
    assert (await entity_of(hub, iid, "contact", new))["organization"] == (
        await entity_of(hub, iid, "company", ids["globex"])
    ).id
    other = [{"eventId": 5, "subscriptionType": "ticket.creation", "objectId": 1}]
    assert await prov.on_webhook(ctx, ReceivedHook("inbox_3", iid, "hubspot", None, None, other, {}, 0.0)) == "ignored"


async def test_the_rate_budget_keeps_under_hubspots_ten_per_second(hub: Hub, hubspot_sim: HubSpotSimulator) -> None:
    hubspot_sim.seed_many("contacts", 1500, lambda i: {"email": f"p{i}@example.com"})
    use_http_client(hub, HttpClient(policy=LOOPBACK))
    iid = await connect(hubspot_sim)
    await run_sync(hub, iid)
    assert await Contact.count() == 1500
    assert len(hubspot_sim.requests) > 15
    assert [r for r in hubspot_sim.requests if r.status == 429] == []  # the simulator enforces 10/s
    assert hubspot_sim.max_requests_per_second() <= 10


async def test_the_daily_limit_stops_the_sync_and_says_so(hub: Hub) -> None:
    # The quota is tried again at the next half hour: a clock 100 s past one makes the wait known.
    hub.provide(DailyQuota, DailyQuota(clock=lambda: 1_800.0 * 982_000 + 100))
    async with HubSpotSimulator(daily_limit=4) as sim:
        sim.seed_many("contacts", 300, lambda i: {"email": f"p{i}@example.com"})
        iid = await connect(sim)  # the check: 1 request
        with pytest.raises(ProviderRateLimited) as err:
            await run_sync(hub, iid)  # companies, archived companies, contacts... then the quota is gone
        assert "daily" in err.value.message.lower() and err.value.retry_after == 1_700
        sent = len(sim.requests)
        assert sent == 4  # the answer that said 0 remaining was the last request sent
        with pytest.raises(ProviderRateLimited):
            await run_sync(hub, iid)
        assert len(sim.requests) == sent  # nothing sent while the quota is used up
        integ = await Integration.get(iid)
        assert "daily" in (integ["error"] or "").lower()
    assert_no_mismatches(sim)


class PushingHubSpot(HubSpot):
    """HubSpot as a provider that can push Contacts through the outbox (the built-in pulls them)."""

    def push_directions(self) -> dict[str, Any]:
        return {"Contact": "pull"}


async def test_write_through_leaves_a_noun_the_integration_pushes_to_the_outbox(
    hub: Hub, providers: Any, hubspot_sim: HubSpotSimulator
) -> None:
    providers.register(PushingHubSpot())
    await connect(hubspot_sim, directions={"Contact": "both"})
    # The outbox sends the Contact after the commit (a worker's job); write-through would send it twice.
    ada = await Contact.create(email="ada@example.com")
    assert not hubspot_sim.requests_to("POST", "/crm/v3/objects/contacts") and not hubspot_sim.state.live("contacts")
    # A Noun the Integration does not push is still written through.
    await Organization.create(name="Acme")
    assert [o.properties["name"] for o in hubspot_sim.state.live("companies")] == ["Acme"]
    assert (await Contact.get(ada.id))["email"] == "ada@example.com"


async def test_creates_go_to_the_only_hubspot_integration_that_takes_them(
    hub: Hub, hubspot_sim: HubSpotSimulator
) -> None:
    first = await connect(hubspot_sim, write_creates=False)
    await Contact.create(email="kept@example.com")
    assert not hubspot_sim.state.live("contacts")
    await Integration.update(first, config={"write_creates": True})
    await Contact.create(email="sent@example.com")
    assert [c.properties["email"] for c in hubspot_sim.state.live("contacts")] == ["sent@example.com"]
    # The same portal connected again is the same Integration, and still the only one.
    assert await connect(hubspot_sim) == first


async def test_push_writes_many_with_the_batch_api_and_maps_refusals_to_their_entities(hub: Hub) -> None:
    """HubSpot's batch create/update, 100 inputs a request, as Salesforce's push uses its composite API;
    a create answered 207 (each input has its trace id) fails its refused inputs only; a batch HubSpot
    refuses as a whole (an update: all or nothing) is sent again one input per request, so only the
    refused entities fail, each with HubSpot's own message."""
    async with HubSpotSimulator(rate_limit=None) as sim:
        ids = seed_portal(sim)
        iid = await connect(sim, write_creates=False, rate_limit=1000)
        await run_sync(hub, iid)
        acme = await entity_of(hub, iid, "company", ids["acme"])
        made = [
            await Contact.create(email=f"c{i}@example.com", first_name=f"C{i}", organization=acme.id)
            for i in range(120)
        ]
        zed = await Contact.create(email="zed@example.com")
        sim.seed("contacts", {"email": "zed@example.com"})  # HubSpot has one already: 409 for this input
        local_only = await Contact.create(email="local@example.com")
        deal = await Deal.create(name="Unlinked contact", contact=local_only.id)
        assert not sim.requests_to("POST", "/crm/v3/objects/contacts/batch/")  # write_creates false

        done = await push(hub, iid, Contact, [c.id for c in made] + [zed.id])
        assert len(done) == 120 and list(done.errors) == [zed.id] and "Existing ID" in done.errors[zed.id]
        batches = sim.requests_to("POST", "/crm/v3/objects/contacts/batch/create")
        assert len(batches) == 2  # 100, then 21 answered 207: the refused one named by its trace id
        remote = sim.state.get("contacts", done[made[7].id])
        assert remote.properties["firstname"] == "C7" and remote.properties["email"] == "c7@example.com"
        assert [i for i, _ in sim.state.associated("contacts", remote.id, "companies")] == [ids["acme"]]
        refused = await push(hub, iid, Deal, [deal.id])  # its contact is not in HubSpot: this deal only
        assert not refused and "not in HubSpot" in refused.errors[deal.id]

        # Updates: HubSpot's values moved away; the push writes the local ones back in batches.
        for c in made:
            sim.state.update("contacts", done[c.id], {"firstname": "Changed in HubSpot"})
        sim.state.archive("contacts", done[made[3].id])  # gone there: refused for that entity only
        again = await push(hub, iid, Contact, [c.id for c in made])
        assert len(again) == 119 and list(again.errors) == [made[3].id]
        assert "Object not found" in again.errors[made[3].id]
        updates = sim.requests_to("POST", "/crm/v3/objects/contacts/batch/update")
        assert len(updates) == 2 + 100 and all(len(json.loads(r.body)["inputs"]) <= 100 for r in updates)
        assert sim.state.get("contacts", done[made[7].id]).properties["firstname"] == "C7"

        before = await Contact.count()
        await run_sync(hub, iid)
        assert await Contact.count() == before  # linked: the sync does not duplicate them
        assert_no_mismatches(sim)


async def test_push_of_a_batch_with_bad_records_writes_the_good_ones_and_gives_each_bad_one_its_error(
    hub: Hub,
) -> None:
    """One batch create, answered 207 Multi-Status: the good records are created and linked, each
    refused one keeps HubSpot's reason for it (an option HubSpot does not have, an email a contact has
    already) and stays local, unlinked, as it was; once fixed, the next push creates it."""
    async with HubSpotSimulator(rate_limit=None) as sim:
        sim.add_property("contacts", "tier", "enumeration", "select", options=["gold", "silver"])
        taken = sim.seed("contacts", {"email": "taken@example.com"})["id"]
        iid = await connect(sim, write_creates=False, rate_limit=1000, field_mappings={"Contact.title": "tier"})
        good = [await Contact.create(email=f"g{i}@example.com", first_name=f"G{i}", title="gold") for i in range(3)]
        bad_option = await Contact.create(email="bad@example.com", title="platinum")
        duplicate = await Contact.create(email="taken@example.com", first_name="Dup")
        order = [good[0].id, bad_option.id, good[1].id, duplicate.id, good[2].id]

        done = await push(hub, iid, Contact, order)

        (request,) = sim.requests_to("POST", "/crm/v3/objects/contacts/batch/create")  # one request, no resend
        assert len(request.json()["inputs"]) == 5
        assert sorted(done) == sorted(g.id for g in good)
        assert set(done.errors) == {bad_option.id, duplicate.id}
        assert done.errors[bad_option.id].startswith("VALIDATION_ERROR: ")
        assert "platinum was not one of the allowed options" in done.errors[bad_option.id]
        assert done.errors[duplicate.id] == f"CONFLICT: Contact already exists. Existing ID: {taken}"
        for g in good:
            remote = sim.state.get("contacts", done[g.id])
            assert remote.properties["email"] == g["email"] and remote.properties["tier"] == "gold"
        assert sorted(o.properties["email"] for o in sim.state.live("contacts")) == sorted(
            ["taken@example.com", *(g["email"] for g in good)]
        )
        linked = await remote_ids(hub, iid, order)
        assert set(linked) == {g.id for g in good}  # the refused ones are not linked to anything
        kept = await Contact.get(bad_option.id)
        assert (kept["email"], kept["title"]) == ("bad@example.com", "platinum")

        await Contact.update(bad_option.id, title="silver")
        again = await push(hub, iid, Contact, [bad_option.id])
        assert list(again) == [bad_option.id] and not again.errors
        assert sim.state.get("contacts", again[bad_option.id]).properties["tier"] == "silver"
        assert_no_mismatches(sim)


_APP_SECRET = "hubspot-app-client-secret"


def hubspot_signed(hub: Hub, iid: str, events: list[dict[str, Any]]) -> WebhookRequest:
    """A request as HubSpot posts it, signed v3 with the app's client secret (HubSpot's documented
    recipe: base64 HMAC-SHA256 of method, URL, body and the timestamp in ms)."""
    url = f"https://hub.example.com/v1/hooks/{iid}"
    body, stamp = json.dumps(events).encode(), str(int(hub.clock() * 1000))
    digest = hmac.new(_APP_SECRET.encode(), f"POST{url}".encode() + body + stamp.encode(), hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return WebhookRequest(body, headers, method="POST", url=url)


async def apply_jobs(hub: Hub) -> int:
    async with hub.read() as conn:
        q = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == inbound.APPLY_JOB)
        return int((await conn.execute(q)).scalar_one())


async def test_webhooks_of_many_objects_are_applied_in_one_job_and_a_bad_one_fails_alone(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot's webhooks go through ``webhook_records`` and the inbox's batches: the requests waiting
    are one job, written a page per resource, with the final state a sync would give (changes,
    a creation with its association, a deletion, a deal's move to won announced); a request whose
    object cannot be stored fails alone."""
    async with HubSpotSimulator(rate_limit=None) as sim:
        ids = seed_portal(sim)
        iid = await connect(sim, rate_limit=1000, webhook_secret=_APP_SECRET)
        await run_sync(hub, iid)
        won: list[str] = []
        Deal.won(lambda deal: won.append(deal.id))
        sim.state.update("contacts", ids["ada"], {"lastname": "King"})
        sim.state.update("contacts", ids["bob"], {"jobtitle": "CFO"})
        sim.state.update("companies", ids["acme"], {"name": "Acme Corp"})
        sim.state.update("deals", ids["open"], {"dealstage": "closedwon"})
        sim.state.archive("contacts", ids["eve"])
        new = sim.seed("contacts", {"email": "new@example.com", "firstname": "Nia"})["id"]
        sim.associate("contacts", new, "companies", ids["globex"])
        broken = sim.seed("deals", {"amount": "10", "dealstage": "closedwon"})["id"]  # no name: a Deal needs one

        def event(n: int, kind: str, remote: str) -> dict[str, Any]:
            return {"eventId": n, "subscriptionType": kind, "objectId": int(remote), "occurredAt": n}

        requests = [
            [event(1, "contact.propertyChange", ids["ada"]), event(2, "contact.propertyChange", ids["bob"])],
            [event(3, "deal.creation", broken)],  # bad: refused by the Deal's validation
            [event(4, "company.propertyChange", ids["acme"]), event(5, "deal.propertyChange", ids["open"])],
            [event(6, "contact.deletion", ids["eve"])],
            [event(7, "contact.creation", new)],
        ]
        stored = [(await inbound.receive(hub, iid, hubspot_signed(hub, iid, r))).id for r in requests]
        assert await apply_jobs(hub) == 1  # one live job for the Integration, however many requests wait
        pages = 0
        real = inbound_batch.write_page

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal pages
            pages += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(inbound_batch, "write_page", counted)
        assert await Worker(hub).drain() == 1

        rows = [await inbound.get_received(hub, i) for i in stored]
        assert [r.status for r in rows] == ["applied", "failed", "applied", "applied", "applied"]
        assert rows[1].error and broken in rows[1].error and all(r.attempts == 1 for r in rows)
        # one page (one transaction) per resource: companies, contacts, deals; not one per request
        assert pages == 3
        ada = await entity_of(hub, iid, "contact", ids["ada"])
        assert (ada["last_name"], ada["first_name"], ada["email"]) == ("King", "Ada", "ada@acme.example")
        assert (await entity_of(hub, iid, "contact", ids["bob"]))["title"] == "CFO"
        assert (await entity_of(hub, iid, "company", ids["acme"]))["name"] == "Acme Corp"
        deal = await entity_of(hub, iid, "deal", ids["open"])
        assert deal["status"] == "Won" and won == [deal.id]
        assert await Contact.find({"email": "eve@example.com"}) == []
        nia = await entity_of(hub, iid, "contact", new)
        assert nia["first_name"] == "Nia"
        assert nia["organization"] == (await entity_of(hub, iid, "company", ids["globex"])).id
        assert await Deal.find({"amount": 10}) == [] and won == [deal.id]  # nor announced
        assert {e.source for e in await events(hub, "Contact.")} == {"hubspot"}
        assert await apply_jobs(hub) == 0
        assert_no_mismatches(sim)


def metadata_reads(sim: HubSpotSimulator) -> dict[str, int]:
    """``GET /crm/v3/properties/{object}`` requests so far, per object type."""
    reads = sim.requests_to("GET", "/crm/v3/properties/")
    return {kind: sum(r.path.rstrip("/").split("/")[-1] == kind for r in reads) for kind in _OBJECT_TYPES}


_OBJECT_TYPES = ("companies", "contacts", "deals", "leads")


async def test_a_sync_of_many_pages_reads_each_objects_properties_once_and_the_next_sync_again(
    hub: Hub,
) -> None:
    async with HubSpotSimulator(rate_limit=None) as sim:
        ids = seed_portal(sim)
        sim.seed_many("contacts", 230, lambda i: {"email": f"c{i}@example.com"})  # three pages
        sim.seed_many("companies", 120, lambda i: {"name": f"Company {i}"})  # two pages
        iid = await connect(sim, rate_limit=1000)
        await run_sync(hub, iid)
        assert len([r for r in sim.requests_to("GET", "/crm/v3/objects/contacts") if not r.param("archived")]) >= 3
        assert metadata_reads(sim) == dict.fromkeys(_OBJECT_TYPES, 1)
        # A custom field made between two runs is asked for by the next one.
        sim.add_property("contacts", "shoe_size", "number", "number")
        sim.state.update("contacts", ids["ada"], {"shoe_size": "38"})
        await run_sync(hub, iid)
        assert metadata_reads(sim) == dict.fromkeys(_OBJECT_TYPES, 2)
        searched = sim.requests_to("POST", "/crm/v3/objects/contacts/search")
        assert "shoe_size" in searched[-1].json()["properties"]
        assert (await entity_of(hub, iid, "contact", ids["ada"]))["remote_data"] == {"shoe_size": "38"}
        assert_no_mismatches(sim)


async def test_a_webhook_batch_reads_each_objects_properties_once_and_the_next_batch_again(hub: Hub) -> None:
    from hubwire.inbound.batch import apply_hooks

    async with HubSpotSimulator(rate_limit=None) as sim:
        ids = seed_portal(sim)
        iid = await connect(sim, rate_limit=1000, webhook_secret="hubspot-app-client-secret")
        await run_sync(hub, iid)
        prov = hub.providers.get("hubspot")
        integ = await Integration.get(iid)
        ctx = ProviderContext(hub, prov, integ, await load_credentials(hub, iid), dict(integ.get("config") or {}))
        before = metadata_reads(sim)

        def change(n: int, kind: str, remote: str) -> ReceivedHook:
            payload = [{"eventId": n, "subscriptionType": f"{kind}.propertyChange", "objectId": int(remote)}]
            return ReceivedHook(f"inbox_{n}", iid, "hubspot", None, f"{kind}.propertyChange", payload, {}, time.time())

        batch = [change(1, "contact", ids["ada"]), change(2, "deal", ids["open"]), change(3, "contact", ids["bob"])]
        outcomes, _ = await apply_hooks(ctx, batch)
        assert {o.status for o in outcomes.values()} == {"applied"}
        read = {k: metadata_reads(sim)[k] - before[k] for k in _OBJECT_TYPES}
        assert read == {"companies": 0, "contacts": 1, "deals": 1, "leads": 0}
        sim.add_property("contacts", "shoe_size", "number", "number")
        sim.state.update("contacts", ids["eve"], {"shoe_size": "41"})
        outcomes, _ = await apply_hooks(ctx, [change(4, "contact", ids["eve"]), change(5, "contact", ids["ada"])])
        assert {o.status for o in outcomes.values()} == {"applied"}
        assert metadata_reads(sim)["contacts"] - before["contacts"] == 2  # the next batch reads them again
        eve = await entity_of(hub, iid, "contact", ids["eve"])
        assert eve["remote_data"] == {"shoe_size": "41"}
        assert_no_mismatches(sim)


async def test_a_webhook_is_merged_by_the_integrations_policies(hub: Hub, hubspot_sim: HubSpotSimulator) -> None:
    """A remote change that arrives by webhook meets a local edit HubSpot did not get: the email,
    ``manual`` by the Integration's policy, is parked for review and the entity keeps its value."""
    import hubwire.conflicts

    ids = seed_portal(hubspot_sim)
    iid = await connect(hubspot_sim, conflicts={"default": "last_modified_wins", "Contact.email": "manual"})
    await run_sync(hub, iid)
    ada = await entity_of(hub, iid, "contact", ids["ada"])
    await Integration.disconnect(iid)  # an edit made while disconnected: not written through
    await Contact.update(ada.id, email="ada@home.example")
    await Integration.connect(iid, access_token=DEFAULT_TOKEN)
    hubspot_sim.state.update("contacts", ids["ada"], {"email": "ada@work.example"})
    prov = hub.providers.get("hubspot")
    integ = await Integration.get(iid)
    ctx = ProviderContext(hub, prov, integ, await load_credentials(hub, iid), dict(integ.get("config") or {}))
    payload = [{"eventId": 9, "subscriptionType": "contact.propertyChange", "objectId": int(ids["ada"])}]
    hook = ReceivedHook("inbox_merge", iid, "hubspot", None, "contact.propertyChange", payload, {}, time.time())
    assert await prov.on_webhook(ctx, hook) == "applied"
    assert (await Contact.get(ada.id))["email"] == "ada@home.example"  # parked: the entity keeps its value
    [conflict] = await hubwire.conflicts.list(status="open", noun="Contact", integration_id=iid)
    assert conflict.parked == ["email"] and conflict.fields["email"]["remote"] == "ada@work.example"
