"""The Stripe objects the simulator serves: templates, ids, and what create/update/delete do to them.

Owns the shape of every simulated object (from Stripe's ``fixtures3.json`` when the specs folder
is present, else a built-in minimal template), id generation (``cus_``, ``prod_``...), the casting
of form strings to the types Stripe stores, and the rules of each create (required params, linked
objects that must exist, defaults). Pure data manipulation: no HTTP, no I/O beyond reading the
fixtures once.
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import load_json

__all__ = [
    "API_VERSION",
    "PREFIXES",
    "RESOURCES",
    "StripeError",
    "Templates",
    "coerce",
    "missing",
    "new_id",
]

API_VERSION = "2023-08-16"
# resource name -> (URL collection, id prefix, event type prefix)
RESOURCES: dict[str, tuple[str, str, str]] = {
    "customer": ("customers", "cus", "customer"),
    "product": ("products", "prod", "product"),
    "price": ("prices", "price", "price"),
    "plan": ("plans", "plan", "plan"),
    "subscription": ("subscriptions", "sub", "customer.subscription"),
    "invoice": ("invoices", "in", "invoice"),
    "payment_intent": ("payment_intents", "pi", "payment_intent"),
    "charge": ("charges", "ch", "charge"),
    "event": ("events", "evt", "event"),
}
PREFIXES = {prefix: name for name, (_, prefix, _) in RESOURCES.items()}

_ALPHABET = string.digits + string.ascii_letters
_run = "".join(secrets.choice(_ALPHABET) for _ in range(6))
_counter = itertools.count(1)


def new_id(prefix: str) -> str:
    """A Stripe-looking id (``cus_`` + 14 characters), unique within the process."""
    n = next(_counter)
    tail = ""
    while n:
        n, r = divmod(n, 62)
        tail = _ALPHABET[r] + tail
    return f"{prefix}_{_run}{tail.rjust(8, '0')}"


class StripeError(Exception):
    """A Stripe error response: ``{"error": {"type", "code", "message", "param"}}`` with its status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        body: dict[str, Any] = {"type": type, "message": message}
        if code is not None:
            body["code"] = code
            body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            body["param"] = param
        body.update(extra)
        self.body = {"error": body}


def missing(resource: str, ident: str, param: str = "id", status: int = 404) -> StripeError:
    return StripeError(status, f"No such {resource}: '{ident}'", code="resource_missing", param=param)


