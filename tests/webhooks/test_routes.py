"""The REST face of outbound webhooks: connect, deliveries, attempts, resend, recover, replay, test, rotate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import standardwebhooks

from hubwire import Worker
from hubwire.hub import Hub
from hubwire.store.events import iso
from tests.api.conftest import rest_client
from tests.fakes import FakeClock, deal_noun
from tests.webhooks.conftest import Receiver


@pytest.fixture
async def client(whub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(whub) as c:
        yield c


async def test_rest_deliveries_lifecycle(
    whub: Hub, client: httpx.AsyncClient, receiver: Receiver, clock: FakeClock
) -> None:
    r = await client.post(
        "/v1/integrations/connect",
        json={"provider": "webhook", "url": receiver.url("/fail"), "events": ["Deal.*"], "max_attempts": 1},
    )
    assert r.status_code in (200, 201), r.text
    ep = r.json()
    secret = ep["secret"]
    listed = (await client.get(f"/v1/integrations/{ep['$id']}")).json()
    assert "secret" not in listed and secret not in r.text.replace(secret, "", 1)
    refused = await client.post(
        "/v1/integrations/connect", json={"provider": "webhook", "url": "gopher://x", "events": ["*"]}
    )
    assert refused.status_code == 422 and "scheme" in refused.text

    await deal_noun().create(name="A")
    await Worker(whub).drain()
    page = (await client.get("/v1/webhooks/deliveries", params={"endpoint": ep["$id"], "status": "dead"})).json()
    (d,) = page["data"]
    assert d["event_type"] == "Deal.Created" and d["last_status_code"] == 500
    one = (await client.get(f"/v1/webhooks/deliveries/{d['id']}")).json()
    assert [a["status_code"] for a in one["attempts"]] == [500]
    assert (await client.get("/v1/webhooks/deliveries", params={"status": "bogus"})).status_code == 422
    assert (await client.get("/v1/webhooks/deliveries/msg_nope")).status_code == 404

    assert (await client.post(f"/v1/webhooks/deliveries/{d['id']}/resend")).json()["status"] == "pending"
    assert (await client.post(f"/v1/webhooks/deliveries/{d['id']}/resend")).status_code == 409
    await Worker(whub).drain()
    since = iso(clock.now - 60)
    r = await client.post(f"/v1/webhooks/endpoints/{ep['$id']}/recover", json={"since": since})
    assert r.json() == {"requeued": 1}
    await Worker(whub).drain()
    assert (await client.post("/v1/webhooks/retry-dead")).json() == {"requeued": 1}
    await Worker(whub).drain()
    assert len(receiver.on("/fail")) == 4 and len({x.headers["webhook-id"] for x in receiver.on("/fail")}) == 1
    attempts = (await client.get(f"/v1/webhooks/deliveries/{d['id']}/attempts")).json()["data"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]

    rotated = (await client.post(f"/v1/webhooks/endpoints/{ep['$id']}/rotate-secret")).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret
    r = await client.post(f"/v1/webhooks/endpoints/{ep['$id']}/test")
    assert r.status_code == 200 and r.json()["event_type"] == "webhook.test"
    await Worker(whub).drain()
    last = receiver.on("/fail")[-1]
    for s in (secret, rotated["secret"]):
        standardwebhooks.Webhook(s).verify(last.body, last.headers)
