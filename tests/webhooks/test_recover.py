"""``recover``: an endpoint's failed deliveries since a time (dead, or waiting for a retry) are sent again now."""

from __future__ import annotations

from hubwire import Integration, Worker
from hubwire.hub import Hub
from hubwire.webhooks import get_delivery, list_deliveries, recover
from tests.fakes import FakeClock, deal_noun
from tests.webhooks.conftest import Receiver, body_of


async def test_recover_sends_retrying_and_dead_deliveries_now(whub: Hub, receiver: Receiver, clock: FakeClock) -> None:
    retrying = await Integration.connect(provider="webhook", url=receiver.url("/fail"), events=["Deal.*"])
    Deal = deal_noun()
    before = await Deal.create(name="before the cut")
    await Worker(whub).drain()
    clock.advance(1)  # less than the first retry's delay (5 s, ±20%)
    cut = clock.now
    after = await Deal.create(name="after the cut")
    await Worker(whub).drain()
    failed = {d.id: d for d in await list_deliveries(whub, endpoint_id=retrying.id, status="failed")}
    assert len(failed) == 2 and len(receiver.on("/fail")) == 2
    # Each waits for its next attempt in the future: draining now sends nothing.
    assert all(d.next_attempt_at is not None and d.next_attempt_at > clock.now for d in failed.values())
    await Worker(whub).drain()
    assert len(receiver.on("/fail")) == 2

    assert await recover(whub, retrying.id, since=cut) == 1
    await Worker(whub).drain()
    resent = receiver.on("/fail")[2:]
    assert [body_of(r)["data"]["$id"] for r in resent] == [after.id]  # the one before the cut still waits
    assert before.id not in {body_of(r)["data"]["$id"] for r in resent}
    webhook_id = resent[0].headers["webhook-id"]
    assert (await get_delivery(whub, webhook_id)).attempts == 2

    # A dead delivery (attempts exhausted) is recovered too.
    dead_ep = await Integration.connect(
        provider="webhook", url=receiver.url("/fail"), events=["Deal.*"], max_attempts=1
    )
    await Deal.create(name="dies")
    await Worker(whub).drain()
    (dead,) = await list_deliveries(whub, endpoint_id=dead_ep.id, status="dead")
    sent = len(receiver.on("/fail"))
    assert await recover(whub, dead_ep.id, since=cut) == 1
    await Worker(whub).drain()
    assert [r.headers["webhook-id"] for r in receiver.on("/fail")[sent:]].count(dead.id) == 1
