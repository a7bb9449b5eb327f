"""Pipedrive end to end against the simulator over loopback: connect, sync (v2 cursors, v1 leads,
incremental by update_time), custom fields by hash keys, 429 with Retry-After, write-through."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from hubwire import inbound
from hubwire.connectors.pipedrive.webhooks import event_type
from hubwire.connectors.registry import ProviderContext
from hubwire.domains.crm import Contact, Deal, Lead, Organization
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ProviderAuthError, ProviderInvalidRequest, ValidationError
from hubwire.hub import Hub
from hubwire.inbound import batch as inbound_batch
from hubwire.inbound.received import ReceivedHook
from hubwire.inbound.registry import verifier_for
from hubwire.inbound.verifiers import SignatureError, WebhookRequest
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from hubwire.store.tables import jobs
from tests.connectors.loopback import LOOPBACK
from tests.fakes import FakeClock
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches

slept: list[float] = []
http_time = FakeClock()


async def no_sleep(seconds: float) -> None:
    """The HTTP layer's waits (backoff, Retry-After, its own rate budget) pass at once on its clock."""
    slept.append(seconds)
    http_time.advance(seconds)


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    slept.clear()
    client = HttpClient(policy=LOOPBACK, clock=http_time, sleep=no_sleep, retry=RetryPolicy(attempts=3))
    use_http_client(hub, client)


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
    for i in range(520):
        sim.seed("persons", name=f"Person {i}")
    sim.requests.clear()
    await run_sync(hub, iid)
    assert (await Deal.find({"name": "Big"}))[0]["status"] == "Lost"
    assert await Contact.count() == 521
    persons = [r for r in sim.requests if r.path == "/api/v2/persons"]
    assert len(persons) == 2 and persons[1].param("cursor")  # 500 a page, then the cursor
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
    moved = await Contact.update(made.id, email="turing@acme.example")  # the new primary; the old one kept
    assert [e["value"] for e in remote.values["email"]] == ["turing@acme.example", "alan@acme.example"]
    assert moved["emails"] == ["turing@acme.example", "alan@acme.example"]
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


def hook(payload: dict[str, Any], integration_id: str) -> ReceivedHook:
    meta = payload.get("meta") or {}
    return ReceivedHook("inbox_1", integration_id, "pipedrive", meta.get("id"), event_type(payload), payload, {}, 0.0)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_verifier_takes_the_basic_auth_password_as_the_secret() -> None:
    verifier = verifier_for("pipedrive")
    body = json.dumps({"meta": {"id": "evt-1", "entity": "person", "action": "change", "version": "2.0"}}).encode()
    assert verifier.verify(WebhookRequest(body, basic("anyone", "s3cret")), ["old", "s3cret"]) == "evt-1"
    for headers, code in (
        (basic("anyone", "wrong"), "bad_signature"),
        ({}, "missing_signature"),
        ({"Authorization": "Bearer s3cret"}, "malformed_header"),
        ({"Authorization": "Basic !!!"}, "malformed_header"),
    ):
        with pytest.raises(SignatureError) as err:
            verifier.verify(WebhookRequest(body, headers), ["s3cret"])
        assert err.value.code == code and "s3cret" not in str(err.value.to_dict())


async def test_webhooks_create_change_and_delete_records(hub: Hub, sim: PipedriveSimulator) -> None:
    s = seed_company(sim)
    iid = await connect(sim)
    await Worker(hub).drain()
    integ = await Integration.get(iid)
    prov = hub.providers.get("pipedrive")
    ctx = ProviderContext(hub, prov, integ, {}, dict(integ.get("config") or {}))
    org_id = s["org"].id
    made = {
        "meta": {"id": "e1", "entity": "person", "action": "create", "entity_id": "77", "version": "2.0"},
        "data": {"id": 77, "first_name": "Alan", "last_name": "Turing", "org_id": org_id,
                 "emails": [{"value": "alan@acme.example", "primary": True}], "update_time": "2026-01-01T00:00:00Z"},
    }  # fmt: skip
    assert prov.webhook_event_type({}, made) == "person.create"
    assert await prov.on_webhook(ctx, hook(made, iid)) == "applied"
    alan = (await Contact.find({"email": "alan@acme.example"}))[0]
    assert alan["organization"] == (await Organization.find({"name": "Acme"}))[0].id
    changed = {**made, "meta": {**made["meta"], "id": "e2", "action": "change"}}
    changed["data"] = {**made["data"], "last_name": "Turing-Smith", "update_time": "2026-01-02T00:00:00Z"}
    assert await prov.on_webhook(ctx, hook(changed, iid)) == "applied"
    assert (await Contact.get(alan.id))["last_name"] == "Turing-Smith"
    gone = {
        "meta": {"id": "e3", "entity": "deal", "action": "delete", "entity_id": str(s["deal"].id), "version": "2.0"}
    }
    assert await prov.on_webhook(ctx, hook(gone, iid)) == "applied"
    assert await Deal.count() == 0
    v1 = {"meta": {"object": "person", "action": "updated", "id": 77, "v": 1}, "current": {"id": 77}}
    assert await prov.on_webhook(ctx, hook(v1, iid)) == "ignored"


