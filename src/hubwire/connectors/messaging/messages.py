"""The ``Message`` and ``EmailMessage`` Nouns: one message each, sent through a messaging Integration.

    await Message.send(via="slack", channel="#orders", text="*New order*", blocks=[...])
    await EmailMessage.send(to="ada@example.com", subject="Welcome", html="<p>Hi</p>")

``send`` checks what the provider needs (a channel for a bot token, a number for Twilio...),
then creates the entity with status ``Queued``: ``Message.Created`` is addressed to the Integration
(its ``integration`` field), so the event's transaction also holds its delivery (a row of the
webhooks delivery log and its job). A worker sends it, retrying 5xx and 429 (``Retry-After``
honoured), and writes the outcome back: ``Sent`` with ``provider_message_id`` (Slack's ``ts``,
SendGrid's ``X-Message-Id``, Twilio's ``SM...`` sid), or ``Failed`` with ``error`` once the
delivery is dead (visible in ``hubwire webhooks deliveries`` and, as a dead job, ``hubwire jobs``;
``hubwire webhooks resend`` sends it again). Twilio's status callbacks then move an SMS to
``Delivered``, ``Undelivered`` or ``Failed``; a status never moves back (callbacks arrive in any order).

``via`` is a provider (``"slack"``: its Integration connected without ``events``, or the only
active one) or an Integration id.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from hubwire.errors import ConflictError, FieldError, NotFoundError, ValidationError
from hubwire.hub import current_hub
from hubwire.nouns import verbs
from hubwire.nouns.entity import Entity
from hubwire.nouns.noun import Noun

if TYPE_CHECKING:
    from hubwire.connectors.messaging.base import MessagingProvider
    from hubwire.hub import Hub
    from hubwire.webhooks.destinations import Sent

__all__ = ["STATUS_RANK", "EmailMessage", "Message", "MessageNoun", "advance", "record_outcome"]

STATUSES = "Queued | Sent | Delivered | Undelivered | Failed"
# A status only moves forward: a late "sent" callback never undoes "delivered".
STATUS_RANK = {"Queued": 0, "Sent": 1, "Delivered": 2, "Undelivered": 2, "Failed": 2}
_COMMON = {
    "via": "string!",
    "integration": "string#",
    "status": STATUSES,
    "providerMessageId": "string#",
    "error": "string",
}


_sending: ContextVar[bool] = ContextVar("hubwire_message_sending", default=False)


class MessageNoun(Noun):
    """A Noun whose entities are sent by a messaging provider (``send``), and made only by sending."""

    # What the delivery writes: not set by a REST update (hubwire.api.routes.nouns.read_only_fields).
    readonly_fields = ("via", "integration", "status", "provider_message_id", "error")
    # Methods the CLI runs as verbs (``hubwire Message.send --via slack --text hi``).
    methods = ("send",)

    async def send(self, *, via: str | None = None, **fields: Any) -> Entity:
        """Queue one message through ``via`` (a provider or an Integration id); returns it, ``Queued``."""
        hub = await current_hub()
        await self.ensure_indexes(hub)
        via = via or self.default_via
        if not via:
            raise ValidationError.single("via", "required", f"{self.name}.send needs via= (a provider or integration)")
        integration, prov = await _resolve(hub, via, self.name)
        data = dict(fields)
        errors = prov.check_message(self.name, data, integration.get("config") or {})
        if errors:
            raise ValidationError(
                f"cannot send {self.name} via {via}: " + "; ".join(e.message for e in errors),
                errors,
                provider=prov.slug,
            )
        data.update(via=via, integration=integration.id, status="Queued", provider_message_id=None, error=None)
        token = _sending.set(True)
        try:
            return await verbs.run(self, ["create"], None, data)
        finally:
            _sending.reset(token)

    default_via: str | None = None


async def _resolve(hub: Hub, via: str, noun: str) -> tuple[Entity, MessagingProvider]:
    """The active messaging Integration ``via`` names, and its provider; a 422 saying why not."""
    from hubwire.connectors.messaging.base import MessagingProvider
    from hubwire.domains.platform import ACTIVE, Integration

    if via.startswith("integration_"):
        try:
            found = [await Integration.get(via)]
        except NotFoundError:
            found = []
    else:
        found = [
            i
            for i in await Integration.find({"provider": via, "status": {"$in": list(ACTIVE)}}, limit=100)
            if i.get("status") in ACTIVE
        ]
        named = [i for i in found if i.get("slug") == via]
        found = named or found
    if not found:
        raise ValidationError.single("via", "not_connected", f"no connected messaging integration {via!r}")
    if len(found) > 1:
        ids = ", ".join(i.id for i in found[:5])
        raise ValidationError.single(
            "via", "ambiguous", f"{len(found)} {via} integrations are connected ({ids}): pass via=<integration id>"
        )
    integration = found[0]
    prov = hub.providers.get(integration["provider"]) if integration["provider"] in hub.providers else None
    if not isinstance(prov, MessagingProvider):
        raise ValidationError.single("via", "not_messaging", f"{integration.id} is not a messaging integration")
    if prov.sends != noun:
        raise ValidationError.single(
            "via", "wrong_kind", f"{prov.name} sends {prov.sends} entities, not {noun}: use {prov.sends}.send"
        )
    if integration.get("status") not in ACTIVE:
        raise ValidationError.single("via", "not_connected", f"{integration.id} is {integration.get('status')}")
    return integration, prov


Message = MessageNoun(
    "Message",
    {**_COMMON, "channel": "string", "to": "string", "text": "string", "blocks": "json"},
    description="A chat message or SMS sent through Slack, Teams or Twilio (Message.send).",
)
EmailMessage = MessageNoun(
    "EmailMessage",
    {**_COMMON, "to": "string!", "subject": "string!", "html": "string", "text": "string"},
    description="A mail sent through SendGrid (EmailMessage.send).",
)
EmailMessage.default_via = "sendgrid"


def _made_by_send(entity: Entity) -> None:
    """A message exists to be sent: a bare create (REST ``POST /v1/messages``) is refused."""
    if not _sending.get():
        name = entity.get("$type") or "Message"
        raise ValidationError.single(
            "$type", "use_send", f"a {name} is made by sending it: {name}.send(via=..., ...) or POST .../send"
        )


for _noun in (Message, EmailMessage):
    _noun.before("create", _made_by_send)


def noun_of(name: str) -> MessageNoun:
    return EmailMessage if name == "EmailMessage" else Message


async def advance(hub: Hub, noun: str, message_id: str, status: str, **changes: Any) -> Entity | None:
    """Move a message forward to ``status`` with ``changes``; None when it is gone or already past it."""
    target = noun_of(noun)
    token = hub.activate()
    try:
        for _ in range(3):
            try:
                current = await target.get(message_id)
            except NotFoundError:
                return None
            if STATUS_RANK.get(str(current.get("status")), 0) >= STATUS_RANK[status]:
                return None
            try:
                return await target.update(message_id, {"status": status, **changes}, version=current.version)
            except ConflictError:
                continue  # a callback and the delivery's outcome raced: read again
        return None
    finally:
        token.var.reset(token)


async def record_outcome(hub: Hub, noun: str, message_id: str, sent: Sent | None, error: str | None) -> None:
    """A finished delivery of a message: ``Sent`` with the provider's id, or ``Failed`` with the error."""
    if error is None and sent is not None:
        await advance(hub, noun, message_id, "Sent", provider_message_id=sent.provider_id, error=None)
    else:
        await advance(hub, noun, message_id, "Failed", error=error or "not sent")


def required(fields: Mapping[str, Any], *names: str) -> list[FieldError]:
    return [FieldError(n, "required", f"{n} is required") for n in names if not fields.get(n)]
