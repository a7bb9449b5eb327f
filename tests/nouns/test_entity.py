"""What an entity reads as: fields win over metadata, and the seed's camelCase reads snake_case."""

from __future__ import annotations

import hubwire
from hubwire import Noun
from hubwire.domains import Event, Metric


async def test_a_field_called_type_wins_over_the_noun_name(hub: hubwire.Hub) -> None:
    event = await Event.create(type="deal_closed", data={"value": 1})
    assert event.type == "deal_closed" and event["$type"] == "Event" and event.id == event["$id"]
    metric = await Metric.create(name="mrr", type="gauge", value=3.5)
    assert metric.type == "gauge" and metric["$type"] == "Metric"
    assert (await Metric.get(metric.id)).type == "gauge"
    untyped = await Metric.create(name="arr")
    assert untyped.type is None  # the field, though unset, still wins over the Noun's name


async def test_id_and_version_stay_metadata_and_a_field_called_id_reads_as_an_item(hub: hubwire.Hub) -> None:
    Thing = Noun("Thing", {"id": "string", "label": "string"})
    thing = await Thing.create(id="external-7", label="x")
    assert thing["id"] == "external-7" and thing.id == thing["$id"] and thing.id.startswith("thing_")
    updated = await Thing.update(thing.id, label="y")  # the verbs address it by $id
    assert (updated.id, updated["id"], updated.version) == (thing.id, "external-7", 2)
    Plain = Noun("Plain", {"label": "string"})
    plain = await Plain.create(label="y")
    assert plain.id == plain["$id"] and plain.type == "Plain" and plain.version == 1


async def test_camel_case_reads_the_snake_case_field(hub: hubwire.Hub) -> None:
    Conn = Noun("Conn", {"auth_type": "string", "api_base_url": "string", "last_sync_at": "datetime"})
    conn = await Conn.create(authType="oauth2", apiBaseUrl="http://127.0.0.1:1", lastSyncAt="2026-01-02T03:04:05Z")
    assert conn["auth_type"] == conn["authType"] == conn.authType == conn.auth_type == "oauth2"
    assert conn["lastSyncAt"] == "2026-01-02T03:04:05Z" and conn.apiBaseUrl == "http://127.0.0.1:1"
    updated = await Conn.update(conn.id, {"authType": "api_key"})
    assert updated.auth_type == "api_key"
    found = await Conn.find({"authType": "api_key", "lastSyncAt": {"$lte": "2027-01-01T00:00:00Z"}}, sort="-lastSyncAt")
    assert [c.id for c in found] == [conn.id]
