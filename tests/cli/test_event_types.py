"""``hubwire events types``: the event catalogue as a table and as JSON."""

from __future__ import annotations

import json

from hubwire import Noun
from hubwire.events import register
from tests.cli.conftest import Cli


def test_events_types_table_json_and_filters(cli: Cli) -> None:
    Noun("Deal", {"name": "string!", "stage": "Open | Closed", "close": "Closed"})
    register(
        "Order.Shipped", schema={"type": "object", "properties": {"carrier": {"type": "string"}}}, category="Orders"
    )

    r = cli("events", "types")
    assert r.code == 0, r.err
    rows = {line.split("│")[1].strip() for line in r.out.splitlines() if line.startswith("│")}
    assert {"Deal.Closed", "Integration.Errored", "Order.Shipped", "webhook.test"} <= rows

    r = cli("events", "types", "--prefix", "Deal.", "--json")
    assert r.code == 0, r.err
    found = json.loads(r.out)
    assert [t["name"] for t in found] == ["Deal.Closed", "Deal.Created", "Deal.Deleted", "Deal.Updated"]
    assert found[0]["example"]["stage"] == "Closed" and found[0]["schema"]["properties"]["stage"]["enum"][0] == "Open"

    r = cli("events", "types", "--category", "ORDERS", "--json")
    assert [t["name"] for t in json.loads(r.out)] == ["Order.Shipped"]
    r = cli("events", "types", "--category", "nothing")
    assert r.code == 0 and r.out == "" and "no event types match" in r.err
