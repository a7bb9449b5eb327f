"""Destinations: providers whose Integrations receive events through the delivery log, with their own request.

A signed JSON POST is one way to deliver an event; a chat message or a mail is another. A
messaging provider (Slack, Teams, SendGrid, Twilio) registers a :class:`Destination`, and its
Integrations become endpoints like ``webhook`` ones: fan-out selects them by their ``events``
filters, each event becomes a delivery (row + ``webhook.deliver`` job) in the event's transaction,
with the same attempts log, retries, ``Retry-After``, dead letter, resend, recover and limits
(``hubwire webhooks deliveries`` lists them). Only the attempt differs: the destination renders
the event and makes its provider's request (:meth:`Destination.send`).

A destination may also take *addressed* events: an event registered here with the field that
names its endpoint (``Message.Created`` with ``integration``) goes to that endpoint alone,
whatever the filters say; that is how ``Message.send`` is delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.webhooks.delivery import Deliverer
    from hubwire.webhooks.endpoints import Endpoint

__all__ = ["Destination", "Sent", "addressed_to", "get", "providers", "register", "register_addressed"]

WEBHOOK = "webhook"


@dataclass(frozen=True)
class Sent:
    """One attempt at a destination, as the delivery log records it.

    ``error`` set means the attempt failed, whatever the status code (Slack answers ``ok: false``
    with a 200); ``permanent`` means retrying cannot help (a revoked token, an unknown channel):
    the delivery is dead at once. ``headers`` are the answer's, for ``Retry-After``.
    """

    status_code: int | None
    response: str | None
    error: str | None = None
    headers: Any = None
    permanent: bool = False
    provider_id: str | None = None


class Destination(Protocol):
    def accepts(self, event_type: str) -> bool:
        """Whether an event may be selected by this destination's filters (its own Nouns' events never are:
        delivering a message updates it, which would be delivered again)."""
        ...

    async def send(self, deliverer: Deliverer, endpoint: Endpoint, delivery_id: str, event: Mapping[str, Any]) -> Sent:
        """One attempt: render ``event`` (``{"event", "timestamp", "seq", "data"}``) and send it."""
        ...

    async def settled(
        self, hub: Hub, endpoint: Endpoint, event: Mapping[str, Any], sent: Sent | None, error: str | None
    ) -> None:
        """The delivery is over: succeeded (``error`` None) or dead. Record it where the event came from."""
        ...


_destinations: dict[str, Destination] = {}
_addressed: dict[str, str] = {}


def register(provider: str, destination: Destination) -> None:
    _destinations[provider] = destination


def get(provider: str) -> Destination | None:
    """The destination of a provider; None for ``webhook`` (the signed POST) and anything unknown."""
    return _destinations.get(provider)


def providers() -> tuple[str, ...]:
    """Every provider whose Integrations are delivered to: ``webhook`` and the registered destinations."""
    return (WEBHOOK, *sorted(_destinations))


def register_addressed(event_type: str, field: str) -> None:
    """``event_type`` goes to the endpoint whose id is in the payload's ``field``, and to no other destination."""
    _addressed[event_type] = field


def addressed_to(event_type: str, data: Mapping[str, Any]) -> str | None:
    """The endpoint an addressed event names, or None when the event is not an addressed one."""
    field = _addressed.get(event_type)
    if field is None:
        return None
    return str(data.get(field) or "")
