"""A loopback receiver of provider webhooks for the connector tests, standing in for the ingest route.

It records what a simulator posts to ``{base}/v1/hooks/{integration id}`` and, like the ingest
would, verifies each request with the provider's scheme (:func:`hubwire.inbound.verifier_for`)
against the secrets the connect stored, then hands it to the provider's ``on_webhook`` as a
:class:`~hubwire.inbound.received.ReceivedHook`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hubwire.connectors.registry import ProviderContext
from hubwire.domains.platform import Integration
from hubwire.hub import Hub
from hubwire.inbound import WebhookRequest, verifier_for
from hubwire.inbound.received import ApplyOutcome, ReceivedHook, webhook_secrets
from hubwire.vault.credentials import load_credentials

__all__ = ["Delivery", "HookReceiver", "hook_receiver"]

_SIGNATURES = ("stripe-signature", "x-hub-signature-256", "x-hub-signature")


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HookReceiver:
    base: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    applied: int = 0  # deliveries handed to on_webhook so far

    def url(self, integration_id: str) -> str:
        return f"{self.base}/v1/hooks/{integration_id}"

    def to(self, integration_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == f"/v1/hooks/{integration_id}"]

    async def verified(self, hub: Hub, integration_id: str, delivery: Delivery) -> ReceivedHook:
        """``delivery`` checked as the ingest checks it, as the inbox would hold it."""
        integ = await Integration.get(integration_id)
        provider = hub.providers.get(integ["provider"])
        assert provider.webhook_scheme is not None
        secrets = webhook_secrets(await load_credentials(hub, integration_id))
        request = WebhookRequest(delivery.body, delivery.headers, url=self.url(integration_id))
        event_id = verifier_for(provider.webhook_scheme).verify(request, secrets)
        payload = json.loads(delivery.body)
        headers = {k: v for k, v in delivery.headers.items() if k not in _SIGNATURES}
        return ReceivedHook(
            id=f"hook_{len(self.deliveries)}",
            integration_id=integration_id,
            provider=provider.slug,
            event_id=event_id,
            event_type=provider.webhook_event_type(headers, payload),
            payload=payload,
            headers=headers,
            received_at=time.time(),
        )

    async def apply(self, hub: Hub, integration_id: str, delivery: Delivery) -> ApplyOutcome:
        hook = await self.verified(hub, integration_id, delivery)
        integ = await Integration.get(integration_id)
        provider = hub.providers.get(integ["provider"])
        creds = await load_credentials(hub, integration_id)
        ctx = ProviderContext(hub, provider, integ, creds, dict(integ.get("config") or {}))
        return await provider.on_webhook(ctx, hook)

    async def apply_new(self, hub: Hub, integration_id: str) -> list[ApplyOutcome]:
        """Apply, in arrival order, what arrived for ``integration_id`` since the last call."""
        mine = self.to(integration_id)
        out = [await self.apply(hub, integration_id, d) for d in mine[self.applied :]]
        self.applied = len(mine)
        return out


@asynccontextmanager
async def hook_receiver() -> AsyncIterator[HookReceiver]:
    rec = HookReceiver()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        rec.deliveries.append(Delivery(request.path, {k.lower(): v for k, v in request.headers.items()}, body))
        return web.Response(status=200, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield rec
    finally:
        await runner.cleanup()
