"""Fixtures of the inbound tests: a provider taking GitHub-signed webhooks whose ``on_webhook``
writes a Ticket through the verb pipeline, a hub with a public URL, and its app served on loopback.

``HookyProvider.on_webhook`` reads the payload's ``action``: ``ignore`` is ignored, ``refuse`` fails
(not retryable), ``flaky`` fails with a retryable outage while ``outages`` is above zero (each call
takes one), anything else creates a Ticket titled by ``title`` (the provider's event id as ``ref``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

import hubwire
from hubwire import Entity, Integration
from hubwire.api.app import create_app
from hubwire.connectors.registry import Provider, ProviderContext, ProviderRegistry
from hubwire.errors import ProviderUnavailable, ValidationError
from hubwire.hub import Hub
from hubwire.inbound.received import ApplyOutcome, ReceivedHook
from tests.api.conftest import serve
from tests.conftest import make_hub

PUBLIC_URL = "https://hub.example.com"
HOOK_SECRET = "gh-hook-secret-4Kq9ZxL2"


def ticket_noun() -> hubwire.Noun:
    return hubwire.Noun("Ticket", {"title": "string!", "ref": "string##"})


class HookyProvider(Provider):
    slug = "hooky"
    name = "Hooky"
    webhook_support = True
    webhook_scheme = "github"
    credential_fields = ("webhook_secret", "previous_webhook_secrets")

    def __init__(self) -> None:
        self.outages = 0
        self.seen: list[ReceivedHook] = []

    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        event = headers.get("x-github-event")
        action = payload.get("action") if isinstance(payload, dict) else None
        return f"{event}.{action}" if event and action else event

    async def on_webhook(self, ctx: ProviderContext, hook: ReceivedHook) -> ApplyOutcome:
        self.seen.append(hook)
        action = hook.payload.get("action")
        if action == "ignore":
            return "ignored"
        if action == "refuse":
            raise ValidationError.single("title", "required", "Hooky sent an issue without a title")
        if action == "flaky" and self.outages > 0:
            self.outages -= 1
            raise ProviderUnavailable("Hooky is down for maintenance", provider=self.slug)
        await hubwire.Noun.registry["Ticket"].create(title=hook.payload["title"], ref=hook.event_id)
        return "applied"


@pytest.fixture
def hooky(providers: ProviderRegistry) -> HookyProvider:
    p = HookyProvider()
    providers.register(p)
    return p


@pytest.fixture
def ticket() -> hubwire.Noun:
    return ticket_noun()


@pytest.fixture
async def ihub(db_url: str, tmp_path: Path, providers: ProviderRegistry, hooky: HookyProvider) -> AsyncIterator[Hub]:
    """A hub whose public URL is ``PUBLIC_URL`` (as behind a reverse proxy), on SQLite and PostgreSQL."""
    async with make_hub(db_url, tmp_path, providers, public_url=PUBLIC_URL) as h:
        yield h


@pytest.fixture
async def served(ihub: Hub, ticket: hubwire.Noun) -> AsyncIterator[httpx.AsyncClient]:
    """The hub's app under uvicorn on 127.0.0.1, and a client of it (no API key)."""
    async with serve(create_app(ihub)) as base, httpx.AsyncClient(base_url=base) as client:
        yield client


@pytest.fixture
async def connected(ihub: Hub, hooky: HookyProvider) -> Entity:
    return await Integration.connect(provider="hooky", webhook_secret=HOOK_SECRET)


def github_signed(
    payload: Mapping[str, Any], delivery: str | None, *, secret: str = HOOK_SECRET, event: str = "issues"
) -> tuple[bytes, dict[str, str]]:
    """A body and headers as GitHub sends them (signed per GitHub's docs, with hmac)."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return body, headers
