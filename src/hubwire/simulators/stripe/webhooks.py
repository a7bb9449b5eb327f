"""The simulated account's webhook endpoints (``/v1/webhook_endpoints``) and the events they receive.

Owns the endpoints (``we_...``, with ``url``, ``enabled_events`` and a ``whsec_...`` secret returned
only by the create, as Stripe does) and the delivery of every event the account records to each
enabled endpoint whose ``enabled_events`` has its type (or ``*``): the event object as
``/v1/events`` serves it, signed ``Stripe-Signature: t=<seconds>,v1=<HMAC-SHA256 of "t.body">`` with
the endpoint's secret, sent in the background by a :class:`~hubwire.simulators.webhook_sender.WebhookSender`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from hubwire.simulators.stripe.objects import StripeError, Templates, missing, new_id, required
from hubwire.simulators.webhook_sender import WebhookSender

__all__ = ["StripeWebhookEndpoints", "stripe_signature"]


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header of ``body`` sent at ``timestamp`` (the secret is the HMAC key as text)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class StripeWebhookEndpoints:
    """The endpoints of one simulated account, and what they are sent."""

    def __init__(self, templates: Templates, sender: WebhookSender, now: Callable[[], float] = time.time) -> None:
        self.templates, self.sender, self.now = templates, sender, now
        self.endpoints: dict[str, dict[str, Any]] = {}
        self._secrets: dict[str, str] = {}

    # -- the API --------------------------------------------------------------------------------

    def route(self, method: str, ident: str | None, params: dict[str, Any]) -> Any:
        if ident is None and method == "GET":
            data = sorted(self.endpoints.values(), key=lambda e: e["created"], reverse=True)
            return {"object": "list", "data": data, "has_more": False, "url": "/v1/webhook_endpoints"}
        if ident is None and method == "POST":
            return self.create(params)
        if ident is not None and method == "GET":
            return self._get(ident)
        if ident is not None and method == "POST":
            return self.update(ident, params)
        if ident is not None and method == "DELETE":
            self._get(ident)
            del self.endpoints[ident]
            self._secrets.pop(ident, None)
            return {"id": ident, "object": "webhook_endpoint", "deleted": True}
        raise StripeError(404, f"Unrecognized request URL ({method}: /v1/webhook_endpoints).")

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        for name in ("url", "enabled_events"):
            if not params.get(name):
                raise required(name)
        endpoint = self.templates.clone("webhook_endpoint")
        ident = new_id("we")
        endpoint.update(
            id=ident,
            created=int(self.now()),
            url=str(params["url"]),
            enabled_events=_events(params["enabled_events"]),
            description=params.get("description"),
            metadata=params.get("metadata") or {},
            status="enabled",
            api_version=params.get("api_version"),
        )
        endpoint.pop("secret", None)
        self.endpoints[ident] = endpoint
        secret = self._secrets[ident] = "whsec_" + secrets.token_hex(24)
        return {**endpoint, "secret": secret}

    def update(self, ident: str, params: dict[str, Any]) -> dict[str, Any]:
        endpoint = self._get(ident)
        if "url" in params:
            endpoint["url"] = str(params["url"])
        if "enabled_events" in params:
            endpoint["enabled_events"] = _events(params["enabled_events"])
        if "disabled" in params:
            endpoint["status"] = "disabled" if params["disabled"] in (True, "true") else "enabled"
        for key in ("description", "metadata"):
            if key in params:
                endpoint[key] = params[key]
        return endpoint

    def _get(self, ident: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(ident)
        if endpoint is None:
            raise missing("webhook_endpoint", ident)
        return endpoint

    def secret(self, ident: str) -> str:
        """An endpoint's signing secret (for tests; the API shows it only once)."""
        return self._secrets[ident]

    # -- delivery -------------------------------------------------------------------------------

    def deliver(self, event: dict[str, Any]) -> int:
        """Send ``event`` to every enabled endpoint that takes its type; return how many."""
        targets = [
            e
            for e in self.endpoints.values()
            if e["status"] == "enabled" and ("*" in e["enabled_events"] or event["type"] in e["enabled_events"])
        ]
        event["pending_webhooks"] = len(targets)
        body = json.dumps(event).encode()
        for endpoint in targets:
            secret = self._secrets[endpoint["id"]]

            def sign(raw: bytes, secret: str = secret) -> dict[str, str]:
                return {
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": stripe_signature(secret, raw, int(time.time())),
                }

            self.sender.send(endpoint["url"], body, sign)
        return len(targets)


def _events(value: Any) -> list[str]:
    events = [value] if isinstance(value, str) else [str(v) for v in value]
    if not events:
        raise required("enabled_events")
    return events
