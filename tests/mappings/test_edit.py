"""Field mappings end to end against the CRM simulators on loopback: the remote fields each lists,
a saved mapping (custom field, enum map, date) filling Noun fields on the next sync and written back
through its inverse, refused mappings saving nothing, versions, and ``remote_data``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hubwire import mappings
from hubwire.domains.crm import Contact, Deal
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ValidationError
from hubwire.hub import Hub
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.hubspot import DEFAULT_TOKEN, HubSpotSimulator
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from hubwire.simulators.salesforce import DEFAULT_SESSION, SalesforceSimulator
from tests.connectors.loopback import LOOPBACK
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches, hubspot_sim, require_salesforce_collection

__all__ = ["hubspot_sim"]  # the fixture, from crm_fixtures

TIERS = {"type": "enum", "map": {"gold": "customer", "silver": "lead"}}


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    use_http_client(hub, HttpClient(policy=LOOPBACK, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


@pytest.fixture
async def salesforce_sim() -> AsyncIterator[SalesforceSimulator]:
    require_salesforce_collection()
    async with SalesforceSimulator(now=Clock()) as s:
        yield s
    assert_no_mismatches(s)


@pytest.fixture
async def pipedrive_sim() -> AsyncIterator[PipedriveSimulator]:
    async with PipedriveSimulator(now=Clock()) as s:
        yield s
    assert_no_mismatches(s)


async def refused(iid: str, noun: str, listed: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Save ``listed``, expecting a refusal; check that nothing was saved; the (field, code) of each problem."""
    before = (await mappings.get(iid), [v.version for v in await mappings.versions(iid)])
    with pytest.raises(ValidationError) as err:
        await mappings.set(iid, noun, listed, by="ops")
    assert (await mappings.get(iid), [v.version for v in await mappings.versions(iid)]) == before
    assert err.value.fields["integration_id"] == iid
    return [(e.field, e.code) for e in err.value.errors]


async def test_hubspot_custom_properties_map_both_ways(hub: Hub, hubspot_sim: HubSpotSimulator) -> None:
    sim = hubspot_sim
    sim.add_property("contacts", "tier", "enumeration", "select", options=["gold", "silver", "bronze"])
    sim.add_property("contacts", "shoe_size", "number", "number")
    sim.add_property("deals", "renewal_date", "date", "date")
    ada = sim.seed("contacts", {"email": "ada@acme.example", "lastname": "Lovelace", "tier": "gold", "shoe_size": "38"})
    sim.seed("deals", {"dealname": "Renewal", "renewal_date": "2027-01-15", "closedate": "2026-06-30T00:00:00Z"})
    iid = (await Integration.connect(provider="hubspot", access_token=DEFAULT_TOKEN, api_base_url=sim.url)).id
    await run_sync(hub, iid)
    contact = (await Contact.find({"email": "ada@acme.example"}))[0]
    # Custom properties no mapping uses are kept as HubSpot names them.
    assert contact["remote_data"] == {"tier": "gold", "shoe_size": "38"} and contact["lifecycle_stage"] is None

    listed = {f.name: f for f in await mappings.fields(iid, noun="Contact")}
    assert listed["tier"].type == "enum" and listed["tier"].custom and listed["tier"].writable
    assert [(o.value, o.label) for o in listed["tier"].options] == [
        ("gold", "Gold"),
        ("silver", "Silver"),
        ("bronze", "Bronze"),
    ]
    assert listed["shoe_size"].type == "number" and not listed["email"].custom
    assert listed["lastmodifieddate"].type == "datetime" and not listed["lastmodifieddate"].writable
    deal_fields = {f.name: f.type for f in await mappings.fields(iid, noun="Deal")}
    assert deal_fields["renewal_date"] == "date" and deal_fields["amount"] == "number"

    assert await refused(iid, "Deal", [{"remote": "renewal_date", "field": "amount", "transform": "date"}]) == [
        ("Deal[0].transform", "type_mismatch")
    ]
    assert await refused(
        iid,
        "Contact",
        [{"remote": "tier", "field": "lifecycleStage", "transform": {"type": "enum", "map": {"platinum": "x"}}}],
    ) == [("Contact[0].transform.map", "unknown_option")]
    assert await refused(iid, "Contact", [{"remote": "no_such", "field": "title"}]) == [
        ("Contact[0].remote", "unknown_remote_field")
    ]

    first = await mappings.set(
        iid, "Contact", [{"remote": "tier", "field": "lifecycleStage", "transform": TIERS}], by="ops"
    )
    second = await mappings.set(
        iid,
        "Deal",
        [{"remote": "renewal_date", "field": "closeDate", "transform": "date", "direction": "pull"}],
        by="ops",
    )
    assert (first.version, second.version, second.saved_by) == (1, 2, "ops")
    assert [v.version for v in await mappings.versions(iid)] == [2, 1]
    assert set(second.mappings) == {"Contact", "Deal"} and set(first.mappings) == {"Contact"}

    await run_sync(hub, iid)  # the next sync reads every record again, through the new mappings
    contact = await Contact.get(contact.id)
    assert contact["lifecycle_stage"] == "customer" and contact["remote_data"] == {"shoe_size": "38"}
    deal = (await Deal.find({"name": "Renewal"}))[0]
    assert str(deal["close_date"]).startswith("2027-01-15")

    # A local change is written back through the inverse of the enum map.
    await Contact.update(contact.id, lifecycle_stage="lead")
    assert sim.state.get("contacts", ada["id"]).properties["tier"] == "silver"
    # remote_data is read-only at HubSpot's side: a local edit of it is not sent.
    await Contact.update(contact.id, remote_data={"shoe_size": "44"})
    assert sim.state.get("contacts", ada["id"]).properties["shoe_size"] == "38"


