"""The schema language: types, modifiers, enums, relations, lists, custom verbs, errors."""

from __future__ import annotations

import pytest

from hubwire import Noun, SchemaError
from hubwire.nouns.schema import conjugate, parse_schema


def test_types_and_modifiers() -> None:
    s = parse_schema(
        "Deal",
        {
            "name": "string!",
            "slug": "string##",
            "code": "string#",
            "value": "number",
            "count": "integer",
            "won": "boolean",
            "at": "datetime",
            "meta": "json",
            "notes": "text",
            "stage": "Open | Won | Lost",
            "contact": "-> Contact",
            "tags": "string[]",
            "watchers": "-> User[]",
            "close": "Closed",
        },
    )
    f = s.fields
    assert f["name"].required and not f["name"].indexed
    assert f["slug"].unique and f["slug"].indexed
    assert f["code"].indexed and not f["code"].unique
    assert f["stage"].type == "enum" and f["stage"].enum == ("Open", "Won", "Lost")
    assert f["contact"].type == "relation" and f["contact"].target == "Contact"
    assert f["tags"].many and f["tags"].type == "string"
    assert f["watchers"].many and f["watchers"].target == "User"
    assert set(s.verbs) == {"close"} and s.verbs["close"].event == "Closed"


def test_camel_case_fields_become_snake_case() -> None:
    s = parse_schema("Integration", {"providerUrl": "string", "webhookSupport": "boolean"})
    assert set(s.fields) == {"provider_url", "webhook_support"}


@pytest.mark.parametrize(
    "decl",
    [
        {"x": "strng"},
        {"x": "String"},
        {"x": "-> contact"},
        {"x": "A | A"},
        {"x": "json#"},
        {"x": "string[]##"},
        {"create": "Created"},
        {"9x": "string"},
        {"x": ""},
        {"version": "integer"},
        {"createdAt": "datetime"},
        {"updated_at": "string"},
    ],
)
def test_bad_declarations_fail_at_declaration_time(decl: dict[str, str]) -> None:
    with pytest.raises(SchemaError) as err:
        Noun("Broken", decl)
    assert err.value.code == "schema_error" and err.value.errors


def test_bad_noun_name() -> None:
    with pytest.raises(SchemaError):
        Noun("deal", {"name": "string"})


@pytest.mark.parametrize(
    ("verb", "event", "before", "after"),
    [
        ("connect", "Connected", "connecting", "connected"),
        ("close", "Closed", "closing", "closed"),
        ("sync", "Synced", "syncing", "synced"),
        ("cancel", "Cancelled", "cancelling", "cancelled"),
        ("create", "Created", "creating", "created"),
        ("send", "Sent", "sending", "sent"),
        ("complete", "Completed", "completing", "completed"),
    ],
)
def test_conjugation(verb: str, event: str, before: str, after: str) -> None:
    d = conjugate(verb, event)
    assert (d.before, d.after) == (before, after)


@pytest.mark.parametrize(
    ("ftype", "value", "ok", "stored"),
    [
        ("string", "x", True, "x"),
        ("string", 3, False, None),
        ("number", 3.5, True, 3.5),
        ("number", True, False, None),
        ("number", float("nan"), False, None),
        ("integer", 3.0, True, 3),
        ("integer", 3.2, False, None),
        ("boolean", 1, False, None),
        ("datetime", "2025-09-15T14:32:00+02:00", True, "2025-09-15T12:32:00Z"),
        ("datetime", "yesterday", False, None),
    ],
)
def test_value_checks(ftype: str, value: object, ok: bool, stored: object) -> None:
    f = parse_schema("T", {"f": ftype}).fields["f"]
    clean, err = f.check(value)
    assert (err is None) is ok
    if ok:
        assert clean == stored


@pytest.mark.parametrize(
    "decl", ["string", "text", "number", "integer", "boolean", "json", "datetime", "A | B", "string[]"]
)
def test_values_a_field_keeps_unchanged_are_exactly_what_check_returns_as_is(decl: str) -> None:
    """``Field.unchanged`` lets Noun.validate skip ``check``: never for a value check would change or refuse."""
    f = parse_schema("Thing", {"x": decl}).fields["x"]
    samples = ["a", "", 0, 7, -3, True, False, 1.5, float("nan"), None, ["a"], {"k": 1}]
    for value in samples:
        if type(value) in f.unchanged:
            clean, err = f.check(value)
            assert err is None and clean is value, (decl, value)
    admitted = {type(v) for v in samples if type(v) in f.unchanged}
    expected = {"string": {str}, "text": {str}, "number": {int}, "integer": {int}, "boolean": {bool}}
    assert admitted == expected.get(decl, {str, int, bool} if decl == "json" else set())
