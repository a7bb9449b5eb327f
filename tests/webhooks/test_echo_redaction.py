"""A receiver that echoes what it got: the endpoint's secrets never land in the attempts log or its routes."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from aiohttp import web

from hubwire import Integration, Worker
from hubwire.hub import Hub
from hubwire.store.tables import webhook_attempts
from hubwire.webhooks import list_attempts, list_deliveries
from hubwire.webhooks.signing import new_secret
from tests.api.conftest import rest_client
from tests.fakes import deal_noun

HEADER_KEY = "rcv_live_abcdef123456"
BEARER = "tok_abcdef987654321"


def spellings(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        quote(value, safe=""),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
    ]


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[str]]]:
    """A receiver on loopback answering 200 with every request header, and ``also``, in several encodings."""
    also: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        values = [*request.headers.values(), *also]
        return web.Response(text=json.dumps({"echo": [s for v in values for s in spellings(v)]}))

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/echo", also
    await runner.cleanup()


async def test_echoed_secrets_and_header_values_are_masked_when_stored_and_returned(
    whub: Hub, echo: tuple[str, list[str]]
) -> None:
    url, also = echo
    secret = new_secret()
    also.append(secret)  # a receiver that echoes its own copy of the signing secret
    ep = await Integration.connect(
        provider="webhook",
        url=url,
        events=["Deal.*"],
        secret=secret,
        headers={"X-Receiver-Key": HEADER_KEY, "Authorization": f"Bearer {BEARER}"},
    )
    await deal_noun().create(name="Acme")
    await Worker(whub, concurrency=2).drain()
    [delivery] = await list_deliveries(whub, endpoint_id=ep.id)
    assert delivery.status == "succeeded"
    forbidden = [s for v in (HEADER_KEY, BEARER, f"Bearer {BEARER}", secret) for s in spellings(v)]

    async with whub.read() as conn:
        stored = (await conn.execute(sa.select(webhook_attempts.c.response_body))).scalars().all()
    [attempt] = await list_attempts(whub, delivery.id)
    assert stored and attempt.response_body and "[REDACTED]" in attempt.response_body
    async with rest_client(whub) as c:
        one = (await c.get(f"/v1/webhooks/deliveries/{delivery.id}")).text
        listed = (await c.get(f"/v1/webhooks/deliveries/{delivery.id}/attempts")).text
    for text in (*stored, attempt.response_body, one, listed):
        leaked = [s for s in forbidden if s in text]
        assert leaked == [], leaked


async def test_a_body_stored_before_masking_is_masked_when_returned(whub: Hub, echo: tuple[str, list[str]]) -> None:
    url, _ = echo
    ep = await Integration.connect(provider="webhook", url=url, events=["Deal.*"], headers={"X-Key": HEADER_KEY})
    await deal_noun().create(name="Acme")
    await Worker(whub, concurrency=2).drain()
    [delivery] = await list_deliveries(whub, endpoint_id=ep.id)
    old = f"kept by an older version: {HEADER_KEY} {base64.b64encode(HEADER_KEY.encode()).decode()}"
    async with whub.transaction() as tx:
        await tx.conn.execute(webhook_attempts.update().values(response_body=old))
    [attempt] = await list_attempts(whub, delivery.id)
    assert attempt.response_body == "kept by an older version: [REDACTED] [REDACTED]"
