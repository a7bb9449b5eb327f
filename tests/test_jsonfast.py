"""hubwire.jsonfast: orjson's speed, the standard library's output (one documented difference: NaN)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hubwire import jsonfast


@dataclass
class Point:
    x: int


def stdlib(obj: object, default: object = None) -> str:
    # ensure_ascii=False: jsonfast writes non-ASCII characters as UTF-8 (the same JSON value, shorter).
    return json.dumps(obj, separators=(",", ":"), default=default, ensure_ascii=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        {"event": "Deal.Closed", "seq": 12, "data": {"$id": "deal_1", "amount": 12.5, "ok": True, "none": None}},
        [1, -2, 3.25, 'é ✓ \u0000 "quoted" \\ back', [], {}],
        {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
        {"big": 2**70, "neg": -(2**65)},  # past 64 bits: encoded by the standard library
        "plain string",
    ],
)
def test_output_is_the_standard_librarys(value: object) -> None:
    assert jsonfast.dumps(value) == stdlib(value)
    assert jsonfast.loads(jsonfast.dumps(value)) == json.loads(stdlib(value))


def test_other_objects_go_through_default_as_before() -> None:
    value = {"at": datetime(2025, 9, 15, 14, 32, tzinfo=UTC), "p": Point(1), "d": Decimal("1.10")}
    assert jsonfast.dumps(value, default=str) == stdlib(value, default=str)
    with pytest.raises(TypeError):
        jsonfast.dumps({"at": datetime(2025, 9, 15, tzinfo=UTC)})  # no default: refused, like json.dumps


def test_nan_and_infinity_become_null_which_every_parser_reads() -> None:
    out = jsonfast.dumps({"a": float("nan"), "b": float("inf")})
    assert out == '{"a":null,"b":null}'
    assert stdlib({"a": float("nan")}) == '{"a":NaN}'  # what json.dumps would send: not JSON
