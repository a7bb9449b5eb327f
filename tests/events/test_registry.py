"""The event registry: Noun events derived at lookup, registered events, schemas, examples, suggestions."""

from __future__ import annotations

import jsonschema
import pydantic
import pytest

import hubwire
from hubwire import Noun, SchemaError, ValidationError
from hubwire.errors import NotFoundError
from hubwire.events import event_type, event_types, names, register
from hubwire.events.registry import unknown


class Shipped(pydantic.BaseModel):
    order: str
    carrier: str
    parcels: int = 1


def deal() -> Noun:
    return Noun(
        "Deal",
        {
            "name": "string!",
            "value": "number",
            "stage": "Open | Closed | Lost",
            "tags": "string[]",
            "contact": "-> Contact",
            "closed_at": "datetime",
            "close": "Closed",
        },
    )


def test_the_catalogue_lists_noun_integration_and_hubwire_events() -> None:
    found = {t.name: t for t in event_types()}
    for name in ("Integration.Created", "Integration.Connected", "Integration.Synced", "Integration.Disconnected"):
        assert found[name].noun == "Integration" and found[name].category == "Integration"
    # Errored is an event-only verb: in the catalogue although Integration has no verb to call for it.
    assert "own verbs" in found["Integration.Errored"].description
    assert found["Metric.Deleted"].noun == "Metric"
    assert found["webhook.test"].noun is None and found["webhook.test"].example["message"]
    assert "Deal.Closed" not in found


def test_a_noun_declared_later_appears_with_its_schema_and_example() -> None:
    assert "Deal.Closed" not in names()
    deal()
    closed = event_type("Deal.Closed")
    assert closed.display_name == "Deal Closed" and closed.category == "Deal" and "Deal.close()" in closed.description
    props = closed.schema["properties"]
    assert set(props) == {"$id", "$type", "name", "value", "stage", "tags", "contact", "closed_at"} | {
        "created_at",
        "updated_at",
        "version",
    }
    assert props["name"] == {"type": "string"}  # required: never null
    assert props["value"] == {"type": ["number", "null"]}
    assert props["stage"] == {"enum": ["Open", "Closed", "Lost", None]}
    assert props["tags"]["type"] == ["array", "null"] and props["tags"]["items"] == {"type": "string"}
    assert props["contact"]["pattern"] == "^contact_[0-9A-Za-z]+$"
    assert props["$type"] == {"const": "Deal"} and props["version"]["type"] == "integer"
    # The example is what the verb commits: close moves the stage to Closed.
    assert closed.example["stage"] == "Closed" and event_type("Deal.Created").example["stage"] == "Open"
    assert [t.name for t in event_types(prefix="Deal.")] == [
        "Deal.Closed",
        "Deal.Created",
        "Deal.Deleted",
        "Deal.Updated",
    ]


def test_every_example_satisfies_its_schema() -> None:
    deal()
    register("Order.Shipped", schema=Shipped)
    checked = 0
    for t in event_types():
        jsonschema.Draft202012Validator(t.schema).validate(t.example)
        checked += 1
    assert checked > 40


async def test_an_entity_committed_by_a_verb_satisfies_its_event_schema(hub: hubwire.Hub) -> None:
    d = deal()
    created = await d.create(
        name="Acme", value=5, tags=["a"], contact="contact_Ab3dE5gH", closed_at="2026-01-01T00:00:00Z"
    )
    closed = await d.close(created.id)
    jsonschema.Draft202012Validator(event_type("Deal.Created").schema).validate(dict(created))
    jsonschema.Draft202012Validator(event_type("Deal.Closed").schema).validate(dict(closed))
    bare = await d.create(name="Bare")
    jsonschema.Draft202012Validator(event_type("Deal.Created").schema).validate(dict(bare))


def test_register_a_custom_event_with_a_pydantic_model_or_a_json_schema() -> None:
    shipped = register(
        "Order.Shipped",
        schema=Shipped,
        display_name="Order shipped",
        description="left the warehouse",
        category="Orders",
    )
    assert shipped.schema["properties"]["carrier"] == {"title": "Carrier", "type": "string"}
    assert shipped.example == {"order": "string", "carrier": "string", "parcels": 1}
    assert event_type("Order.Shipped") is shipped and "Order.Shipped" in names()
    assert [t.name for t in event_types(category="orders")] == ["Order.Shipped"]
    assert shipped.to_dict()["source"] == "registered"

    refunded = register(
        "Order.Refunded",
        schema={"type": "object", "properties": {"amount": {"type": "integer", "minimum": 1}}, "required": ["amount"]},
        example={"amount": 250},
    )
    assert refunded.category == "Order" and refunded.display_name == "Order Refunded"
    assert refunded.example == {"amount": 250}
    # Registering again replaces the entry.
    assert register("Order.Refunded", description="again").description == "again"


def test_register_refuses_what_it_cannot_keep() -> None:
    deal()
    for bad in ("Order", "Order.*", "order shipped", "1.x", "A." + "b" * 130):
        with pytest.raises(ValidationError) as err:
            register(bad)
        assert err.value.errors[0].field == "name"
    with pytest.raises(ValidationError) as err:
        register("Deal.Closed")
    assert err.value.errors[0].code == "noun_event" and "Deal Noun" in err.value.message
    with pytest.raises(SchemaError) as schema_err:
        register("Order.Shipped", schema={"type": "object", "properties": {"n": {"type": "integr"}}})
    assert schema_err.value.errors[0].field == "schema"
    with pytest.raises(SchemaError):
        register("Order.Shipped", schema=["not", "a", "schema"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as err:
        register("Order.Shipped", schema=Shipped, example={"order": "o"})
    assert "example" in err.value.message and err.value.errors[0].field == "carrier"
    assert "Order.Shipped" not in names()


def test_unknown_names_get_the_nearest_ones() -> None:
    deal()
    with pytest.raises(NotFoundError) as err:
        event_type("Deal.Closd")
    assert err.value.code == "unknown_event_type" and "did you mean Deal.Closed?" in err.value.message
    assert err.value.fields["suggestions"] == ["Deal.Closed"]

    (one,) = unknown(["Deal.Closd"])
    assert one.field == "events" and one.code == "unknown_event"
    assert one.message == "unknown event 'Deal.Closd'; did you mean Deal.Closed?"
    (wild,) = unknown(["Dael.*"], "config.events")
    assert wild.field == "config.events" and "no event matches 'Dael.*'" in wild.message and "Deal.*" in wild.message
    (nothing,) = unknown(["Nope.Nothing"])
    assert "did you mean" not in nothing.message and "/v1/event-types" in nothing.message
    assert unknown(["*", "Deal.*", "Deal.Closed", "Integration.Errored", "webhook.*"]) == []
    register("Order.Shipped")
    assert unknown(["Order.*", "Order.Shipped"]) == []
