"""SendGrid: mail through the v3 Mail Send API (``EmailMessage``; events routed as mails too).

    await Integration.connect(provider="sendgrid", api_key="SG....", from_email="shop@example.com")
    await EmailMessage.send(to="ada@example.com", subject="Welcome", html="<p>Hi</p>")

``POST /v3/mail/send`` with the key as ``Authorization: Bearer``; SendGrid accepts with a 202 and
the ``X-Message-Id`` kept as the message's provider id. A routing rule mails ``to`` (its config)
with ``subject`` (default: the event's name); its template renders HTML, values HTML-escaped.
401, 403, 400 and 413 are final, 429 (``Retry-After``) and 5xx retried. SendGrid has no key check
that sends nothing with only the mail-send scope: the key is checked by the first mail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hubwire.connectors.messaging.base import MessagingProvider, Outgoing, answer_json, register_destination
from hubwire.connectors.messaging.messages import required
from hubwire.connectors.registry import ProviderContext, provider
from hubwire.errors import FieldError
from hubwire.net.ssrf import check_url
from hubwire.webhooks.destinations import Sent

if TYPE_CHECKING:
    from hubwire.webhooks.delivery import Deliverer
    from hubwire.webhooks.endpoints import Endpoint

__all__ = ["SendGridProvider"]


@register_destination
@provider
class SendGridProvider(MessagingProvider):
    slug = "sendgrid"
    name = "SendGrid"
    description = "Mail through SendGrid's v3 Mail Send API (EmailMessage.send)."
    provider_url = "https://sendgrid.com"
    api_base_url = "https://api.sendgrid.com"
    escaping = "html"
    sends = "EmailMessage"
    credential_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    required_credentials: ClassVar[tuple[str, ...]] = ("api_key",)
    config_fields: ClassVar[tuple[str, ...]] = ("from_email", "from_name", "to", "subject")

    def validate(self, creds: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        errors = required(config, "from_email")
        if config.get("events") and not config.get("to"):
            errors.append(FieldError("to", "required", "a SendGrid routing rule needs to= (who gets the mails)"))
        return errors

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        await check_url(ctx.base_url, ctx.policy, field="api_base_url")
        return None

    def check_message(self, noun: str, fields: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        errors = required(fields, "to", "subject")
        if not fields.get("html") and not fields.get("text"):
            errors.append(FieldError("html", "required", "a mail needs html or text"))
        return errors

    async def transmit(self, deliverer: Deliverer, endpoint: Endpoint, delivery_id: str, out: Outgoing) -> Sent:
        sender: dict[str, str] = {"email": str(endpoint.config.get("from_email"))}
        if endpoint.config.get("from_name"):
            sender["name"] = str(endpoint.config["from_name"])
        routed = out.html is None and out.text is not None and endpoint.config.get("template") is not None
        html = out.text if routed else out.html
        text = None if routed else out.text
        content = [
            c for c in ({"type": "text/plain", "value": text}, {"type": "text/html", "value": html}) if c["value"]
        ]
        if not content:  # a routed event without template: the default text, as plain text
            content = [{"type": "text/plain", "value": out.text or ""}]
        body = {
            # The delivery id comes back in SendGrid's event webhooks: the same across retries.
            "personalizations": [{"to": [{"email": str(out.to)}], "custom_args": {"hubwire_delivery": delivery_id}}],
            "from": sender,
            "subject": out.subject or "Hubwire",
            "content": content,
        }
        base = (endpoint.api_base_url or self.api_base_url or "").rstrip("/")
        key = str(endpoint.credentials.get("api_key") or "")
        code, said, error, headers = await deliverer.request(
            endpoint,
            f"{base}/v3/mail/send",
            json.dumps(body).encode(),
            {"content-type": "application/json", "authorization": f"Bearer {key}"},
        )
        if error is not None or code is None:
            return Sent(code, said, error, headers)
        if 200 <= code < 300:
            return Sent(code, said, provider_id=headers.get("X-Message-Id") if headers is not None else None)
        answer = answer_json(said)
        errors = answer.get("errors") if isinstance(answer, Mapping) else None
        first = (
            errors[0].get("message") if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else None
        )
        return Sent(
            code,
            said,
            f"SendGrid refused ({code}): {first or 'no reason given'}",
            headers,
            permanent=code in (400, 401, 403, 413),
        )
