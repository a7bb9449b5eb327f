"""Stripe as data: endpoints, pagination, rate limit, and the mapping of its objects to billing Nouns.

Every path and parameter used here exists in Stripe's OpenAPI description (``spec3.yaml``); the
simulator checks that on every request. Lists are newest first, paged with ``starting_after`` and
``has_more``; incremental lists ask ``created[gte]``; updates come from the ``/v1/events`` feed
(:mod:`hubwire.connectors.stripe.feed`).
"""

from __future__ import annotations

from typing import Any

from hubwire.connectors.spec import (
    Auth,
    Endpoint,
    FieldMap,
    Pagination,
    ProviderSpec,
    RateLimit,
    Relation,
    Resource,
    dig,
)

__all__ = ["RESOURCE_OF_EVENT", "STRIPE", "STRIPE_STATUS", "UPDATABLE", "first_item", "items_of"]

# What a Hubwire verb may change in Stripe, per Noun (what Stripe's update endpoints accept);
# every other field is Stripe's: a sync sets it, so a local change would be silently overwritten.
UPDATABLE: dict[str, tuple[str, ...]] = {
    "Customer": ("name", "email", "phone", "description", "metadata"),
    "Product": ("name", "description", "active", "metadata"),
    "Price": ("nickname", "lookup_key", "active", "metadata"),
    "Plan": ("nickname", "active", "metadata"),
    "Subscription": ("metadata", "cancel_at_period_end"),
}
# Stripe's subscription statuses as the Subscription Noun spells them.
STRIPE_STATUS = {
    "incomplete": "Incomplete",
    "incomplete_expired": "IncompleteExpired",
    "trialing": "Trialing",
    "active": "Active",
    "past_due": "PastDue",
    "unpaid": "Unpaid",
    "paused": "Paused",
    "canceled": "Cancelled",
}


