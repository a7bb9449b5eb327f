"""Microsoft Teams: an incoming webhook (or a Workflows webhook) posting Adaptive Cards.

    await Integration.connect(provider="teams", webhook="https://x.webhook.office.com/webhookb2/...")

The URL is a secret (stored encrypted), checked by the SSRF guard at connect. A message is one
Adaptive Card (1.4: a wrapped ``TextBlock``, subtle title line when an event is routed) in Teams'
``{"type": "message", "attachments": [...]}`` envelope. Teams answers 200 (``1``) or 202
(Workflows); 400, 404 and 413 cannot be fixed by retrying, 429 and 5xx are retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hubwire.connectors.messaging.base import MessagingProvider, Outgoing, register_destination
from hubwire.connectors.registry import ProviderContext, provider
from hubwire.errors import FieldError, ValidationError
from hubwire.net.ssrf import check_url, normalize_url
from hubwire.webhooks.destinations import Sent

if TYPE_CHECKING:
    from hubwire.webhooks.delivery import Deliverer
    from hubwire.webhooks.endpoints import Endpoint

__all__ = ["TeamsProvider", "adaptive_card"]

CARD = "application/vnd.microsoft.card.adaptive"


def adaptive_card(text: str, title: str | None = None) -> dict[str, Any]:
    """Teams' message envelope around one Adaptive Card showing ``text`` (Teams markdown)."""
    body: list[dict[str, Any]] = []
    if title:
        body.append({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True})
    body.append({"type": "TextBlock", "text": text, "wrap": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {"type": "message", "attachments": [{"contentType": CARD, "content": card}]}


@register_destination
@provider
class TeamsProvider(MessagingProvider):
    slug = "teams"
    name = "Microsoft Teams"
    description = "Adaptive Card messages to a Teams channel through an incoming webhook."
    provider_url = "https://www.microsoft.com/microsoft-teams"
    auth_type = "Custom"
    default_rate_limit = 4.0
    credential_fields: ClassVar[tuple[str, ...]] = ("webhook",)
    required_credentials: ClassVar[tuple[str, ...]] = ("webhook",)
    config_fields: ClassVar[tuple[str, ...]] = ()

    def validate(self, creds: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        try:
            normalize_url(str(creds.get("webhook") or ""))
        except ValidationError as exc:
            return [FieldError("webhook", e.code, e.message) for e in exc.errors]
        return []

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        await check_url(str(ctx.credentials["webhook"]), ctx.policy, field="webhook")
        return None

    def check_message(self, noun: str, fields: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        return [] if fields.get("text") else [FieldError("text", "required", "a Teams message needs text")]

    async def transmit(self, deliverer: Deliverer, endpoint: Endpoint, delivery_id: str, out: Outgoing) -> Sent:
        body = json.dumps(adaptive_card(out.text or "")).encode()
        code, text, error, headers = await deliverer.request(
            endpoint, str(endpoint.credentials.get("webhook")), body, {"content-type": "application/json"}
        )
        if error is not None or code is None:
            return Sent(code, text, error, headers)
        if 200 <= code < 300:
            return Sent(code, text)
        return Sent(
            code,
            text,
            f"Teams refused ({code}): {(text or '').strip()[:200]}",
            headers,
            permanent=code in (400, 401, 403, 404, 413),
        )
