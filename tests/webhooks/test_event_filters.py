"""An endpoint's event filters are checked against the event registry: at connect and when PATCH changes them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hubwire import Integration, Noun, ValidationError
from hubwire.events import register
from hubwire.hub import Hub
from tests.api.conftest import rest_client
from tests.webhooks.conftest import Receiver

URL_PATH = "/ok"


@pytest.fixture
async def client(whub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(whub) as c:
        yield c


async def test_connect_refuses_unknown_events_with_the_nearest_names(whub: Hub, receiver: Receiver) -> None:
    url = receiver.url(URL_PATH)
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="webhook", url=url, events=["Nope.Nothing", "Deal.Closd", "Deal.Created"])
    messages = [e.message for e in err.value.errors if e.field == "events"]
    assert messages == [
        "unknown event 'Nope.Nothing' (see GET /v1/event-types or `hubwire events types`)",
        "unknown event 'Deal.Closd'; did you mean Deal.Closed?",
    ]
    with pytest.raises(ValidationError) as err:
        await Integration.connect(provider="webhook", url=url, events=["Dael.*"])
    assert err.value.errors[0].message == "no event matches 'Dael.*'; did you mean Deal.*?"
    assert await Integration.find({"provider": "webhook"}) == []  # nothing was made

    ok = await Integration.connect(provider="webhook", url=url, events=["Deal.Closed", "Integration.*", "webhook.test"])
    assert ok.status == "Connected"
    assert (await Integration.connect(provider="webhook", url=url, events=["*"])).status == "Connected"


async def test_events_registered_or_declared_later_become_subscribable(whub: Hub, receiver: Receiver) -> None:
    url = receiver.url(URL_PATH)
    for events in (["Order.Shipped"], ["Order.*"], ["Ticket.Escalated"]):
        with pytest.raises(ValidationError):
            await Integration.connect(provider="webhook", url=url, events=events)
    register("Order.Shipped")
    Noun("Ticket", {"title": "string!", "escalate": "Escalated"})
    for events in (["Order.Shipped"], ["Order.*"], ["Ticket.Escalated", "Ticket.*"]):
        assert (await Integration.connect(provider="webhook", url=url, events=events)).status == "Connected"


async def test_reconnect_checks_the_new_events(whub: Hub, receiver: Receiver) -> None:
    ep = await Integration.connect(provider="webhook", url=receiver.url(URL_PATH), events=["Deal.*"])
    with pytest.raises(ValidationError) as err:
        await Integration.connect(ep.id, events=["Deal.Won"])
    assert "unknown event 'Deal.Won'" in err.value.message
    assert (await Integration.get(ep.id)).config["events"] == ["Deal.*"]


async def test_update_checks_a_change_of_the_events(whub: Hub, receiver: Receiver) -> None:
    ep = await Integration.connect(provider="webhook", url=receiver.url(URL_PATH), events=["Deal.*"])
    config = dict(ep.config)
    for bad, expected in (
        (["Deal.Closd"], "did you mean Deal.Closed?"),
        (["Zzz.*"], "no event matches 'Zzz.*'"),
        ("Deal.Closed", "non-empty list"),
        ([], "non-empty list"),
        (["De*l"], "bad event filter"),
    ):
        with pytest.raises(ValidationError) as err:
            await Integration.update(ep.id, config={**config, "events": bad})
        assert err.value.errors[0].field == "config.events" and expected in err.value.message, bad
    assert (await Integration.get(ep.id)).config["events"] == ["Deal.*"]
    moved = await Integration.update(ep.id, config={**config, "events": ["Deal.Closed"]})
    assert moved.config["events"] == ["Deal.Closed"]

    # An unchanged filter is not checked again: a registration this process lacks does not block other changes.
    register("Order.Shipped")
    ep2 = await Integration.connect(provider="webhook", url=receiver.url(URL_PATH), events=["Order.Shipped"])
    from hubwire import declarations

    declarations.event_types.clear()  # as in a process that never imported the module registering it
    assert (await Integration.update(ep2.id, name="renamed")).name == "renamed"


async def test_rest_connect_and_patch_answer_422_naming_the_field_and_the_suggestion(
    whub: Hub, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    url = receiver.url(URL_PATH)
    r = await client.post(
        "/v1/integrations/connect", json={"provider": "webhook", "url": url, "events": ["Deal.Closd"]}
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    (error,) = r.json()["errors"]
    assert error["field"] == "events" and error["code"] == "unknown_event"
    assert error["message"] == "unknown event 'Deal.Closd'; did you mean Deal.Closed?"

    r = await client.post("/v1/integrations/connect", json={"provider": "webhook", "url": url, "events": ["Deal.*"]})
    assert r.status_code == 201, r.text
    ep = r.json()
    r = await client.patch(f"/v1/integrations/{ep['$id']}", json={"config": {**ep["config"], "events": ["Deal.Closd"]}})
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "config.events" and "did you mean Deal.Closed?" in error["message"]
    r = await client.patch(
        f"/v1/integrations/{ep['$id']}", json={"config": {**ep["config"], "events": ["Deal.Closed"]}}
    )
    assert r.status_code == 200 and r.json()["config"]["events"] == ["Deal.Closed"]
