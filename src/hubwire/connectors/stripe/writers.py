"""Write-through: billing verbs call Stripe first, then store what Stripe answered, linked to its id.

While Stripe is connected, no billing verb writes only locally (a sync would overwrite it):
``create`` of a Customer, Product, Price, Plan or Subscription (with a price or plan, and a
customer or a contact email), ``update`` of the fields Stripe lets change (``UPDATABLE``) and
``Subscription.cancel`` each send one Stripe request with an ``Idempotency-Key`` derived from the
entity and its version (a retried verb replays, never duplicates); Invoices and Payments (made by
Stripe) and changes to fields Stripe owns are refused (``provider_owned``). The entity takes the
fields Stripe returned, and the external ref (with the hash a later sync will compute, so that
sync sees it unchanged) is written in the verb's own transaction. A Stripe error raises before
the transaction: nothing is written.

The writer does nothing when the verb comes from Stripe itself (a sync), when no Stripe
integration is connected (the Nouns are then plain local ones), to an entity Stripe does not
know (created before connecting: no sync overwrites it) and on delete (local only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from hubwire.connectors.registry import ProviderContext
from hubwire.connectors.runtime import Connection, to_incoming
from hubwire.connectors.spec import Resource
from hubwire.connectors.stripe.spec import STRIPE, UPDATABLE
from hubwire.domains.billing import Customer, Invoice, Payment, Plan, Price, Product, Subscription
from hubwire.domains.platform import Integration
from hubwire.errors import FieldError, ValidationError
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
# The Stripe resource behind each billing Noun.
_RESOURCE = {
    "Customer": "customer",
    "Product": "product",
    "Price": "price",
    "Plan": "plan",
    "Subscription": "subscription",
    "Invoice": "invoice",
    "Payment": "payment_intent",
}
# Nouns only Stripe creates.
_MADE_BY_STRIPE = {
    "Invoice": "invoices are created by Stripe (from subscriptions and their billing cycles), not by Hubwire",
    "Payment": "payments are created by Stripe when a customer pays, not by Hubwire",
}


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
    ref = Ref(
        resource.name,
        inc.remote_id,
        call.noun.name,
        call.id,
        fingerprint(clean),
        call.proposed.version,
        None,
        inc.fields,
    )

    async def link(tx: Tx, entity: Entity) -> None:
        ref.entity_version = entity.version
        await save_refs(tx, iid, [ref])

    call.in_tx.append(link)


def _pick(values: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: values[k] for k in names if values.get(k) is not None}


async def _create_customer(call: VerbCall, conn: Connection) -> dict[str, Any]:
    body = _pick(dict(call.proposed), UPDATABLE["Customer"])
    return await conn.call(STRIPE.resource("customer").create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]


async def _create_product(call: VerbCall, conn: Connection) -> dict[str, Any]:
    body = _pick(dict(call.proposed), UPDATABLE["Product"])
    return await conn.call(STRIPE.resource("product").create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]


async def _linked_product(call: VerbCall, conn: Connection) -> str:
    product = await _remote(call.hub, conn, call.proposed.get("product"))
    if product is None:
        raise ValidationError.single(
            "product", "not_linked", f"a Stripe {call.noun.name.lower()} needs a product synced with Stripe"
        )
    return product


async def _create_price(call: VerbCall, conn: Connection) -> dict[str, Any]:
    p = call.proposed
    body: dict[str, Any] = {
        "product": await _linked_product(call, conn),
        "currency": p.get("currency") or "usd",
        **_pick(dict(p), ("unit_amount", "nickname", "lookup_key", "active", "metadata")),
    }
    if p.get("interval"):
        body["recurring"] = {"interval": p["interval"], "interval_count": p.get("interval_count") or 1}
    return await conn.call(STRIPE.resource("price").create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]


async def _create_plan(call: VerbCall, conn: Connection) -> dict[str, Any]:
    p = call.proposed
    if not p.get("interval") or p.get("amount") is None:
        raise ValidationError.single("interval", "required", "a Stripe plan needs an amount and an interval")
    body: dict[str, Any] = {
        "product": await _linked_product(call, conn),
        "currency": p.get("currency") or "usd",
        **_pick(dict(p), ("amount", "interval", "interval_count", "nickname", "active", "metadata")),
    }
    return await conn.call(STRIPE.resource("plan").create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]


async def _price_or_plan(hub: Hub, conn: Connection, p: Entity) -> str:
    """The Stripe id to subscribe to: ``price`` (a Price entity or a Stripe price id), or ``plan``
    as the seed writes it (``plan="pro"``): a Price's lookup key or nickname, a Plan's nickname, a
    Product's name (its one active recurring price), or a Price or Plan id (Hubwire's or Stripe's)."""
    if p.get("price"):
        rid = await _remote(hub, conn, p["price"])
        return rid or str(p["price"])  # a Stripe price id given as is
    plan = p.get("plan")
    if not plan:
        raise ValidationError.single("price", "required", "a subscription needs a price or a plan")
    name = str(plan)
    found = await _find_priced(name)
    if found is None:
        raise ValidationError.single(
            "plan",
            "not_found",
            f"no price or plan {name!r}: no Price has that lookup_key or nickname, no Plan that nickname, "
            "no Product that name (with an active recurring price or plan), and no Price or Plan that id",
        )
    rid = await _remote(hub, conn, found.id)
    if rid is None:
        raise ValidationError.single("plan", "not_linked", f"{found.id} ({name!r}) is not linked to Stripe")
    return rid


