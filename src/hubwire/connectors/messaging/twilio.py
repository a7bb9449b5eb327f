"""Twilio: SMS through the Messages API, and its status callbacks.

    await Integration.connect(provider="twilio", account_sid="AC...", auth_token="...", from_number="+15005550006")
    await Message.send(via="twilio", to="+14155550100", text="Your order shipped")

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, a form (``To``, ``From`` or
``MessagingServiceSid``, ``Body``, ``StatusCallback``), HTTP Basic auth with the Account SID and
auth token (checked at connect by listing one message). The ``SM...`` sid is the message's provider
id. Twilio's errors are ``{"code", "message"}``: 401 and 400 (a bad number, no body) are final,
429 and 5xx retried.

With ``HUBWIRE_PUBLIC_URL`` set, each SMS asks Twilio to post its status to the Integration's
hook URL (``/v1/hooks/{id}``); the inbound route verifies ``X-Twilio-Signature`` with the auth token
(kept as the Integration's ``webhook_secret``), and :meth:`TwilioProvider.on_webhook` moves the
Message to ``Sent``, ``Delivered``, ``Undelivered`` or ``Failed`` (never backwards).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlencode

from hubwire.connectors.messaging.base import MessagingProvider, Outgoing, answer_json, register_destination
from hubwire.connectors.messaging.messages import Message, advance, required
from hubwire.connectors.registry import ProviderContext, WebhookRegistration, provider
from hubwire.errors import FieldError, ProviderAuthError
from hubwire.net.http import http_client
from hubwire.net.ssrf import check_url
from hubwire.webhooks.destinations import Sent

if TYPE_CHECKING:
    from hubwire.inbound.received import ApplyOutcome, ReceivedHook
    from hubwire.webhooks.delivery import Deliverer
    from hubwire.webhooks.endpoints import Endpoint

__all__ = ["STATUSES", "TwilioProvider"]

API = "/2010-04-01"
_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")
# Twilio's MessageStatus -> the Message's status (accepted/queued/sending say nothing new).
STATUSES = {
    "sent": "Sent",
    "delivered": "Delivered",
    "undelivered": "Undelivered",
    "failed": "Failed",
    "read": "Delivered",
}


def _basic(sid: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


def _first(value: Any) -> str | None:
    """A form value as the inbox holds it (a string, or a list of them)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


@register_destination
@provider
class TwilioProvider(MessagingProvider):
    slug = "twilio"
    name = "Twilio"
    description = "SMS through Twilio's Messages API, with signed status callbacks."
    provider_url = "https://www.twilio.com"
    api_base_url = "https://api.twilio.com"
    auth_type = "Basic"
    webhook_scheme = "twilio"
    credential_fields: ClassVar[tuple[str, ...]] = ("auth_token",)
    required_credentials: ClassVar[tuple[str, ...]] = ("auth_token",)
    config_fields: ClassVar[tuple[str, ...]] = ("account_sid", "from_number", "messaging_service_sid", "to")

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        # Twilio signs its callbacks with the auth token: it is what the inbound route verifies with.
        creds["webhook_secret"] = creds["auth_token"]
        return creds, config

    def validate(self, creds: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        errors = required(config, "account_sid")
        if config.get("account_sid") and not _SID.match(str(config["account_sid"])):
            errors.append(FieldError("account_sid", "invalid", "account_sid is AC followed by 32 hex digits"))
        if not config.get("from_number") and not config.get("messaging_service_sid"):
            errors.append(FieldError("from_number", "required", "twilio needs from_number= or messaging_service_sid="))
        if config.get("events") and not config.get("to"):
            errors.append(FieldError("to", "required", "a Twilio routing rule needs to= (the number to text)"))
        return errors

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        await check_url(ctx.base_url, ctx.policy, field="api_base_url")
        sid, token = str(ctx.config["account_sid"]), str(ctx.credentials["auth_token"])
        await http_client(ctx.hub).request(
            "GET",
            f"{ctx.base_url}{API}/Accounts/{quote(sid)}/Messages.json",
            params={"PageSize": "1"},
            headers={"Authorization": _basic(sid, token)},
            secrets=(token, _basic(sid, token)),
            provider=self.slug,
        )
        return None

    async def register_webhook(self, ctx: ProviderContext, url: str) -> WebhookRegistration | None:
        # Nothing to register: each SMS names its StatusCallback. The auth token signs the callbacks.
        return WebhookRegistration(secret=str(ctx.credentials["auth_token"]), note="status callbacks")

    def check_message(self, noun: str, fields: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        errors = required(fields, "text")
        to = fields.get("to") or config.get("to")
        if not to or not _E164.match(str(to)):
            errors.append(FieldError("to", "invalid", "to must be a phone number in E.164 form (+14155550100)"))
        return errors

    async def transmit(self, deliverer: Deliverer, endpoint: Endpoint, delivery_id: str, out: Outgoing) -> Sent:
        sid = str(endpoint.config.get("account_sid"))
        token = str(endpoint.credentials.get("auth_token") or "")
        form = {"To": str(out.to or ""), "Body": out.text or ""}
        if endpoint.config.get("messaging_service_sid"):
            form["MessagingServiceSid"] = str(endpoint.config["messaging_service_sid"])
        else:
            form["From"] = str(endpoint.config.get("from_number"))
        callback = deliverer.hub.settings.hook_url(endpoint.id)
        if callback:
            form["StatusCallback"] = callback
        base = (endpoint.api_base_url or self.api_base_url or "").rstrip("/")
        code, said, error, headers = await deliverer.request(
            endpoint,
            f"{base}{API}/Accounts/{quote(sid)}/Messages.json",
            urlencode(form).encode(),
            {"content-type": "application/x-www-form-urlencoded", "authorization": _basic(sid, token)},
        )
        if error is not None or code is None:
            return Sent(code, said, error, headers)
        answer = answer_json(said)
        if 200 <= code < 300 and isinstance(answer, Mapping):
            return Sent(code, said, provider_id=str(answer.get("sid") or "") or None)
        what = f"{answer.get('code')}: {answer.get('message')}" if isinstance(answer, Mapping) else f"HTTP {code}"
        return Sent(code, said, f"Twilio refused ({code}) {what}", headers, permanent=code in (400, 401, 403, 404))

    # status callbacks -------------------------------------------------------------------
    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        status = _first(payload.get("MessageStatus")) if isinstance(payload, Mapping) else None
        return f"message.{status}" if status else None

    async def on_webhook(self, ctx: ProviderContext, hook: ReceivedHook) -> ApplyOutcome:
        """A verified status callback: move the Message it names forward (never back)."""
        payload = hook.payload if isinstance(hook.payload, Mapping) else {}
        sid, status = _first(payload.get("MessageSid")), _first(payload.get("MessageStatus"))
        if str(ctx.config.get("account_sid")) != _first(payload.get("AccountSid")):
            raise ProviderAuthError("status callback for another Twilio account", provider=self.slug)
        target = STATUSES.get(status or "")
        if not sid or target is None:
            return "ignored"
        found = await Message.find({"provider_message_id": sid}, limit=1)
        if not found:
            return "ignored"
        code = _first(payload.get("ErrorCode"))
        changes: dict[str, Any] = {"error": f"Twilio error {code}"} if code and target != "Sent" else {}
        moved = await advance(ctx.hub, "Message", found[0].id, target, **changes)
        return "applied" if moved is not None else "ignored"
