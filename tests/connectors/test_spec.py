"""The spec's pure parts: form encoding, dotted paths, mapping a record with relations."""

from __future__ import annotations

from hubwire.connectors.runtime import encode_form, to_incoming
from hubwire.connectors.spec import Endpoint, FieldMap, Relation, Resource, dig


def test_form_encoding_uses_stripe_bracket_notation() -> None:
    body = {
        "customer": "cus_1",
        "items": [{"price": "price_1", "quantity": 2}],
        "recurring": {"interval": "month"},
        "metadata": {"a": "b"},
        "active": False,
        "skip": None,
    }
    assert encode_form(body) == [
        ("customer", "cus_1"),
        ("items[0][price]", "price_1"),
        ("items[0][quantity]", "2"),
        ("recurring[interval]", "month"),
        ("metadata[a]", "b"),
        ("active", "false"),
    ]


def test_dig_follows_dots_and_list_indexes() -> None:
    rec = {"a": {"b": [{"c": 1}]}}
    assert dig(rec, "a.b.0.c") == 1
    assert dig(rec, "a.x.c") is None
    assert dig(rec, "a.b.5.c") is None


def test_to_incoming_maps_fields_relations_and_deletion() -> None:
    res = Resource(
        "sub",
        list=Endpoint("GET", "/subs"),
        updated_field="updated",
        mapping=FieldMap(
            "Subscription",
            {"status": lambda r: r["status"].upper(), "n": "items.data.0.quantity"},
            {"customer": Relation("customer", "customer"), "price": Relation("items.data.0.price", "price")},
        ),
    )
    rec = {
        "id": "sub_1",
        "status": "active",
        "customer": "cus_1",
        "items": {"data": [{"quantity": 3, "price": {"id": "price_9"}}]},
        "updated": "2026-01-01T00:00:00Z",
    }
    inc = to_incoming(res, rec)
    assert inc is not None
    assert inc.remote_id == "sub_1"
    assert inc.fields == {"status": "ACTIVE", "n": 3, "customer": None, "price": None}
    assert inc.links == {"customer": ("customer", "cus_1"), "price": ("price", "price_9")}
    assert inc.remote_updated == 1767225600.0
    assert not inc.deleted
    gone = to_incoming(res, {**rec, "deleted": True})
    assert gone is not None and gone.deleted
    assert to_incoming(res, {"status": "x"}) is None  # no id: not a record