async def _find_priced(name: str) -> Entity | None:
    """The Price or Plan ``name`` designates (see :func:`_price_or_plan`), first match in that order."""
    for noun, field in (
        (Price, "lookup_key"),
        (Price, "nickname"),
        (Plan, "nickname"),
        (Price, "stripe_id"),
        (Plan, "stripe_id"),
        (Price, "$id"),
        (Plan, "$id"),
    ):
        found = await noun.find({field: name}, limit=1)
        if found:
            return found[0]
    # Product names are written capitalised ("Pro") where the seed says plan="pro": try the usual casings.
    products = await Product.find({"name": {"$in": sorted({name, name.lower(), name.title(), name.upper()})}}, limit=2)
    for product in products:
        priced = [
            *await Price.find({"product": product.id, "type": "recurring", "active": {"$ne": False}}, limit=2),
            *await Plan.find({"product": product.id, "active": {"$ne": False}}, limit=2),
        ]
        if len(priced) > 1:
            raise ValidationError.single(
                "plan",
                "ambiguous",
                f"product {product['name']!r} has several recurring prices or plans "
                f"({', '.join(x.id for x in priced)}): name one by its lookup key or nickname",
            )
        if priced:
            return priced[0]
    return None


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


async def _create_subscription(call: VerbCall, conn: Connection) -> dict[str, Any]:
    p = call.proposed
    customer = await _customer_for(call.hub, conn, p)
    item: dict[str, Any] = {"price": await _price_or_plan(call.hub, conn, p)}
    if p.get("quantity"):
        item["quantity"] = p["quantity"]
    body = {"customer": customer, "items": [item], **_pick(dict(p), ("metadata",))}
    return await conn.call(STRIPE.resource("subscription").create, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]


_CREATE: dict[str, Callable[[VerbCall, Connection], Awaitable[dict[str, Any]]]] = {
    "Customer": _create_customer,
    "Product": _create_product,
    "Price": _create_price,
    "Plan": _create_plan,
    "Subscription": _create_subscription,
}


def _owned_by_stripe(noun: str, fields: list[str]) -> ValidationError:
    allowed = ", ".join(UPDATABLE.get(noun, ())) or "none"
    errors = [
        FieldError(f, "provider_owned", f"{noun}.{f} is set by Stripe (a sync brings it), not by Hubwire")
        for f in fields
    ]
    return ValidationError(
        f"cannot change {', '.join(fields)} of a {noun} synced with Stripe: Stripe owns it "
        f"(fields Hubwire can change in Stripe: {allowed})",
        errors,
        code="provider_owned",
        noun=noun,
        provider=SLUG,
    )


async def _write(call: VerbCall) -> None:
    """Every create/update of a billing Noun while Stripe is connected goes to Stripe first, or is refused."""
    if call.source == SLUG or call.verb == "delete":
        return
    noun = call.noun.name
    conn = await _connection(call.hub)
    if conn is None:
        return
    made_by_stripe = _MADE_BY_STRIPE.get(noun)
    if call.verb == "create":
        if made_by_stripe is not None:
            raise ValidationError(
                made_by_stripe,
                [FieldError("$type", "provider_owned", made_by_stripe)],
                code="provider_owned",
                noun=noun,
                provider=SLUG,
            )
        obj = await _CREATE[noun](call, conn)
    elif call.verb == "update":
        rid = await _remote(call.hub, conn, call.id)
        current: Mapping[str, Any] = call.current or {}
        changed = {k: v for k, v in call.changes.items() if current.get(k) != v}
        if rid is None or not changed:
            return  # a local entity Stripe does not know (no sync overwrites it), or nothing to change
        refused = [k for k in changed if k not in UPDATABLE.get(noun, ())]
        if refused:
            raise _owned_by_stripe(noun, refused)
        # Stripe unsets a field given as an empty string.
        body = {k: "" if v is None else v for k, v in changed.items()}
        res = STRIPE.resource(_RESOURCE[noun])
        obj = await conn.call(res.update, remote_id=rid, body=body, idempotency_key=_key(call))  # type: ignore[arg-type]
    elif noun == "Subscription" and call.verb == "cancel":
        rid = await _remote(call.hub, conn, call.id)
        if rid is None:
            return
        res = STRIPE.resource("subscription")
        obj = await conn.call(res.delete, remote_id=rid, idempotency_key=_key(call))  # type: ignore[arg-type]
    else:
        return
    await _store(call, conn, STRIPE.resource(_RESOURCE[noun]), obj)


def install_writers() -> None:
    """Register the writer on every Noun Stripe is the truth for (idempotent: never added twice)."""
    for noun in (Customer, Product, Price, Plan, Subscription, Invoice, Payment):
        if _write not in noun.writers:
            noun.add_writer(_write)
