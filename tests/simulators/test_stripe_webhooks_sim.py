"""The Stripe simulator's webhook endpoints, driven by Stripe's official SDK, and the events it posts:
real shape (checked against Stripe's OpenAPI description), signed as Stripe signs (checked by the SDK's
own ``Webhook.construct_event`` and by Hubwire's verifier), in the background, retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from hubwire.inbound import WebhookRequest, verifier_for
from hubwire.simulators.stripe import StripeSimulator
from hubwire.simulators.stripe.spec import StripeSpecChecker

stripe = pytest.importorskip("stripe")


@dataclass
class Inbox:
    url: str = ""
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    gate: asyncio.Event | None = None  # set: answer; unset: hold every request


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    box = Inbox()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if box.gate is not None:
            await box.gate.wait()
        box.got.append((dict(request.headers), body))
        if box.fail_first > 0:
            box.fail_first -= 1
            return web.Response(status=500)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    box.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield box
    if box.gate is not None:
        box.gate.set()
    await runner.cleanup()


_http_clients: list[object] = []


@pytest.fixture(autouse=True)
async def _close_sdk_sessions() -> AsyncIterator[None]:
    yield
    while _http_clients:
        await _http_clients.pop().close_async()  # type: ignore[attr-defined]


def client(sim: StripeSimulator) -> object:
    http = stripe.AIOHTTPClient()
    _http_clients.append(http)
    return stripe.StripeClient(
        "sk_test_hubwire", base_addresses={"api": sim.url}, http_client=http, max_network_retries=0
    )


async def test_endpoints_crud_with_the_sdk_and_signed_events_of_the_real_shape(
    stripe_sim: StripeSimulator, stripe_spec: StripeSpecChecker, inbox: Inbox
) -> None:
    v1 = client(stripe_sim).v1  # type: ignore[attr-defined]
    endpoint = await v1.webhook_endpoints.create_async(
        params={"url": inbox.url, "enabled_events": ["customer.created", "customer.updated"], "description": "test"}
    )
    assert endpoint.id.startswith("we_") and endpoint.secret.startswith("whsec_") and endpoint.status == "enabled"
    listed = await v1.webhook_endpoints.list_async()
    assert [e.id for e in listed.data] == [endpoint.id] and "secret" not in listed.data[0]
    assert (await v1.webhook_endpoints.retrieve_async(endpoint.id)).url == inbox.url
    cus = await v1.customers.create_async(params={"email": "hook@example.com"})
    await v1.customers.update_async(cus.id, params={"name": "Hooked"})
    await v1.products.create_async(params={"name": "Not enabled"})  # product.created: not sent
    await stripe_sim.sender.idle()
    assert [json.loads(body)["type"] for _, body in inbox.got] == ["customer.created", "customer.updated"]
    for headers, body in inbox.got:
        event = stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], endpoint.secret)
        assert event.object == "event" and event.id.startswith("evt_") and event.data.object.id == cus.id
        request = WebhookRequest(body, headers, url=inbox.url)
        assert verifier_for("stripe").verify(request, endpoint.secret) == event.id
        assert stripe_spec.doc.errors("/components/schemas/event", json.loads(body)) == []
    updated = json.loads(inbox.got[1][1])
    assert updated["data"]["previous_attributes"] == {"name": None} and updated["data"]["object"]["name"] == "Hooked"
    # Disabled, then deleted: nothing more is sent.
    await v1.webhook_endpoints.update_async(endpoint.id, params={"disabled": True})
    await v1.customers.update_async(cus.id, params={"name": "Quiet"})
    deleted = await v1.webhook_endpoints.delete_async(endpoint.id)
    assert deleted.deleted is True and stripe_sim.webhooks.endpoints == {}
    await stripe_sim.sender.idle()
    assert len(inbox.got) == 2
    for r in stripe_sim.requests_to("POST", "/v1/webhook_endpoints"):
        assert r.path.startswith("/v1/webhook_endpoints")  # every request checked against the spec (fixture)


async def test_a_slow_receiver_never_holds_the_api_answer_and_failures_are_retried(
    stripe_sim: StripeSimulator, inbox: Inbox
) -> None:
    v1 = client(stripe_sim).v1  # type: ignore[attr-defined]
    endpoint = await v1.webhook_endpoints.create_async(params={"url": inbox.url, "enabled_events": ["*"]})
    inbox.gate = asyncio.Event()  # the receiver holds every request until the gate opens
    cus = await v1.customers.create_async(params={"email": "slow@example.com"})
    assert cus.id.startswith("cus_") and inbox.got == []  # answered while the webhook is still held
    inbox.fail_first = 2
    inbox.gate.set()
    await stripe_sim.sender.idle()
    (sent,) = stripe_sim.sender.sent
    assert sent.delivered and sent.attempts == 3 and sent.status == 200
    assert len(inbox.got) == 3 and len({json.loads(b)["id"] for _, b in inbox.got}) == 1  # one event, three tries
    for headers, body in inbox.got:
        stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], endpoint.secret)
