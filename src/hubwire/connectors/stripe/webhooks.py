"""Stripe webhooks: the events Hubwire applies, their registration as a webhook endpoint, their apply.

An event's ``data.object`` goes through the mapping the sync uses (:mod:`~hubwire.connectors.stripe.spec`):
it is the event's record (:meth:`Provider.webhook_records`), applied by the inbox with those of the
other events waiting, a page per transaction, through the sync's
:func:`~hubwire.sync.upsert.apply_page` with ``stripe`` as the source (:mod:`hubwire.inbound.batch`),
so events, hooks and outbound webhooks follow as in a sync. Order: Stripe does not promise to
deliver events in order, so the event's ``created`` is the record's time and an older event never
moves an entity back (:mod:`hubwire.sync.upsert`); a ``*.created`` event counts as the start of its second, so that an
update made in the same second and delivered first is not undone by it. Two updates of one object
within one second are applied in the order they arrive (Stripe's times have no finer grain).

An object whose related objects are not known here yet (a subscription whose customer's
``customer.created`` has not arrived: Stripe sends them in the same second, in no set order) has
them read from Stripe and applied first, so its relations resolve as in a sync.

``customer.subscription.deleted`` means canceled: the subscription stays, with its status, and
``Subscription.Cancelled`` is announced (the seed's ``Subscription.cancelled`` hooks run). Other
``*.deleted`` events delete the entity. ``charge.refunded`` carries a charge, which no Noun holds:
its PaymentIntent is read again from Stripe and applied as the Payment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubwire.connectors.registry import ProviderContext, WebhookRegistration
from hubwire.connectors.runtime import to_incoming
from hubwire.connectors.spec import Endpoint
from hubwire.connectors.stripe.feed import resource_of
from hubwire.connectors.stripe.spec import STRIPE
from hubwire.errors import ProviderInvalidRequest, ProviderNotFound
from hubwire.inbound.received import WebhookRecord
from hubwire.nouns.verbs import acting_as
from hubwire.sync.record import apply_record
from hubwire.sync.state import lookup
from hubwire.sync.upsert import Incoming

if TYPE_CHECKING:
    from hubwire.connectors.runtime import SpecProvider
    from hubwire.inbound.received import ReceivedHook

__all__ = ["ENABLED_EVENTS", "records", "register", "subscription_verb", "unregister"]

ENABLED_EVENTS = (
    *(
        f"{kind}.{action}"
        for kind in ("customer", "product", "price", "plan")
        for action in ("created", "updated", "deleted")
    ),
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created",
    "invoice.updated",
    "invoice.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "payment_intent.created",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
)
_ENDPOINTS = Endpoint("POST", "/v1/webhook_endpoints")
_ENDPOINT = Endpoint("DELETE", "/v1/webhook_endpoints/{id}")


def subscription_verb(old: str | None, new: str | None) -> str | None:
    """A subscription canceled at Stripe is ``Subscription.cancel`` (hooks ``cancelled``)."""
    return "cancel" if new == "Cancelled" and old not in (None, "Cancelled") else None


async def register(provider: SpecProvider, ctx: ProviderContext, url: str) -> WebhookRegistration:
    """``POST /v1/webhook_endpoints`` for the events Hubwire applies; Stripe makes the secret."""
    body = {
        "url": url,
        "enabled_events": list(ENABLED_EVENTS),
        "description": "Hubwire",
        "metadata": {"hubwire_integration": ctx.integration.id},
    }
    made = await provider.connection(ctx).call(_ENDPOINTS, body=body)
    if not isinstance(made, dict) or not made.get("secret") or not made.get("id"):
        raise ProviderInvalidRequest("Stripe's webhook endpoint came back without an id or a secret", provider="stripe")
    return WebhookRegistration(str(made["secret"]), {"webhook_endpoint": str(made["id"])})


async def unregister(provider: SpecProvider, ctx: ProviderContext) -> None:
    endpoint = ctx.credentials.get("webhook_endpoint")
    if endpoint:
        await provider.connection(ctx).call(_ENDPOINT, remote_id=str(endpoint))


async def records(provider: SpecProvider, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
    """The record an event changes (none: an event Hubwire does not follow), its relations not
    linked here yet read from Stripe and applied first (see the module)."""
    event: Any = hook.payload
    etype = str(event.get("type") or "") if isinstance(event, dict) else ""
    obj = (event.get("data") or {}).get("object") if etype else None
    if etype not in ENABLED_EVENTS or not isinstance(obj, dict):
        return []
    if etype == "charge.refunded":
        if not obj.get("payment_intent"):
            return []  # a charge made without a PaymentIntent: no Payment holds it
        spec = STRIPE.resource("payment_intent")
        assert spec.get is not None
        obj = await provider.connection(ctx).call(spec.get, remote_id=str(obj["payment_intent"]))
        resource = "payment_intent"
    else:
        resource = str(resource_of(etype))
    spec = STRIPE.resource(resource)
    item = to_incoming(spec, obj)
    if item is None:
        raise ProviderInvalidRequest(f"Stripe event {hook.event_id} has an object without an id", provider="stripe")
    created = event.get("created")
    if isinstance(created, int | float) and not isinstance(created, bool):
        item.remote_updated = float(created) - (0.5 if etype.endswith(".created") else 0.0)
    item.deleted = etype.endswith(".deleted") and resource != "subscription"
    if not item.deleted:
        await _dependencies(provider, ctx, item, depth=2)
    verb_for = subscription_verb if resource == "subscription" else None
    return [WebhookRecord(resource, provider.noun(spec), item, verb_for)]


async def _dependencies(provider: SpecProvider, ctx: ProviderContext, item: Incoming, depth: int) -> None:
    """Read from Stripe and apply the related objects of ``item`` not linked here yet (see the module)."""
    hub, iid = ctx.hub, ctx.integration.id
    for resource, remote_id in item.links.values():
        if await lookup(hub, iid, resource, remote_id) is not None:
            continue
        spec = STRIPE.resource(resource)
        assert spec.get is not None
        try:
            obj = await provider.connection(ctx).call(spec.get, remote_id=remote_id)
        except ProviderNotFound:
            continue  # gone at Stripe: the relation stays empty, as a sync would leave it
        related = to_incoming(spec, obj) if isinstance(obj, dict) else None
        if related is None:
            continue
        if depth > 1:
            await _dependencies(provider, ctx, related, depth - 1)
        with acting_as(provider.slug):
            noun = provider.noun(spec)
            await apply_record(hub, integration_id=iid, resource=resource, noun=noun, item=related, source="stripe")
