"""The webhooks page's actions, each through the SDK the REST routes call: a test event (then its
delivery), "recover since" (failed deliveries sent again), and secret rotation (the new secret
shown once, signing at the receiver on loopback, checked with the standardwebhooks verifier)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import standardwebhooks

import hubwire
from hubwire import Integration, Worker
from hubwire.webhooks import get_delivery, list_deliveries
from tests.webhooks.conftest import Receiver, body_of, receiver

__all__ = ["receiver"]  # the fixture, from the webhooks tests


async def drain(hub: hubwire.Hub) -> None:
    await Worker(hub, concurrency=4).drain()


async def test_send_a_test_event_then_rotate_the_secret(
    hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str], receiver: Receiver
) -> None:
    c, csrf = admin
    ep = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"])
    old = ep["secret"]

    sent = await c.post(f"/webhooks/endpoints/{ep.id}/test", data={"csrf": csrf})
    assert sent.status_code == 303 and sent.headers["location"].startswith("/webhooks/deliveries/msg_")
    await drain(hub)
    delivery = await get_delivery(hub, sent.headers["location"].rsplit("/", 1)[1])
    assert delivery.status == "succeeded" and delivery.event_type == "webhook.test"

    rotated = await c.post(f"/webhooks/endpoints/{ep.id}/rotate-secret", data={"csrf": csrf, "grace_hours": "0"})
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    (new,) = re.findall(r'id="new-secret"[^>]*value="(whsec_[^"]+)"', rotated.text)
    assert new != old and "for 0.0 h" in rotated.text
    assert new not in (await c.get("/webhooks")).text  # shown once

    await c.post(f"/webhooks/endpoints/{ep.id}/test", data={"csrf": csrf})
    await drain(hub)
    last = receiver.on("/ok")[-1]
    assert body_of(last)["event"] == "webhook.test"
    standardwebhooks.Webhook(new).verify(last.body, last.headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):  # no grace: the old one signs no more
        standardwebhooks.Webhook(old).verify(last.body, last.headers)


async def test_rotation_with_a_grace_period_signs_with_both(
    hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str], receiver: Receiver
) -> None:
    c, csrf = admin
    ep = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"])
    page = await c.post(f"/webhooks/endpoints/{ep.id}/rotate-secret", data={"csrf": csrf})  # the default grace
    (new,) = re.findall(r'value="(whsec_[^"]+)"', page.text)
    assert "for 24.0 h" in page.text
    await c.post(f"/webhooks/endpoints/{ep.id}/test", data={"csrf": csrf})
    await drain(hub)
    last = receiver.on("/ok")[-1]
    standardwebhooks.Webhook(ep["secret"]).verify(last.body, last.headers)
    standardwebhooks.Webhook(new).verify(last.body, last.headers)


async def test_recover_sends_failed_deliveries_since_a_time_again(
    hub: hubwire.Hub, admin: tuple[httpx.AsyncClient, str], receiver: Receiver
) -> None:
    c, csrf = admin
    ep = await Integration.connect(provider="webhook", url=receiver.url("/fail"), events=["Deal.*"], max_attempts=1)
    await c.post(f"/webhooks/endpoints/{ep.id}/test", data={"csrf": csrf})
    await drain(hub)
    (dead,) = await list_deliveries(hub, endpoint_id=ep.id, status="dead")

    # Nothing failed after a minute from now.
    later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    r = await c.post(f"/webhooks/endpoints/{ep.id}/recover", data={"csrf": csrf, "since": later})
    assert r.status_code == 303 and r.headers["location"] == f"/webhooks?recovered=0&endpoint={ep.id}"

    # The form's datetime-local value (no zone: UTC), an hour ago.
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    r = await c.post(f"/webhooks/endpoints/{ep.id}/recover", data={"csrf": csrf, "since": since})
    assert r.status_code == 303 and r.headers["location"] == f"/webhooks?recovered=1&endpoint={ep.id}"
    shown = await c.get(r.headers["location"])
    assert "Sending 1 failed delivery of" in shown.text
    assert (await get_delivery(hub, dead.id)).status == "pending"
    await drain(hub)
    assert len(receiver.on("/fail")) == 2
    assert [r.headers["webhook-id"] for r in receiver.on("/fail")] == [dead.id, dead.id]


@pytest.mark.parametrize(
    ("path", "form", "code"),
    [
        ("recover", {"since": "yesterday"}, 422),
        ("recover", {"since": ""}, 422),
        ("rotate-secret", {"grace_hours": "-1"}, 422),
        ("rotate-secret", {"grace_hours": "nan"}, 422),
        ("rotate-secret", {"grace_hours": "100000"}, 422),
    ],
)
async def test_bad_input_is_a_readable_4xx_page_and_changes_nothing(
    hub: hubwire.Hub,
    admin: tuple[httpx.AsyncClient, str],
    receiver: Receiver,
    path: str,
    form: dict[str, str],
    code: int,
) -> None:
    c, csrf = admin
    ep = await Integration.connect(provider="webhook", url=receiver.url("/ok"), events=["Deal.*"])
    r = await c.post(f"/webhooks/endpoints/{ep.id}/{path}", data={"csrf": csrf, **form})
    assert r.status_code == code and 'role="alert"' in r.text and "whsec_" not in r.text
    await c.post(f"/webhooks/endpoints/{ep.id}/test", data={"csrf": csrf})
    await drain(hub)
    standardwebhooks.Webhook(ep["secret"]).verify(receiver.on("/ok")[-1].body, receiver.on("/ok")[-1].headers)


async def test_an_unknown_or_non_webhook_endpoint_is_a_4xx_page(admin: tuple[httpx.AsyncClient, str]) -> None:
    c, csrf = admin
    other = await Integration.create(name="Not a hook", provider="stripe")
    assert (await c.post("/webhooks/endpoints/integration_nope/rotate-secret", data={"csrf": csrf})).status_code == 404
    assert (await c.post(f"/webhooks/endpoints/{other.id}/rotate-secret", data={"csrf": csrf})).status_code == 422
    r = await c.post("/webhooks/endpoints/integration_nope/recover", data={"csrf": csrf, "since": "2026-01-01T00:00"})
    assert r.status_code == 409 and 'role="alert"' in r.text  # as the SDK and REST answer it