async def test_salesforce_custom_fields_map_both_ways(hub: Hub, salesforce_sim: SalesforceSimulator) -> None:
    sim = salesforce_sim
    sim.add_field("Contact", "Tier__c", "picklist", values=("Gold", "Silver"))
    sim.add_field("Contact", "Shoe_Size__c", "double")
    sim.add_field("Opportunity", "Renewal__c", "date")
    sim.seed("Contact", LastName="Gold", Tier__c="Gold", Shoe_Size__c=38)
    sim.seed("Opportunity", Name="Big", StageName="Prospecting", CloseDate="2026-06-30", Renewal__c="2027-01-15")
    iid = (
        await Integration.connect(
            provider="salesforce", access_token=DEFAULT_SESSION, instance_url=sim.url, api_base_url=sim.url
        )
    ).id
    await run_sync(hub, iid)
    contact = (await Contact.find({"last_name": "Gold"}))[0]
    assert contact["remote_data"] == {"Tier__c": "Gold", "Shoe_Size__c": 38}

    listed = {f.name: f for f in await mappings.fields(iid, noun="Contact")}
    assert listed["Tier__c"].type == "enum" and listed["Tier__c"].custom
    assert [o.value for o in listed["Tier__c"].options] == ["Gold", "Silver"]
    assert listed["Shoe_Size__c"].type == "number" and listed["Email"].type == "string" and not listed["Email"].custom
    assert not listed["Id"].writable

    assert await refused(iid, "Contact", [{"remote": "Tier__c", "field": "organization"}]) == [
        ("Contact[0].field", "relation")
    ]
    assert await refused(iid, "Deal", [{"remote": "Renewal__c", "field": "probability", "transform": "date"}]) == [
        ("Deal[0].transform", "type_mismatch")
    ]
    tiers = {"type": "enum", "map": {"Gold": "customer", "Silver": "lead"}}
    await mappings.set(iid, "Contact", [{"remote": "Tier__c", "field": "lifecycleStage", "transform": tiers}])
    await mappings.set(iid, "Deal", [{"remote": "Renewal__c", "field": "closeDate", "transform": "date"}])
    await run_sync(hub, iid)
    contact = await Contact.get(contact.id)
    assert contact["lifecycle_stage"] == "customer" and contact["remote_data"] == {"Shoe_Size__c": 38}
    deal = (await Deal.find({"name": "Big"}))[0]
    assert str(deal["close_date"]).startswith("2027-01-15")

    await Contact.update(contact.id, lifecycle_stage="lead")
    await Deal.update(deal.id, close_date="2027-02-01")
    remote = next(r for r in sim.state.records["Contact"].values() if r["LastName"] == "Gold")
    opp = next(r for r in sim.state.records["Opportunity"].values() if r["Name"] == "Big")
    assert remote["Tier__c"] == "Silver" and opp["Renewal__c"] == "2027-02-01" and opp["CloseDate"] == "2026-06-30"


