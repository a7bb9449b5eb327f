"""What every messaging provider shares: routing rules (``events`` + ``template``), the message a
delivery sends, and what a finished delivery records on the ``Message`` it came from.

A messaging Integration is a delivery destination (:mod:`hubwire.webhooks.destinations`): its
deliveries are rows of the webhooks delivery log, retried, dead-lettered, resent and limited like
a webhook endpoint's (the same ``max_attempts``, ``schedule``, ``rate_limit``... connect keywords).
It gets two kinds of events:

- those its ``events`` filters select (a routing rule), rendered by its ``template`` or, without
  one, as :func:`~hubwire.connectors.messaging.templates.default_text`; its own Nouns' events
  (``Message.*``, ``EmailMessage.*``) are never routed, as delivering one updates it;
- ``Message.Created`` / ``EmailMessage.Created`` addressed to it (``Message.send(via=...)``), sent
  as the entity says, and the outcome written back on the entity (status, provider id, error).

Connected without ``events`` an Integration only sends messages, and is the one ``via="slack"``
names (its slug is the provider's); each routing rule is an Integration of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from hubwire.connectors.messaging import templates
from hubwire.connectors.messaging.templates import Escape, RenderError
from hubwire.connectors.registry import Provider
from hubwire.errors import FieldError, ValidationError
from hubwire.webhooks import destinations
from hubwire.webhooks.destinations import Sent
from hubwire.webhooks.endpoints import parse_policy
from hubwire.webhooks.subscriptions import check_events, from_text

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.entity import Entity
    from hubwire.webhooks.delivery import Deliverer
    from hubwire.webhooks.endpoints import Endpoint

__all__ = ["ADDRESSED", "POLICY_FIELDS", "MessagingProvider", "Outgoing", "answer_json"]

# The events Message.send and EmailMessage.send deliver, and the field naming their Integration.
ADDRESSED = {"Message.Created": "Message", "EmailMessage.Created": "EmailMessage"}
OWN_NOUNS = ("Message", "EmailMessage")
P = TypeVar("P", bound=Provider)
POLICY_FIELDS = ("max_attempts", "schedule", "backoff", "rate_limit", "concurrency", "timeout", "disable_after")


@dataclass(frozen=True)
class Outgoing:
    """One message to send, whatever it came from (a Message entity, or a rendered event)."""

    text: str | None = None
    blocks: list[Any] | None = None
    channel: str | None = None
    to: str | None = None
    subject: str | None = None
    html: str | None = None


def answer_json(text: str | None) -> Any:
    """A provider's answer body as JSON, or None."""
    import json

    try:
        return json.loads(text or "")
    except ValueError:
        return None