def required(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


_INT_FIELDS = frozenset(
    [
        "amount",
        "unit_amount",
        "quantity",
        "interval_count",
        "trial_period_days",
        "balance",
        "days_until_due",
        "application_fee_amount",
        "trial_end",
        "cancel_at",
        "billing_cycle_anchor",
        "created",
        "next_invoice_sequence",
        "amount_due",
        "amount_paid",
        "current_period_start",
        "current_period_end",
        "canceled_at",
        "ended_at",
        "limit",
        "gt",
        "gte",
        "lt",
        "lte",
    ]
)
_BOOL_FIELDS = frozenset(
    [
        "active",
        "cancel_at_period_end",
        "confirm",
        "livemode",
        "shippable",
        "auto_advance",
        "off_session",
        "capture",
        "paid",
        "deleted",
        "invoice_now",
        "prorate",
    ]
)


def coerce(value: Any, key: str = "") -> Any:
    """Form strings to the types Stripe stores: numbered dicts to lists, known ints and booleans cast."""
    if key == "metadata":
        return value
    if isinstance(value, dict):
        out = {k: coerce(v, k) for k, v in value.items()}
        if out and all(k.isdigit() for k in out):
            return [out[k] for k in sorted(out, key=int)]
        return out
    if isinstance(value, list):
        return [coerce(v, key) for v in value]
    if isinstance(value, str):
        if key in _INT_FIELDS and value.lstrip("-").isdigit():
            return int(value)
        if key in _BOOL_FIELDS and value in ("true", "false"):
            return value == "true"
    return value


_BUILTIN: dict[str, dict[str, Any]] = {
    "customer": {
        "id": "cus_0", "object": "customer", "address": None, "balance": 0, "created": 0, "currency": None,
        "default_source": None, "delinquent": False, "description": None, "discount": None, "email": None,
        "invoice_prefix": "HUBWIRE", "invoice_settings": {"custom_fields": None, "default_payment_method": None,
        "footer": None, "rendering_options": None}, "livemode": False, "metadata": {}, "name": None,
        "next_invoice_sequence": 1, "phone": None, "preferred_locales": [], "shipping": None,
        "tax_exempt": "none", "test_clock": None,
    },
    "product": {
        "id": "prod_0", "object": "product", "active": True, "created": 0, "default_price": None,
        "description": None, "features": [], "images": [], "livemode": False, "metadata": {}, "name": "",
        "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
        "unit_label": None, "updated": 0, "url": None,
    },
    "price": {
        "id": "price_0", "object": "price", "active": True, "billing_scheme": "per_unit", "created": 0,
        "currency": "usd", "custom_unit_amount": None, "livemode": False, "lookup_key": None, "metadata": {},
        "nickname": None, "product": "prod_0", "recurring": None, "tax_behavior": "unspecified",
        "tiers_mode": None, "transform_quantity": None, "type": "one_time", "unit_amount": 0,
        "unit_amount_decimal": "0",
    },
    "plan": {
        "id": "plan_0", "object": "plan", "active": True, "aggregate_usage": None, "amount": 0,
        "amount_decimal": "0", "billing_scheme": "per_unit", "created": 0, "currency": "usd",
        "interval": "month", "interval_count": 1, "livemode": False, "metadata": {}, "nickname": None,
        "product": "prod_0", "tiers_mode": None, "transform_usage": None, "trial_period_days": None,
        "usage_type": "licensed",
    },
    "subscription": {
        "id": "sub_0", "object": "subscription", "application": None, "automatic_tax": {"enabled": False},
        "billing_cycle_anchor": 0,
        "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "created": 0, "currency": "usd", "current_period_end": 0,
        "current_period_start": 0, "customer": "cus_0", "days_until_due": None, "default_payment_method": None,
        "description": None, "discount": None, "ended_at": None,
        "items": {"object": "list", "data": [], "has_more": False, "url": "/v1/subscription_items"},
        "latest_invoice": None, "livemode": False, "metadata": {}, "start_date": 0, "status": "active",
        "trial_end": None, "trial_start": None,
    },
    "subscription_item": {
        "id": "si_0", "object": "subscription_item", "billing_thresholds": None, "created": 0, "metadata": {},
        "price": None, "quantity": 1, "subscription": "sub_0", "tax_rates": [],
    },
    "invoice": {
        "id": "in_0", "object": "invoice", "amount_due": 0, "amount_paid": 0, "amount_remaining": 0,
        "attempt_count": 0, "attempted": False, "collection_method": "charge_automatically", "created": 0,
        "amount_shipping": 0, "automatic_tax": {"enabled": False, "status": None}, "default_tax_rates": [],
        "paid_out_of_band": False, "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "starting_balance": 0, "total_tax_amounts": [], "status_transitions": {"finalized_at": None,
        "marked_uncollectible_at": None, "paid_at": None, "voided_at": None},
        "currency": "usd", "customer": "cus_0", "description": None, "discount": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/invoices/in_0/lines"},
        "livemode": False, "metadata": {}, "number": None, "paid": False, "period_end": 0, "period_start": 0,
        "status": "draft", "subscription": None, "subtotal": 0, "total": 0,
    },
    "payment_intent": {
        "id": "pi_0", "object": "payment_intent", "amount": 0, "amount_received": 0, "capture_method": "automatic",
        "client_secret": None, "confirmation_method": "automatic", "created": 0, "currency": "usd",
        "customer": None, "description": None, "invoice": None, "last_payment_error": None, "latest_charge": None,
        "livemode": False, "metadata": {}, "payment_method": None, "payment_method_types": ["card"],
        "status": "requires_payment_method",
    },
    "charge": {
        "id": "ch_0", "object": "charge", "amount": 0, "amount_captured": 0, "amount_refunded": 0,
        "captured": True, "created": 0, "currency": "usd", "customer": None, "description": None,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "disputed": False, "failure_code": None, "failure_message": None, "invoice": None, "livemode": False,
        "metadata": {}, "paid": True, "payment_intent": None, "refunded": False, "status": "succeeded",
    },
    "event": {
        "id": "evt_0", "object": "event", "api_version": API_VERSION, "created": 0, "data": {"object": {}},
        "livemode": False, "pending_webhooks": 0, "request": {"id": None, "idempotency_key": None}, "type": "",
    },
    "webhook_endpoint": {
        "id": "we_0", "object": "webhook_endpoint", "api_version": None, "application": None, "created": 0,
        "description": None, "enabled_events": [], "livemode": False, "metadata": {}, "status": "enabled", "url": "",
    },
    "balance": {
        "object": "balance", "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
        "livemode": False, "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
    },
}  # fmt: skip


class Templates:
    """One template per resource, serialised once so that a clone is a single ``json.loads``."""

    def __init__(self, specs_dir: Path | None) -> None:
        source: dict[str, Any] = {}
        fixtures = specs_dir / "stripe" / "fixtures3.json" if specs_dir else None
        if fixtures is not None and fixtures.is_file():
            source = load_json(fixtures).get("resources", {})
        self.from_fixtures = bool(source)
        self._json: dict[str, str] = {}
        for name, builtin in _BUILTIN.items():
            tpl = json.loads(json.dumps(source.get(name, builtin)))
            if name == "subscription_item" and "subscription" in source:
                items = source["subscription"].get("items", {}).get("data") or []
                tpl = json.loads(json.dumps(items[0])) if items else builtin
            self._prepare(name, tpl)
            self._json[name] = json.dumps(tpl)

    @staticmethod
    def _prepare(name: str, tpl: dict[str, Any]) -> None:
        # Fixture values that would be wrong on a fresh object: links to fixture-only objects, stale timestamps.
        if name == "product":
            tpl["default_price"] = None
        if name == "subscription":
            tpl.update(cancel_at=None, canceled_at=None, ended_at=None, trial_end=None, trial_start=None)
            tpl.update(latest_invoice=None, next_pending_invoice_item_invoice=None, status="active")
            tpl["items"] = {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": ""}
        if name == "invoice":
            tpl.update(amount_due=0, amount_remaining=0, subtotal=0, total=0, due_date=None)
            if "subtotal_excluding_tax" in tpl:
                tpl.update(subtotal_excluding_tax=0, total_excluding_tax=0, next_payment_attempt=None)
            if "webhooks_delivered_at" in tpl:
                tpl["webhooks_delivered_at"] = None
            tpl["lines"] = {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": ""}
        if name == "payment_intent":
            tpl.update(canceled_at=None, status="requires_payment_method")
        if name == "charge":
            tpl.update(balance_transaction=None, payment_method=None, receipt_url=None)
        if name == "event":
            tpl.update(api_version=API_VERSION, data={"object": {}})

    def clone(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self._json[name])
        return obj
