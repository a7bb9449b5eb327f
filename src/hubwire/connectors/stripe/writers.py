"""Write-through: billing verbs call Stripe first, then store what Stripe answered, linked to its id.

``Customer.create/update``, ``Product.create``, ``Price.create``, ``Subscription.create`` (with a
price or plan, and a customer or a contact email) and ``Subscription.cancel`` each send one
Stripe request with an ``Idempotency-Key`` derived from the entity and its version (a retried
verb replays, never duplicates). The entity takes the fields Stripe returned, and the external
ref (with the hash a later sync will compute, so that sync sees it unchanged) is written in the
verb's own transaction. A Stripe error raises before the transaction: nothing is written.

Writers do nothing when the verb comes from Stripe itself (a sync) or when no Stripe integration
is connected (the Nouns are then plain local ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubwire.connectors.registry import ProviderContext
from hubwire.connectors.runtime import Connection, to_incoming
from hubwire.connectors.spec import Resource
from hubwire.connectors.stripe.spec import STRIPE
from hubwire.domains.billing import Customer, Plan, Price, Product, Subscription
from hubwire.domains.platform import Integration
from hubwire.errors import ValidationError
from hubwire.nouns.entity import Entity
from hubwire.nouns.noun import Noun
from hubwire.sync.state import Ref, load_refs, remote_id_of, save_refs
from hubwire.sync.upsert import fingerprint
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.nouns.verbs import VerbCall
    from hubwire.store.transaction import Tx

__all__ = ["install_writers"]

SLUG = "stripe"
_INTERVAL_FIELDS = ("interval", "interval_count")


async def _connection(hub: Hub) -> Connection | None:
    """The connected Stripe integration's connection, or ``None`` (local-only billing)."""
    if SLUG not in hub.providers:
        return None
    found = await Integration.find({"provider": SLUG, "status": {"$in": ["Connected", "Synced"]}}, limit=1)
    if not found:
        return None
    integ = found[0]
    prov = hub.providers.get(SLUG)
    creds = await load_credentials(hub, integ.id)
    ctx = ProviderContext(hub, prov, integ, creds, dict(integ.get("config") or {}))
    return Connection(ctx, STRIPE)


async def _remote(hub: Hub, conn: Connection, entity_id: Any) -> str | None:
    if not isinstance(entity_id, str) or not entity_id:
        return None
    return await remote_id_of(hub, conn.ctx.integration.id, entity_id)


def _key(call: VerbCall) -> str:
    return f"hubwire-{call.noun.name.lower()}-{call.verb}-{call.id}-v{call.proposed.version}"


async def _store(call: VerbCall, conn: Connection, resource: Resource, obj: dict[str, Any]) -> None:
    """Take Stripe's answer into the entity and link it in the verb's transaction."""
    inc = to_incoming(resource, obj)
    if inc is None:
        return
    iid = conn.ctx.integration.id
    async with call.hub.read() as db:
        for fname, (res, rid) in inc.links.items():
            refs = await load_refs(db, iid, res, [rid])
            inc.fields[fname] = refs[rid].entity_id if rid in refs else call.proposed.get(fname)
    call.proposed.update(call.noun.validate(inc.fields, partial=True))
    clean = {k: v for k, v in inc.fields.items() if v is not None}
    ref = Ref(resource.name, inc.remote_id, call.noun.name, call.id, fingerprint(clean), call.proposed.version)

    async def link(tx: Tx, entity: Entity) -> None:
        ref.entity_version = entity.version
        await save_refs(tx, iid, [ref])

    call.in_tx.append(link)


def _pick(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: values[k] for k in names if values.get(k) is not None}


async def _customer(call: VerbCall) -> None:
    if call.source == SLUG or call.verb not in ("create", "update"):
        return
    conn = await _connection(call.hub)
    if conn is None:
        return
    res = STRIPE.resource("customer")
    fields = ("name", "email", "phone", "description", "metadata")
    if call.verb == "create":
        body = _pick(dict(call.proposed), fields)
        obj = await conn.call(res.create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]
    else:
        rid = await _remote(call.hub, conn, call.id)
        changed = _pick(call.changes, fields)
        if rid is None or not changed:
            return
        obj = await conn.call(res.update, remote_id=rid, body=changed, idempotency_key=_key(call))  # type: ignore[arg-type]
    await _store(call, conn, res, obj)