async def test_pipedrive_custom_fields_map_both_ways(hub: Hub, pipedrive_sim: PipedriveSimulator) -> None:
    sim = pipedrive_sim
    tier = sim.add_field("persons", "Tier", "enum", options=["Gold", "Silver"])
    renewal = sim.add_field("persons", "Renewal", "date")
    shoe = sim.add_field("persons", "Shoe size", "double")
    sim.seed("persons", name="Gold Person", **{tier: 1, renewal: "2027-01-15", shoe: 38})
    iid = (await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=sim.url)).id
    await run_sync(hub, iid)
    person = (await Contact.find({"last_name": "Gold Person"}))[0]
    assert person["remote_data"] == {tier: 1, renewal: "2027-01-15", shoe: 38}

    listed = {f.name: f for f in await mappings.fields(iid, noun="Contact")}
    assert listed[tier].type == "enum" and listed[tier].label == "Tier" and listed[tier].custom
    assert [(o.value, o.label) for o in listed[tier].options] == [("1", "Gold"), ("2", "Silver")]
    assert listed[renewal].type == "date" and listed[shoe].type == "number" and not listed["first_name"].custom
    assert {f.name for f in await mappings.fields(iid, noun="Deal")} >= {"value", "expected_close_date"}

    assert await refused(iid, "Contact", [{"remote": renewal, "field": "firstName", "transform": "number"}]) == [
        ("Contact[0].transform", "type_mismatch")
    ]
    # Options by label or by id: stored by id, what Pipedrive's records hold.
    saved = await mappings.set(
        iid,
        "Contact",
        [
            {
                "remote": tier,
                "field": "lifecycleStage",
                "transform": {"type": "enum", "map": {"Gold": "customer", "2": "lead"}},
            },
            {"remote": renewal, "field": "title", "transform": "date", "direction": "pull"},
        ],
    )
    assert saved.mappings["Contact"][0]["transform"]["map"] == {"1": "customer", "2": "lead"}
    await run_sync(hub, iid)
    person = await Contact.get(person.id)
    assert (person["lifecycle_stage"], person["title"]) == ("customer", "2027-01-15")
    assert person["remote_data"] == {shoe: 38}

    await Contact.update(person.id, lifecycle_stage="lead", title="Dr")
    remote = next(r for r in sim.state.records["persons"].values() if r.values.get("name") == "Gold Person")
    assert remote.custom[tier] == "2" and remote.custom[renewal] == "2027-01-15"  # title's mapping only pulls


async def test_field_mappings_given_at_connect_are_version_one(hub: Hub, pipedrive_sim: PipedriveSimulator) -> None:
    tier = pipedrive_sim.add_field("persons", "Tier")
    integ = await Integration.connect(
        provider="pipedrive",
        api_token=DEFAULT_API_TOKEN,
        api_base_url=pipedrive_sim.url,
        field_mappings={"Contact.lifecycleStage": tier},
    )
    current = {"Contact": [{"remote": tier, "field": "lifecycle_stage", "direction": "both"}]}
    assert await mappings.get(integ.id) == current
    [first] = await mappings.versions(integ.id)
    assert (first.version, first.saved_by, first.mappings) == (1, None, current)
    assert (await mappings.set(integ.id, "Contact", [])).mappings == {}
    assert await mappings.get(integ.id) == {} and [v.version for v in await mappings.versions(integ.id)] == [2, 1]


async def test_a_provider_without_field_metadata_or_a_noun_it_does_not_fill(
    hub: Hub, hubspot_sim: HubSpotSimulator
) -> None:
    iid = (await Integration.connect(provider="hubspot", access_token=DEFAULT_TOKEN, api_base_url=hubspot_sim.url)).id
    with pytest.raises(ValidationError) as err:
        await mappings.fields(iid, noun="Invoice")
    assert err.value.errors[0].code == "unknown_noun"
    with pytest.raises(ValidationError) as err:
        await mappings.set(iid, "Contact", {"remote": "email", "field": "email"})  # not a list
    assert err.value.errors[0].code == "type"
