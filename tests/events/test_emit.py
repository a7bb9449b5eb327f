"""Emitting a registered event: validated against its schema, appended, fanned out to subscribed endpoints."""

from __future__ import annotations

import json

import pydantic
import pytest
import standardwebhooks

import hubwire
from hubwire import Integration, ValidationError, Worker
from hubwire.events import emit, register
from hubwire.hub import Hub
from hubwire.store.events import read_after
from tests.webhooks.conftest import Receiver, clock, receiver, whub  # noqa: F401  (fixtures)


class Shipped(pydantic.BaseModel):
    order: str
    carrier: str
    parcels: int = 1


async def test_emit_validates_appends_and_fans_out(whub: Hub, receiver: Receiver) -> None:  # noqa: F811
    register("Order.Shipped", schema=Shipped, category="Orders")
    ep = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Order.*"])
    other = await Integration.connect(provider="webhook", url=receiver.url("/other"), events=["Deal.*"])
    heard: list[tuple[str, str]] = []
    hubwire.on("Order.*")(lambda data, ctx: heard.append((ctx.event.type, data["carrier"])))

    record = await emit("Order.Shipped", {"order": "ord_1"}, carrier="DHL", entity_id="ord_1")
    assert record.type == "Order.Shipped" and record.data == {"order": "ord_1", "carrier": "DHL", "parcels": 1}
    assert heard == [("Order.Shipped", "DHL")]
    async with whub.read() as conn:
        (logged,) = await read_after(conn, 0, types=["Order.*"])
    assert logged.seq == record.seq and logged.entity_id == "ord_1" and logged.data["parcels"] == 1

    await Worker(whub).drain()
    (got,) = receiver.on("/ok")
    body = json.loads(got.body)
    assert body["event"] == "Order.Shipped" and body["seq"] == record.seq and body["data"]["carrier"] == "DHL"
    standardwebhooks.Webhook(ep["secret"]).verify(got.body, got.headers)
    assert receiver.on("/other") == [] and other.id


async def test_emit_refuses_a_bad_payload_naming_the_field(whub: Hub) -> None:  # noqa: F811
    register("Order.Shipped", schema=Shipped)
    register(
        "Order.Refunded",
        schema={"type": "object", "properties": {"amount": {"type": "integer", "minimum": 1}}, "required": ["amount"]},
    )
    with pytest.raises(ValidationError) as err:
        await emit("Order.Shipped", {"order": "ord_1", "parcels": "many"})
    assert {e.field for e in err.value.errors} == {"carrier", "parcels"}
    with pytest.raises(ValidationError) as err:
        await emit("Order.Refunded", {})
    assert [(e.field, e.code) for e in err.value.errors] == [("amount", "required")]
    with pytest.raises(ValidationError) as err:
        await emit("Order.Refunded", amount=0)
    assert [(e.field, e.code) for e in err.value.errors] == [("amount", "minimum")]
    with pytest.raises(ValidationError) as err:
        await emit("Order.Refunded", ["not", "an", "object"])  # type: ignore[arg-type]
    assert err.value.errors[0].field == "data"
    with pytest.raises(ValidationError) as err:
        await emit("Order.Refunded", {"amount": 5}, entity_id="x" * 65)
    assert err.value.errors[0].field == "entity_id"
    async with whub.read() as conn:
        assert await read_after(conn, 0, types=["Order.*"]) == []  # nothing was appended


async def test_emit_refuses_unregistered_names_and_noun_events(whub: Hub) -> None:  # noqa: F811
    register("Order.Shipped", schema=Shipped)
    with pytest.raises(ValidationError) as err:
        await emit("Order.Shiped", order="o", carrier="c")
    assert err.value.errors[0].code == "unknown_event" and "did you mean Order.Shipped?" in err.value.message
    with pytest.raises(ValidationError) as err:
        await emit("Integration.Connected", {})
    assert err.value.errors[0].code == "noun_event"


async def test_emit_in_the_callers_transaction_rolls_back_with_it(whub: Hub) -> None:  # noqa: F811
    register("Order.Shipped", schema=Shipped)
    with pytest.raises(RuntimeError):
        async with whub.transaction() as tx:
            await emit("Order.Shipped", order="o", carrier="c", tx=tx)
            raise RuntimeError("the caller's work failed")
    async with whub.read() as conn:
        assert await read_after(conn, 0, types=["Order.Shipped"]) == []
    async with whub.transaction() as tx:
        await emit("Order.Shipped", order="o", carrier="c", tx=tx)
    async with whub.read() as conn:
        assert len(await read_after(conn, 0, types=["Order.Shipped"])) == 1
