"""Billing Nouns of the seed: Customer, Product, Plan, Price, Subscription, Invoice, Payment.

Stripe is their truth source when connected (:mod:`hubwire.connectors.stripe`): a sync fills
them and their verbs write through to Stripe first. Without a Stripe integration they are plain
local Nouns. Amounts are integers in the currency's minor unit (cents), as Stripe keeps them.

Relations: Price -> Product, Plan -> Product, Subscription -> Customer, Price;
Invoice -> Customer, Subscription; Payment -> Customer, Invoice.
"""

from __future__ import annotations

from hubwire.nouns.noun import Noun

__all__ = [
    "INTERVALS",
    "SUBSCRIPTION_STATUSES",
    "Customer",
    "Invoice",
    "Payment",
    "Plan",
    "Price",
    "Product",
    "Subscription",
]

INTERVALS = "day | week | month | year"
SUBSCRIPTION_STATUSES = "Incomplete | IncompleteExpired | Trialing | Active | PastDue | Unpaid | Paused | Cancelled"

Customer = Noun(
    "Customer",
    {
        "name": "string",
        "email": "string#",
        "phone": "string",
        "description": "string",
        "currency": "string",
        "balance": "integer",
        "delinquent": "boolean",
        "metadata": "json",
        "stripe_id": "string#",
        "created": "datetime",
    },
    description="Someone who pays.",
)

Product = Noun(
    "Product",
    {
        "name": "string!",
        "description": "string",
        "active": "boolean",
        "metadata": "json",
        "stripe_id": "string#",
        "created": "datetime",
    },
    description="Something sold.",
)

Price = Noun(
    "Price",
    {
        "product": "-> Product",
        "currency": "string",
        "unit_amount": "integer",
        "type": "one_time | recurring",
        "interval": INTERVALS,
        "interval_count": "integer",
        "nickname": "string",
        "lookup_key": "string#",
        "active": "boolean",
        "metadata": "json",
        "stripe_id": "string#",
        "created": "datetime",
    },
    description="How much a product costs, once or per interval.",
)

Plan = Noun(
    "Plan",
    {
        "product": "-> Product",
        "nickname": "string#",
        "currency": "string",
        "amount": "integer",
        "interval": INTERVALS,
        "interval_count": "integer",
        "active": "boolean",
        "metadata": "json",
        "stripe_id": "string#",
        "created": "datetime",
    },
    description="A recurring price (Stripe's older Plans API).",
)

Subscription = Noun(
    "Subscription",
    {
        "customer": "-> Customer",
        "price": "-> Price",
        # A plan by Stripe id, Plan nickname or Price lookup key ('pro'), as the seed writes it.
        "plan": "string",
        # A customer by email (found or created) when no customer is given.
        "contact": "string",
        "status": SUBSCRIPTION_STATUSES,
        "currency": "string",
        "quantity": "integer",
        # [{price, quantity, unit_amount, interval, interval_count}] as billed; what MRR reads.
        "items": "json",
        # Discount on the subscription: percent_off (0-100) or amount_off (minor units per invoice).
        "percent_off": "number",
        "amount_off": "integer",
        "started_at": "datetime",
        "current_period_start": "datetime",
        "current_period_end": "datetime",
        "cancel_at_period_end": "boolean",
        "canceled_at": "datetime",
        "metadata": "json",
        "stripe_id": "string#",
        "created": "datetime",
        "cancel": "Cancelled",
    },
    description="A customer's recurring purchase.",
)

Invoice = Noun(
    "Invoice",
    {
        "customer": "-> Customer",
        "subscription": "-> Subscription",
        "status": "string#",
        "currency": "string",
        "amount_due": "integer",
        "amount_paid": "integer",
        "total": "integer",
        "period_start": "datetime",
        "period_end": "datetime",
        "stripe_id": "string#",
        "created": "datetime",
    },
    description="A bill.",
)

Payment = Noun(
    "Payment",
    {
        "customer": "-> Customer",
        "invoice": "-> Invoice",
        "amount": "integer",
        "amount_received": "integer",
        "currency": "string",
        "status": "string#",
        "description": "string",
        "stripe_id": "string#",
        "created": "datetime",
    },
    description="Money received (a Stripe PaymentIntent).",
)