def items_of(sub: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in dig(sub, "items.data") or []:
        price = item.get("price") or item.get("plan") or {}
        recurring = price.get("recurring") or {}
        out.append(
            {
                "price": price.get("id"),
                "quantity": int(item.get("quantity") or 1),
                "unit_amount": price.get("unit_amount", price.get("amount")),
                "interval": recurring.get("interval", price.get("interval")),
                "interval_count": int(recurring.get("interval_count", price.get("interval_count")) or 1),
            }
        )
    return out


def first_item(sub: dict[str, Any]) -> dict[str, Any]:
    data = dig(sub, "items.data") or []
    return data[0] if data and isinstance(data[0], dict) else {}


def _plan_of(sub: dict[str, Any]) -> str | None:
    item = first_item(sub)
    plan = item.get("plan")
    if isinstance(plan, dict):
        return plan.get("id")
    price_id = dig(item, "price.id")
    return price_id if isinstance(price_id, str) and price_id.startswith("plan_") else None


def _quantity(sub: dict[str, Any]) -> int | None:
    items = items_of(sub)
    return sum(i["quantity"] for i in items) if items else None


def _coupon(field: str) -> Any:
    def get(sub: dict[str, Any]) -> Any:
        return dig(sub, f"discount.coupon.{field}")

    return get


CUSTOMER = FieldMap(
    "Customer",
    {
        "name": "name",
        "email": "email",
        "phone": "phone",
        "description": "description",
        "currency": "currency",
        "balance": "balance",
        "delinquent": "delinquent",
        "metadata": "metadata",
        "stripe_id": "id",
        "created": "created",
    },
)
PRODUCT = FieldMap(
    "Product",
    {
        "name": "name",
        "description": "description",
        "active": "active",
        "metadata": "metadata",
        "stripe_id": "id",
        "created": "created",
    },
)
PRICE = FieldMap(
    "Price",
    {
        "currency": "currency",
        "unit_amount": "unit_amount",
        "type": "type",
        "interval": "recurring.interval",
        "interval_count": "recurring.interval_count",
        "nickname": "nickname",
        "lookup_key": "lookup_key",
        "active": "active",
        "metadata": "metadata",
        "stripe_id": "id",
        "created": "created",
    },
    {"product": Relation("product", "product")},
)
PLAN = FieldMap(
    "Plan",
    {
        "nickname": "nickname",
        "currency": "currency",
        "amount": "amount",
        "interval": "interval",
        "interval_count": "interval_count",
        "active": "active",
        "metadata": "metadata",
        "stripe_id": "id",
        "created": "created",
    },
    {"product": Relation("product", "product")},
)
SUBSCRIPTION = FieldMap(
    "Subscription",
    {
        "plan": _plan_of,
        "status": lambda r: STRIPE_STATUS.get(r.get("status") or ""),
        "currency": "currency",
        "quantity": _quantity,
        "items": items_of,
        "percent_off": _coupon("percent_off"),
        "amount_off": _coupon("amount_off"),
        "started_at": "start_date",
        "current_period_start": "current_period_start",
        "current_period_end": "current_period_end",
        "cancel_at_period_end": "cancel_at_period_end",
        "canceled_at": "canceled_at",
        "metadata": "metadata",
        "stripe_id": "id",
        "created": "created",
    },
    {"customer": Relation("customer", "customer"), "price": Relation("items.data.0.price", "price")},
)
INVOICE = FieldMap(
    "Invoice",
    {
        "status": "status",
        "currency": "currency",
        "amount_due": "amount_due",
        "amount_paid": "amount_paid",
        "total": "total",
        "period_start": "period_start",
        "period_end": "period_end",
        "stripe_id": "id",
        "created": "created",
    },
    {"customer": Relation("customer", "customer"), "subscription": Relation("subscription", "subscription")},
)
PAYMENT = FieldMap(
    "Payment",
    {
        "amount": "amount",
        "amount_received": "amount_received",
        "currency": "currency",
        "status": "status",
        "description": "description",
        "stripe_id": "id",
        "created": "created",
    },
    {"customer": Relation("customer", "customer"), "invoice": Relation("invoice", "invoice")},
)


def _resource(name: str, collection: str, mapping: FieldMap, *, writable: bool = True, **kw: Any) -> Resource:
    path = f"/v1/{collection}"
    return Resource(
        name,
        list=Endpoint("GET", path, kw.pop("list_params", ())),
        get=Endpoint("GET", f"{path}/{{id}}"),
        create=Endpoint("POST", path) if writable else None,
        update=Endpoint("POST", f"{path}/{{id}}") if writable else None,
        delete=Endpoint("DELETE", f"{path}/{{id}}") if writable else None,
        mapping=mapping,
        incremental_param="created[gt]",  # creates in the same second come from the events feed
        incremental_field="created",
        **kw,
    )


# Order matters: a resource comes after those its relations point to.
STRIPE = ProviderSpec(
    base_url="https://api.stripe.com",
    auth=Auth("bearer", credential="api_key"),
    check=Endpoint("GET", "/v1/balance"),
    pagination=Pagination("cursor", page_size=100, cursor_param="starting_after", has_more_path="has_more"),
    # Stripe allows 25 requests per second in test mode (100 live); an Integration's config may change it.
    rate_limit=RateLimit(25),
    resources=(
        _resource("product", "products", PRODUCT),
        _resource("price", "prices", PRICE),
        _resource("plan", "plans", PLAN),
        _resource("customer", "customers", CUSTOMER),
        # Without status=all Stripe hides canceled subscriptions.
        _resource("subscription", "subscriptions", SUBSCRIPTION, list_params=(("status", "all"),)),
        _resource("invoice", "invoices", INVOICE),
        _resource("payment_intent", "payment_intents", PAYMENT),
    ),
    truth_for=("Customer", "Product", "Price", "Plan", "Subscription", "Invoice", "Payment"),
    idempotency_header="Idempotency-Key",
    body="form",
)

# Event type prefix -> resource (``customer.subscription.updated`` -> subscription).
RESOURCE_OF_EVENT = {
    "customer.subscription": "subscription",
    "customer": "customer",
    "product": "product",
    "price": "price",
    "plan": "plan",
    "invoice": "invoice",
    "payment_intent": "payment_intent",
}