async def _product(call: VerbCall) -> None:
    if call.source == SLUG or call.verb != "create":
        return
    conn = await _connection(call.hub)
    if conn is None:
        return
    res = STRIPE.resource("product")
    body = _pick(dict(call.proposed), ("name", "description", "active", "metadata"))
    obj = await conn.call(res.create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]
    await _store(call, conn, res, obj)


async def _price(call: VerbCall) -> None:
    if call.source == SLUG or call.verb != "create":
        return
    conn = await _connection(call.hub)
    if conn is None:
        return
    p = call.proposed
    product = await _remote(call.hub, conn, p.get("product"))
    if product is None:
        raise ValidationError.single("product", "not_linked", "a Stripe price needs a product synced with Stripe")
    body: dict[str, Any] = {
        "product": product,
        "currency": p.get("currency") or "usd",
        **_pick(dict(p), ("unit_amount", "nickname", "lookup_key", "active", "metadata")),
    }
    if p.get("interval"):
        body["recurring"] = {"interval": p["interval"], "interval_count": p.get("interval_count") or 1}
    res = STRIPE.resource("price")
    obj = await conn.call(res.create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]
    await _store(call, conn, res, obj)


async def _price_or_plan(hub: Hub, conn: Connection, p: Entity) -> str:
    """The Stripe id to subscribe to: a Price entity, or ``plan`` as a Plan id, nickname, lookup key or Stripe id."""
    rid = await _remote(hub, conn, p.get("price"))
    if rid is not None:
        return rid
    if p.get("price"):
        return str(p["price"])  # a Stripe price id given as is
    plan = p.get("plan")
    if not plan:
        raise ValidationError.single("price", "required", "a subscription needs a price or a plan")
    for noun, field in ((Plan, "nickname"), (Price, "lookup_key"), (Plan, "stripe_id"), (Price, "stripe_id")):
        found = await noun.find({field: plan}, limit=1)
        if found:
            rid = await _remote(hub, conn, found[0].id)
            if rid is not None:
                return rid
    rid = await _remote(hub, conn, plan)
    return rid or str(plan)


async def _customer_for(hub: Hub, conn: Connection, p: Entity) -> str:
    rid = await _remote(hub, conn, p.get("customer"))
    if rid is not None:
        return rid
    contact = p.get("contact")
    if not contact:
        raise ValidationError.single("customer", "required", "a subscription needs a customer or a contact")
    email, name = str(contact), None
    # A Contact entity (CRM) when that Noun exists and the contact is one of its ids.
    contact_noun = Noun.registry.get("Contact")
    if contact_noun is not None and email.startswith("contact_"):
        person = await contact_noun.get(email)
        email, name = str(person.get("email") or ""), person.get("name")
    found = await Customer.find({"email": email}, limit=1)
    entity = found[0] if found else await Customer.create(email=email, name=name)
    p["customer"] = entity.id
    rid = await _remote(hub, conn, entity.id)
    if rid is None:
        raise ValidationError.single("customer", "not_linked", f"customer {entity.id} is not linked to Stripe")
    return rid


async def _subscription(call: VerbCall) -> None:
    if call.source == SLUG or call.verb not in ("create", "cancel"):
        return
    conn = await _connection(call.hub)
    if conn is None:
        return
    res = STRIPE.resource("subscription")
    if call.verb == "cancel":
        rid = await _remote(call.hub, conn, call.id)
        if rid is None:
            return
        obj = await conn.call(res.delete, remote_id=rid, idempotency_key=_key(call))  # type: ignore[arg-type]
    else:
        p = call.proposed
        customer = await _customer_for(call.hub, conn, p)
        item: dict[str, Any] = {"price": await _price_or_plan(call.hub, conn, p)}
        if p.get("quantity"):
            item["quantity"] = p["quantity"]
        body = {"customer": customer, "items": [item], **_pick(dict(p), ("metadata",))}
        obj = await conn.call(res.create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]
    await _store(call, conn, res, obj)


def install_writers() -> None:
    """Register the writers (idempotent: a writer already there is not added twice)."""
    for noun, writer in (
        (Customer, _customer),
        (Product, _product),
        (Price, _price),
        (Subscription, _subscription),
    ):
        if writer not in noun.writers:
            noun.add_writer(writer)