class MessagingProvider(Provider):
    category = "Communication"
    webhook_support = True
    # How interpolated values are escaped for this provider: a key of templates.ESCAPES (Slack's &<>, HTML).
    escaping: ClassVar[str | None] = None
    # The Noun this provider sends (Message: chat, SMS; EmailMessage: mail).
    sends: ClassVar[str] = "Message"
    # Deliveries per second per worker process when the connect names no ``rate_limit``: the
    # provider's own limit (Slack: a message a second per channel; Teams: 4 a second per webhook).
    default_rate_limit: ClassVar[float | None] = None
    # Config keywords of every messaging provider, besides the provider's own.
    routing_fields: ClassVar[tuple[str, ...]] = ("events", "template", *POLICY_FIELDS)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        own = cls.__dict__.get("config_fields")
        if own is not None:
            cls.config_fields = (*own, *(f for f in cls.routing_fields if f not in own))

    @property
    def escape(self) -> Escape | None:
        return templates.ESCAPES.get(self.escaping or "")

    def slug_for(self, config: Mapping[str, Any]) -> str | None:
        """The provider's slug for the Integration that only sends; a new one for each routing rule."""
        return None if config.get("events") else self.slug

    # connect ------------------------------------------------------------------------------
    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        config = {k: from_text(k, v) if k in ("events", *POLICY_FIELDS) else v for k, v in config.items()}
        if self.default_rate_limit and config.get("rate_limit") is None:
            config["rate_limit"] = self.default_rate_limit
        errors = self.check_routing(config)
        errors += self.validate(creds, config)
        if errors:
            raise ValidationError(
                f"cannot connect {self.slug}: " + "; ".join(e.message for e in errors), errors, provider=self.slug
            )
        return creds, config

    def check_routing(self, config: Mapping[str, Any], prefix: str = "") -> list[FieldError]:
        errors: list[FieldError] = []
        events = config.get("events")
        if events is not None:
            errors += check_events(events, f"{prefix}events")
            own = [e for e in events if isinstance(e, str) and e.split(".")[0] in OWN_NOUNS]
            if own:
                errors.append(
                    FieldError(f"{prefix}events", "invalid", f"{own}: messages are sent with Message.send, not routed")
                )
        template = config.get("template")
        if template is not None:
            if not events:
                errors.append(FieldError(f"{prefix}template", "invalid", "a template renders events: give events too"))
            elif not errors:
                try:
                    templates.check(template, list(events), self.escape, field=f"{prefix}template")
                except ValidationError as exc:
                    errors += exc.errors
        try:
            parse_policy(config)
        except ValidationError as exc:
            errors += exc.errors
        return errors

    def validate(self, creds: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        """The provider's own checks of its connect keywords (no network)."""
        return []

    async def updating(self, hub: Hub, current: Entity, proposed: Entity) -> None:
        await super().updating(hub, current, proposed)
        config = proposed.get("config")
        if isinstance(config, Mapping) and config != current.get("config"):
            errors = self.check_routing(config, "config.")
            if errors:
                raise ValidationError(
                    f"cannot update {self.slug}: " + "; ".join(e.message for e in errors), errors, provider=self.slug
                )

    # messages -----------------------------------------------------------------------------
    def check_message(self, noun: str, fields: Mapping[str, Any], config: Mapping[str, Any]) -> list[FieldError]:
        """What a ``Message.send`` through this provider needs (``channel``, ``to``...); no network."""
        return []

    def outgoing(self, ep: Endpoint, event: Mapping[str, Any]) -> Outgoing:
        """The message a delivery sends: the addressed entity's fields, or the event rendered."""
        data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
        assert isinstance(data, Mapping)
        if event.get("event") in ADDRESSED:
            return Outgoing(
                text=data.get("text"),
                blocks=data.get("blocks"),
                channel=data.get("channel") or ep.config.get("channel"),
                to=data.get("to") or ep.config.get("to"),
                subject=data.get("subject"),
                html=data.get("html"),
            )
        template = ep.config.get("template")
        text = (
            templates.render(str(template), event, self.escape)
            if template
            else templates.default_text(event, self.escape)
        )
        return Outgoing(
            text=text,
            channel=ep.config.get("channel"),
            to=ep.config.get("to"),
            subject=str(ep.config.get("subject") or event.get("event") or "Hubwire event"),
        )

    # destination --------------------------------------------------------------------------
    def accepts(self, event_type: str) -> bool:
        return event_type.split(".")[0] not in OWN_NOUNS

    async def send(self, deliverer: Deliverer, endpoint: Endpoint, delivery_id: str, event: Mapping[str, Any]) -> Sent:
        try:
            out = self.outgoing(endpoint, event)
        except RenderError as exc:
            return Sent(None, None, f"template: {exc}", permanent=True)
        return await self.transmit(deliverer, endpoint, delivery_id, out)

    async def transmit(self, deliverer: Deliverer, endpoint: Endpoint, delivery_id: str, out: Outgoing) -> Sent:
        """Send one message to the provider (through ``deliverer.request``)."""
        raise NotImplementedError

    async def settled(
        self, hub: Hub, endpoint: Endpoint, event: Mapping[str, Any], sent: Sent | None, error: str | None
    ) -> None:
        noun = ADDRESSED.get(str(event.get("event")))
        data = event.get("data")
        if noun is None or not isinstance(data, Mapping):
            return  # a routed event: the delivery log is its record
        from hubwire.connectors.messaging.messages import record_outcome

        await record_outcome(hub, noun, str(data.get("$id")), sent, error)


def register_destination(cls: type[P]) -> type[P]:
    """Class decorator (over ``@provider``): the provider's Integrations are delivered to as destinations."""
    made = cls()
    if not isinstance(made, MessagingProvider):
        raise TypeError(f"{cls.__name__} is not a MessagingProvider")
    destinations.register(cls.slug, made)
    return cls


for _event in ADDRESSED:
    destinations.register_addressed(_event, "integration")
