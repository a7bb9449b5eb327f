"""The attempts log and its operations: filters, resend, recover, test events, rotation, limits."""

from __future__ import annotations

import time

import pytest
import standardwebhooks

from hubwire import ConflictError, Integration, ValidationError, Worker
from hubwire.hub import Hub
from hubwire.jobs import list_jobs
from hubwire.webhooks import (
    get_delivery,
    list_attempts,
    list_deliveries,
    recover,
    resend,
    rotate_secret,
    send_test,
)
from hubwire.webhooks.delivery import DELIVER_JOB
from tests.fakes import FakeClock, deal_noun
from tests.webhooks.conftest import Received, Receiver, body_of


async def drain(hub: Hub) -> None:
    await Worker(hub, concurrency=16).drain()


async def test_filters_resend_and_recover(whub: Hub, receiver: Receiver, clock: FakeClock) -> None:
    ok = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"])
    bad = await Integration.connect(provider="webhook", url=receiver.url("/fail"), events=["Deal.*"], max_attempts=1)
    Deal = deal_noun()
    first = await Deal.create(name="A")
    clock.advance(10)
    await Deal.create(name="B")
    await drain(whub)
    assert len(await list_deliveries(whub, endpoint_id=ok.id, status="succeeded")) == 2
    dead = await list_deliveries(whub, endpoint_id=bad.id, status="dead")
    assert len(dead) == 2 and await list_deliveries(whub, endpoint_id=bad.id, status="succeeded") == []
    # A delivered job leaves no done row (its history is the delivery and its attempts); dead ones stay for replay.
    jobs_left = await list_jobs(whub, kind=DELIVER_JOB, limit=100)
    assert sorted(j.status for j in jobs_left) == ["dead", "dead"]
    by_event = await list_deliveries(whub, event_id=dead[-1].event_id)
    assert {d.endpoint_id for d in by_event} == {ok.id, bad.id}
    assert len(await list_deliveries(whub, since=clock.now - 5)) == 2
    page = await list_deliveries(whub, limit=1)
    assert len(page) == 1 and len(await list_deliveries(whub, before=page[0].id)) == 3
    with pytest.raises(ValidationError):
        await list_deliveries(whub, status="weird")

    # resend one succeeded delivery: same webhook-id, a second attempt in the log
    delivered = (await list_deliveries(whub, endpoint_id=ok.id, event_id=by_event[0].event_id))[0]
    again = await resend(whub, delivered.id)
    assert again.status == "pending"
    with pytest.raises(ConflictError):
        await resend(whub, delivered.id)  # already scheduled
    await drain(whub)
    assert [r.headers["webhook-id"] for r in receiver.on("/ok")].count(delivered.id) == 2
    assert [a.attempt for a in await list_attempts(whub, delivered.id)] == [1, 2]
    assert (await get_delivery(whub, delivered.id)).status == "succeeded"

    # recover the failed endpoint's deliveries since the second event only
    n = await recover(whub, bad.id, since=clock.now - 5)
    assert n == 2  # both were dead-lettered at the same (fake) time, after the cut
    await drain(whub)
    assert len(receiver.on("/fail")) == 4
    assert first.id in {body_of(r)["data"]["$id"] for r in receiver.on("/fail")}


async def test_send_test_event_and_rotation(whub: Hub, receiver: Receiver) -> None:
    ep = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.Closed"])
    old = ep["secret"]
    d = await send_test(whub, ep.id)
    await drain(whub)
    (r,) = receiver.on("/ok")
    assert body_of(standardwebhooks_verified(old, r))["event"] == "webhook.test"
    assert (await get_delivery(whub, d.id)).status == "succeeded"
    new = await rotate_secret(whub, ep.id)
    assert new.startswith("whsec_") and new != old
    await send_test(whub, ep.id)
    await drain(whub)
    last = receiver.on("/ok")[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 2
    standardwebhooks_verified(old, last)
    standardwebhooks_verified(new, last)
    # a rotation with no grace signs with the new secret only
    newest = await rotate_secret(whub, ep.id, grace=0)
    await send_test(whub, ep.id)
    await drain(whub)
    last = receiver.on("/ok")[-1]
    standardwebhooks_verified(newest, last)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old).verify(last.body, last.headers)
    # a given secret is kept, never revealed
    given = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["*"], secret=old)
    assert "secret" not in given


def standardwebhooks_verified(secret: str, r: Received) -> Received:
    standardwebhooks.Webhook(secret).verify(r.body, r.headers)
    return r


async def test_send_test_needs_an_active_endpoint(whub: Hub, receiver: Receiver) -> None:
    ep = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["*"])
    await Integration.disconnect(ep.id)
    with pytest.raises(ConflictError):
        await send_test(whub, ep.id)


async def test_concurrency_limit_is_enforced(whub: Hub, receiver: Receiver) -> None:
    await Integration.connect(provider="webhook", url=receiver.url("/slow"), events=["Deal.*"], concurrency=2)
    Deal = deal_noun()
    for i in range(8):
        await Deal.create(name=f"d{i}")
    await drain(whub)
    assert len(receiver.on("/slow")) == 8 and receiver.max_inflight == 2


async def test_rate_limit_is_enforced(whub: Hub, receiver: Receiver) -> None:
    await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"], rate_limit=20)
    Deal = deal_noun()
    for i in range(10):
        await Deal.create(name=f"d{i}")
    t0 = time.monotonic()
    await drain(whub)
    assert len(receiver.on("/ok")) == 10 and time.monotonic() - t0 >= 9 / 20 - 0.02