async def test_a_batch_of_webhooks_is_applied_in_one_job_and_a_bad_one_fails_alone(
    hub: Hub, sim: PipedriveSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries waiting for one Integration are one job (``webhook_records`` and the inbox's pages):
    the final state is each object's last change, in order (a person made then changed in the same
    batch), deletes included; a delivery the Deal's validation refuses fails alone."""
    s = seed_company(sim)
    iid = await connect(sim, webhook_secret="pd-hook-secret")
    await Worker(hub).drain()
    org_id = s["org"].id

    def person(n: int, action: str, pid: int, last: str, day: int) -> dict[str, Any]:
        data = {"id": pid, "first_name": f"P{pid}", "last_name": last, "org_id": org_id,
                "emails": [{"value": f"p{pid}@acme.example", "primary": True}],
                "update_time": f"2026-01-{day:02d}T00:00:00Z"}  # fmt: skip
        meta = {"id": f"e{n}", "entity": "person", "action": action, "entity_id": str(pid), "version": "2.0"}
        return {"meta": meta, "data": data}

    no_title = {
        "meta": {"id": "e4", "entity": "deal", "action": "create", "entity_id": "90", "version": "2.0"},
        "data": {"id": 90, "value": 10, "status": "open", "update_time": "2026-01-01T00:00:00Z"},
    }
    gone = {
        "meta": {"id": "e6", "entity": "deal", "action": "delete", "entity_id": str(s["deal"].id), "version": "2.0"}
    }
    deliveries = [
        person(1, "create", 77, "Turing", 1),
        person(2, "create", 78, "Hopper", 1),
        person(3, "change", 77, "Turing-Smith", 2),
        no_title,
        person(5, "change", 78, "Hopper-Jones", 3),
        gone,
    ]
    url = f"https://hub.example.com/v1/hooks/{iid}"
    stored = [
        (await inbound.receive(hub, iid, WebhookRequest(json.dumps(d).encode(), {
            **basic("pipedrive", "pd-hook-secret"), "Content-Type": "application/json"}, url=url))).id
        for d in deliveries
    ]  # fmt: skip
    async with hub.read() as conn:
        q = sa.select(sa.func.count()).select_from(jobs).where(jobs.c.kind == inbound.APPLY_JOB)
        assert int((await conn.execute(q)).scalar_one()) == 1  # one job, however many deliveries wait
    pages: list[str] = []
    real = inbound_batch.write_page

    async def counted(hub_: Hub, plan: Any, **kwargs: Any) -> Any:
        pages.append(plan.resource)
        return await real(hub_, plan, **kwargs)

    monkeypatch.setattr(inbound_batch, "write_page", counted)
    assert await Worker(hub).drain() == 1
    # A transaction a page: each person's first changes, their second ones, then the deals.
    assert pages == ["persons", "persons", "deals"]
    rows = [await inbound.get_received(hub, i) for i in stored]
    assert [r.status for r in rows] == ["applied", "applied", "applied", "failed", "applied", "applied"]
    assert "90" in (rows[3].error or "")
    (acme,) = await Organization.find({"name": "Acme"})
    for email, last in (("p77@acme.example", "Turing-Smith"), ("p78@acme.example", "Hopper-Jones")):
        (person_,) = await Contact.find({"email": email})  # made once, then changed: its last change
        assert (person_["last_name"], person_["organization"]) == (last, acme.id)
    assert await Deal.count() == 0  # the seeded deal deleted, the one without a title not made


async def test_an_oauth_access_token_works_as_the_api_token_does(hub: Hub, sim: PipedriveSimulator) -> None:
    """The token an OAuth authorization-code exchange hands out (as ``hubwire.oauth`` will store it) syncs
    as a Bearer token, at the answer's ``api_domain``."""
    seed_company(sim)
    sim.oauth.register("client-1", "secret-1")
    async with httpx.AsyncClient(base_url=sim.url) as http:
        query = {"client_id": "client-1", "redirect_uri": "http://127.0.0.1/cb", "response_type": "code", "state": "s"}
        approved = await http.get("/oauth/authorize", params=query)
        code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1/cb"}
        token = (await http.post("/oauth/token", data=form, auth=("client-1", "secret-1"))).json()
    with pytest.raises(ValidationError):
        await Integration.connect(provider="pipedrive", api_base_url=sim.url)  # neither credential
    integ = await Integration.connect(
        provider="pipedrive", access_token=token["access_token"], api_base_url=token["api_domain"]
    )
    await run_sync(hub, integ.id)
    assert await Contact.count() == 1
    assert all(r.headers.get("Authorization") == f"Bearer {token['access_token']}" for r in sim.requests[2:])
