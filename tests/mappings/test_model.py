"""Field mappings as data: transforms both ways, the shape of saved mappings, validation against both sides."""

from __future__ import annotations

from typing import Any

import pytest

from hubwire.domains.crm import Contact, Deal
from hubwire.errors import ValidationError
from hubwire.mappings.model import FieldMapping, Option, RemoteField, Transform, parse_mappings, validate

FIELDS = [
    RemoteField("tier", "Tier", "enum", (Option("1", "Gold"), Option("2", "Silver")), custom=True),
    RemoteField("renewal", "Renewal", "date", custom=True),
    RemoteField("seats", "Seats", "number", custom=True),
    RemoteField("nickname", "Nickname", "string", custom=True),
    RemoteField("vip", "VIP", "boolean", custom=True),
]


def check(noun: Any, raw: list[dict[str, Any]]) -> list[FieldMapping]:
    return validate(noun, parse_mappings(noun.name, raw), FIELDS)


def codes(noun: Any, raw: list[dict[str, Any]]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as err:
        check(noun, raw)
    return [(e.field, e.code) for e in err.value.errors]


def test_transforms_read_remote_values_and_write_them_back() -> None:
    assert Transform("number").read("1200.50") == 1200.5 and Transform("number").read("7") == 7
    assert Transform("number").read("n/a") is None and Transform("number").read("") is None
    assert Transform("date").read("2026-03-01T23:30:00-02:00") == "2026-03-02"  # its day in UTC
    assert Transform("date").read("1772323200000") == "2026-03-01"  # HubSpot's epoch milliseconds
    assert Transform("date").write("2026-03-01T00:00:00Z") == "2026-03-01"
    assert Transform("string").read(42) == "42"
    enum = Transform("enum", {"1": "customer", "2": "lead"})
    assert enum.read(1) == "customer" and enum.read({"value": 2}) == "lead" and enum.read("9") is None
    assert enum.write("lead") == "2" and enum.invertible
    assert not Transform("enum", {"1": "customer", "2": "customer"}).invertible


def test_a_mapping_pushes_only_when_its_direction_and_transform_allow() -> None:
    many = Transform("enum", {"1": "customer", "2": "customer"})
    assert FieldMapping("tier", "lifecycle_stage").pushes
    assert not FieldMapping("tier", "lifecycle_stage", direction="pull").pushes
    assert not FieldMapping("tier", "lifecycle_stage", many).pushes
    assert not FieldMapping("tier", "lifecycle_stage", direction="push").pulls


def test_valid_mappings_are_normalised() -> None:
    saved = check(
        Contact,
        [
            {"remote": "tier", "field": "lifecycleStage", "transform": {"type": "enum", "map": {"Gold": "customer"}}},
            {"remote": "nickname", "field": "title", "transform": "string", "direction": "pull"},
        ],
    )
    # An option's label is taken for its value; camelCase Noun fields are stored snake_case.
    assert saved[0].to_json() == {
        "remote": "tier",
        "field": "lifecycle_stage",
        "transform": {"type": "enum", "map": {"1": "customer"}},
        "direction": "both",
    }
    assert saved[1].transform == Transform("string") and saved[1].direction == "pull"
    assert check(Deal, [{"remote": "renewal", "field": "closeDate", "transform": "date"}])[0].field == "close_date"
    assert check(Deal, [{"remote": "seats", "field": "amount", "transform": "number"}])[0].transform == Transform(
        "number"
    )


def test_every_problem_is_named_with_its_field_and_code() -> None:
    assert codes(
        Deal,
        [
            {"remote": "ghost", "field": "name"},
            {"remote": "seats", "field": "shoeSize"},
            {"remote": "seats", "field": "organization"},
            {"remote": "renewal", "field": "amount", "transform": "date"},  # a date into a number field
            {"remote": "tier", "field": "status", "transform": {"type": "enum", "map": {"1": "Pending"}}},
            {"remote": "tier", "field": "stage", "transform": {"type": "enum", "map": {"7": "x"}}},
        ],
    ) == [
        ("Deal[0].remote", "unknown_remote_field"),
        ("Deal[1].field", "unknown_field"),
        ("Deal[2].field", "relation"),
        ("Deal[3].transform", "type_mismatch"),
        ("Deal[4].transform.map", "enum_value"),
        ("Deal[5].transform.map", "unknown_option"),
    ]
    assert codes(Contact, [{"remote": "vip", "field": "emails"}]) == [("Contact[0].transform", "type_mismatch")]
    assert codes(Contact, [{"remote": "nickname", "field": "title"}, {"remote": "tier", "field": "title"}]) == [
        ("Contact[1].field", "duplicate")
    ]


def test_shapes_are_refused_before_anything_is_looked_up() -> None:
    with pytest.raises(ValidationError) as err:
        parse_mappings(
            "Contact",
            [
                {"remote": "tier"},
                {"remote": "tier", "field": "title", "transform": "uppercase"},
                {"remote": "tier", "field": "title", "transform": {"type": "enum"}},
                {"remote": "tier", "field": "title", "direction": "sideways"},
                {"remote": "tier", "field": "title", "colour": "red"},
                "tier -> title",
            ],
        )
    assert [(e.field, e.code) for e in err.value.errors] == [
        ("Contact[0].field", "required"),
        ("Contact[1].transform", "transform"),
        ("Contact[2].transform.map", "enum_map"),
        ("Contact[3].direction", "direction"),
        ("Contact[4]", "unknown_key"),
        ("Contact[5]", "type"),
    ]
    with pytest.raises(ValidationError):
        parse_mappings("Contact", {"remote": "tier", "field": "title"})
