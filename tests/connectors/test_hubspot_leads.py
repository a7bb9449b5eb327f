"""HubSpot leads (the Leads API's ``leads`` object) as Leads: initial and incremental sync with their
contact and company, the lead pipeline stage as the status, write-through of create, update and
qualify, and HubSpot's refusal of a lead without a contact, against the simulator on loopback."""

from __future__ import annotations

import pytest

from hubwire.connectors.hubspot import lead_status, properties_of
from hubwire.domains.crm import Contact, Lead, Organization
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ProviderInvalidRequest
from hubwire.hub import Hub
from hubwire.jobs import Worker
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.hubspot import DEFAULT_TOKEN, HubSpotSimulator
from hubwire.sync.state import lookup
from tests.connectors.loopback import LOOPBACK
from tests.simulators.crm_fixtures import hubspot_sim

__all__ = ["hubspot_sim"]  # the fixture, imported from crm_fixtures


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


def to(ident: str, type_id: int) -> dict[str, object]:
    return {"to": {"id": ident}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}


async def synced(hub: Hub, iid: str, resource: str, remote_id: str) -> str:
    eid = await lookup(hub, iid, resource, remote_id)
    assert eid is not None, f"{resource} {remote_id} was not synced"
    return eid


def test_lead_stages_and_properties() -> None:
    stages = ("new-stage-id", "attempting-stage-id", "qualified-stage-id", "unqualified-stage-id", None)
    assert [lead_status(s) for s in stages] == ["New", "New", "Qualified", "Disqualified", "New"]
    assert properties_of("Lead", {"name": "L", "status": "Disqualified", "email": "x@y.z"}) == {
        "hs_lead_name": "L",
        "hs_pipeline_stage": "unqualified-stage-id",
    }


async def test_leads_sync_with_their_contact_and_company_then_incrementally(
    hub: Hub, hubspot_sim: HubSpotSimulator
) -> None:
    acme = hubspot_sim.seed("companies", {"name": "Acme"})["id"]
    ada = hubspot_sim.seed("contacts", {"email": "ada@acme.example", "firstname": "Ada", "lastname": "Lovelace"})["id"]
    lead = hubspot_sim.seed("leads", {"hs_lead_name": "Ada at Acme", "hubspot_owner_id": "77"})["id"]
    hubspot_sim.associate("leads", lead, "contacts", ada)
    hubspot_sim.associate("leads", lead, "companies", acme)
    integ = await Integration.connect(provider="hubspot", access_token=DEFAULT_TOKEN, api_base_url=hubspot_sim.url)
    await Worker(hub).drain()
    assert (await Integration.get(integ.id))["status"] == "Synced"
    got = await Lead.get(await synced(hub, integ.id, "lead", lead))
    assert got["name"] == "Ada at Acme" and got["status"] == "New" and got["owner"] == "77"
    assert got["first_name"] == "Ada" and got["last_name"] == "Lovelace" and got["email"] == "ada@acme.example"
    assert got["company"] == "Acme"
    assert got["contact"] == await synced(hub, integ.id, "contact", ada)
    assert got["organization"] == await synced(hub, integ.id, "company", acme)
    listed = hubspot_sim.requests_to("GET", "/crm/v3/objects/leads")
    assert listed and listed[0].param("associations") == "companies,contacts"

    # Incremental: the search API on hs_lastmodifieddate; an archived lead is deleted.
    hubspot_sim.state.update("leads", lead, {"hs_pipeline_stage": "qualified-stage-id"})
    other = hubspot_sim.seed("leads", {"hs_lead_name": "Second"})["id"]
    hubspot_sim.associate("leads", other, "contacts", ada)
    hubspot_sim.requests.clear()
    await run_sync(hub, integ.id)
    searched = hubspot_sim.requests_to("POST", "/crm/v3/objects/leads/search")
    assert searched[0].json()["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"
    assert (await Lead.get(got.id))["status"] == "Qualified"
    assert (await Lead.get(await synced(hub, integ.id, "lead", other)))["email"] == "ada@acme.example"
    hubspot_sim.state.archive("leads", other)
    await run_sync(hub, integ.id)
    assert await Lead.count() == 1


async def test_lead_write_through_creates_qualifies_and_is_refused_without_a_contact(
    hub: Hub, hubspot_sim: HubSpotSimulator
) -> None:
    acme = hubspot_sim.seed("companies", {"name": "Acme"})["id"]
    ada = hubspot_sim.seed("contacts", {"email": "ada@acme.example", "firstname": "Ada"})["id"]
    integ = await Integration.connect(provider="hubspot", access_token=DEFAULT_TOKEN, api_base_url=hubspot_sim.url)
    await Worker(hub).drain()
    contact = await Contact.get(await synced(hub, integ.id, "contact", ada))
    org = await Organization.get(await synced(hub, integ.id, "company", acme))

    with pytest.raises(ProviderInvalidRequest) as refused:
        await Lead.create(name="Nobody's lead")
    assert "contact" in refused.value.message and await Lead.count() == 0

    made = await Lead.create(name="Ada's lead", contact=contact.id, organization=org.id, owner="77")
    remote = hubspot_sim.state.live("leads")[0]
    assert (
        remote.properties["hs_lead_name"] == "Ada's lead" and remote.properties["hs_pipeline_stage"] == "new-stage-id"
    )
    assert [i for i, t in hubspot_sim.state.associated("leads", remote.id, "contacts")] == [ada]
    assert hubspot_sim.state.associated("leads", remote.id, "contacts")[0][1] == 578
    assert [i for i, _ in hubspot_sim.state.associated("leads", remote.id, "companies")] == [acme]
    assert await lookup(hub, integ.id, "lead", remote.id) == made.id

    await Lead.update(made.id, name="Ada's big lead")
    assert hubspot_sim.state.get("leads", remote.id).properties["hs_lead_name"] == "Ada's big lead"
    qualified = await Lead.qualify(made.id)
    assert qualified["status"] == "Qualified"
    assert hubspot_sim.state.get("leads", remote.id).properties["hs_pipeline_stage"] == "qualified-stage-id"

    # The next sync reads HubSpot's calculated contact fields into the lead; nothing else moves.
    await run_sync(hub, integ.id)
    after = await Lead.get(made.id)
    assert after["email"] == "ada@acme.example" and after["status"] == "Qualified" and after["name"] == "Ada's big lead"
    assert await Lead.count() == 1
