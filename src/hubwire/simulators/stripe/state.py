"""The simulated Stripe account: objects by resource, their sorted indexes, events, and the write rules.

Owns what a Stripe account holds (``store[resource][id]``), the per-resource index sorted by
``(created, seq)`` that makes newest-first pagination and ``created[...]`` filters cheap with
100,000 objects, the ``/v1/events`` feed recorded for every create/update/delete, expansion of ids,
and the rules of each create/update/delete (required params, linked objects, defaults). No HTTP.
"""

from __future__ import annotations

import bisect
import calendar
import gc
import itertools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubwire.simulators.stripe.objects import RESOURCES, StripeError, Templates, missing, new_id, required

__all__ = ["StripeState"]

_INTERVAL_DAYS = {"day": 1, "week": 7}
# Fields a subscription list filters on, and the statuses a default listing leaves out (as Stripe does).
_SUB_HIDDEN = frozenset({"canceled", "incomplete_expired"})


def _period_end(start: int, interval: str, count: int) -> int:
    if interval in _INTERVAL_DAYS:
        return start + _INTERVAL_DAYS[interval] * count * 86400
    months = count * (12 if interval == "year" else 1)
    d = datetime.fromtimestamp(start, UTC)
    y, m = divmod(d.month - 1 + months, 12)
    day = min(d.day, calendar.monthrange(d.year + y, m + 1)[1])
    return int(d.replace(year=d.year + y, month=m + 1, day=day).timestamp())


def _declined() -> StripeError:
    return StripeError(
        402, "Your card was declined.", type="card_error", code="card_declined", decline_code="generic_decline"
    )


class _Index:
    """Ids of one resource sorted by ``(created, seq)`` ascending; pages are read backwards (newest first)."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []
        self.ids: list[str] = []

    def add(self, key: tuple[int, int], ident: str) -> None:
        if not self.keys or key > self.keys[-1]:
            self.keys.append(key)
            self.ids.append(ident)
        else:
            i = bisect.bisect_left(self.keys, key)
            self.keys.insert(i, key)
            self.ids.insert(i, ident)

    def remove(self, key: tuple[int, int]) -> None:
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]
            del self.ids[i]


class StripeState:
    """Everything the simulated account holds. ``now`` is injectable for tests of time filters."""

    def __init__(self, specs_dir: Path | None, now: Callable[[], float] = time.time) -> None:
        self.templates = Templates(specs_dir)
        self.now = now
        self.store: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in RESOURCES}
        self._index: dict[str, _Index] = {name: _Index() for name in RESOURCES}
        # Keys outlive deletion so a deleted object still works as a pagination cursor.
        self._keys: dict[str, tuple[int, int]] = {}
        self._seq = itertools.count(1)
        # Called with every event recorded (the webhook endpoints deliver it).
        self.listeners: list[Callable[[dict[str, Any]], object]] = []

    # -- storing --------------------------------------------------------------------------------

    def _put(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        key = (int(obj.get("created") or 0), next(self._seq))
        self.store[resource][obj["id"]] = obj
        self._keys[obj["id"]] = key
        self._index[resource].add(key, obj["id"])
        return obj

    def _fresh(self, resource: str, fields: dict[str, Any]) -> dict[str, Any]:
        obj = self.templates.clone(resource)
        ident = fields.pop("id", None) or new_id(RESOURCES[resource][1])
        obj["id"] = ident
        now = int(self.now())
        obj["created"] = fields.pop("created", now)
        if "updated" in obj:
            obj["updated"] = obj["created"]
        obj.update(fields)
        if resource == "subscription":
            obj["items"]["url"] = f"/v1/subscription_items?subscription={ident}"
        if resource == "invoice":
            obj["lines"]["url"] = f"/v1/invoices/{ident}/lines"
        if resource == "payment_intent":
            obj["client_secret"] = f"{ident}_secret_{new_id('s')[2:]}"
        return obj

    def seed(self, resource: str, **fields: Any) -> dict[str, Any]:
        """Store one pre-existing object (no event): the template, a new id, ``created`` now, ``fields``.

        Conveniences, so fixtures stay short: a subscription's ``items=[{"price": id, "quantity": n}]``
        becomes its list of subscription items (prices or plans looked up in the store) and sets its
        currency and current period; a price's ``recurring={"interval": ...}`` gets Stripe's defaults
        and ``type="recurring"``; ``unit_amount``/``amount`` fill the ``*_decimal`` twin.
        """
        self._check_resource(resource)
        return self._seed_one(resource, fields)

    def _seed_one(self, resource: str, fields: dict[str, Any]) -> dict[str, Any]:
        if any(isinstance(v, dict | list) for v in fields.values()):
            fields = json.loads(json.dumps(fields))  # seeded objects never share nested values
        else:
            fields = dict(fields)
        if resource == "price":
            recurring = fields.get("recurring")
            if isinstance(recurring, dict):
                defaults = {"aggregate_usage": None, "interval": "month", "interval_count": 1, "usage_type": "licensed"}
                fields["recurring"] = {**defaults, **recurring}
                fields.setdefault("type", "recurring")
            if fields.get("unit_amount") is not None:
                fields.setdefault("unit_amount_decimal", str(fields["unit_amount"]))
        if resource == "plan" and fields.get("amount") is not None:
            fields.setdefault("amount_decimal", str(fields["amount"]))
        items = fields.pop("items", None) if resource == "subscription" else None
        obj = self._fresh(resource, fields)
        if resource == "subscription":
            created = int(obj["created"])
            for key in ("start_date", "billing_cycle_anchor", "current_period_start"):
                if key not in fields:
                    obj[key] = created
            interval, count = "month", 1
            if isinstance(items, list):
                obj["items"]["data"] = [self._item(obj["id"], dict(it), i) for i, it in enumerate(items)]
                obj["items"]["total_count"] = len(items)
                if items:
                    price = obj["items"]["data"][0]["price"]
                    if "currency" not in fields:
                        obj["currency"] = price["currency"]
                    recurring = price.get("recurring") or {}
                    interval, count = recurring.get("interval", "month"), int(recurring.get("interval_count", 1))
            if "current_period_end" not in fields:
                obj["current_period_end"] = _period_end(int(obj["current_period_start"]), interval, count)
        return self._put(resource, obj)

    def seed_many(self, resource: str, n: int, **fields: Any) -> list[dict[str, Any]]:
        self._check_resource(resource)
        # The cyclic GC rescans every stored object as the heap grows; 100,000 seeds would spend most time there.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            if resource in ("price", "plan", "subscription") or any(
                isinstance(v, dict | list) for v in fields.values()
            ):
                return [self._seed_one(resource, fields) for _ in range(n)]
            return [self._put(resource, self._fresh(resource, dict(fields))) for _ in range(n)]
        finally:
            if was_enabled:
                gc.enable()

    @staticmethod
    def _check_resource(resource: str) -> None:
        if resource not in RESOURCES or resource == "event":
            raise ValueError(f"unknown Stripe resource {resource!r}; one of {sorted(set(RESOURCES) - {'event'})}")

    def get(self, resource: str, ident: str) -> dict[str, Any]:
        obj = self.store[resource].get(ident)
        if obj is None:
            raise missing(resource, ident)
        return obj

    def find(self, ident: str) -> dict[str, Any] | None:
        for objects in self.store.values():
            obj = objects.get(ident)
            if obj is not None:
                return obj
        return None

    # -- events ---------------------------------------------------------------------------------

    def expire_events(self) -> int:
        """Forget every event, as Stripe does once they are 30 days old: what changed before is then
        seen only in the lists (a deleted object by its absence). Returns how many were forgotten."""
        gone = list(self.store["event"])
        for ident in gone:
            self._index["event"].remove(self._keys[ident])
        self.store["event"].clear()
        return len(gone)

    def record_event(
        self,
        resource: str,
        action: str,
        obj: dict[str, Any],
        previous: dict[str, Any] | None = None,
        request: tuple[str | None, str | None] = (None, None),
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"object": json.loads(json.dumps(obj))}
        if previous:
            data["previous_attributes"] = json.loads(json.dumps(previous))
        event = self._fresh("event", {"type": f"{RESOURCES[resource][2]}.{action}", "data": data})
        event["request"] = {"id": request[0], "idempotency_key": request[1]}
        self._put("event", event)
        for listener in self.listeners:
            listener(event)
        return event

    def update(
        self, resource: str, ident: str, fields: dict[str, Any], request: tuple[str | None, str | None] = (None, None)
    ) -> dict[str, Any]:
        """Apply already-typed ``fields`` as Stripe would (metadata merges, ``""`` unsets) and record the event."""
        obj = self.get(resource, ident)
        previous: dict[str, Any] = {}
        for key, value in fields.items():
            if key in ("expand", "id", "object", "created"):
                continue
            if key == "metadata":
                meta = dict(obj.get("metadata") or {})
                previous["metadata"] = dict(meta)
                if value == "":
                    meta = {}
                else:
                    for mk, mv in value.items():
                        if mv == "":
                            meta.pop(mk, None)
                        else:
                            meta[mk] = mv
                obj["metadata"] = meta
                continue
            if key not in obj:
                continue  # an instruction (proration_behavior...), not a stored field
            new = None if value == "" else value
            if obj[key] != new:
                previous[key] = obj[key]
                obj[key] = new
        if "updated" in obj:
            obj["updated"] = max(int(self.now()), int(obj.get("updated") or 0))
        self.record_event(resource, "updated", obj, previous, request)
        return obj

    def delete(self, resource: str, ident: str, request: tuple[str | None, str | None] = (None, None)) -> None:
        obj = self.store[resource].pop(ident, None)
        if obj is None:
            raise missing(resource, ident)
        self._index[resource].remove(self._keys[ident])
        self.record_event(resource, "deleted", obj, None, request)

    # -- lists ----------------------------------------------------------------------------------

    def page(
        self,
        resource: str,
        limit: int,
        starting_after: str | None = None,
        ending_before: str | None = None,
        created: dict[str, int] | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page, newest first, and whether more follow in the direction of travel."""
        index = self._index[resource]
        objects = self.store[resource]
        lo, hi = 0, len(index.keys)
        if created:
            if "gte" in created or "gt" in created:
                floor = created["gte"] if "gte" in created else created["gt"] + 1
                lo = bisect.bisect_left(index.keys, (floor, -1))
            if "lte" in created or "lt" in created:
                ceil = created["lte"] if "lte" in created else created["lt"] - 1
                hi = bisect.bisect_right(index.keys, (ceil, 1 << 62))
        for cursor, param in ((starting_after, "starting_after"), (ending_before, "ending_before")):
            if cursor is not None and cursor not in self._keys:
                raise missing(resource, cursor, param=param, status=400)
        out: list[dict[str, Any]] = []
        if ending_before is not None:
            lo = max(lo, bisect.bisect_right(index.keys, self._keys[ending_before]))
            i = lo
            while i < hi and len(out) <= limit:
                obj = objects[index.ids[i]]
                if keep is None or keep(obj):
                    out.append(obj)
                i += 1
            more = len(out) > limit
            return list(reversed(out[:limit])), more
        if starting_after is not None:
            hi = min(hi, bisect.bisect_left(index.keys, self._keys[starting_after]))
        i = hi - 1
        while i >= lo and len(out) <= limit:
            obj = objects[index.ids[i]]
            if keep is None or keep(obj):
                out.append(obj)
            i -= 1
        return out[:limit], len(out) > limit

    def count(self, resource: str) -> int:
        return len(self.store[resource])

    # -- expansion ------------------------------------------------------------------------------

    def expand(self, node: Any, paths: list[str]) -> Any:
        """A copy of ``node`` with the ids named by ``paths`` (``customer``, ``data.customer``) replaced by objects."""
        for path in paths:
            node = self._expand(node, path.split("."))
        return node

    def _expand(self, node: Any, parts: list[str]) -> Any:
        if not parts:
            return node
        if isinstance(node, list):
            return [self._expand(n, parts) for n in node]
        if not isinstance(node, dict) or parts[0] not in node:
            return node
        value = node[parts[0]]
        if isinstance(value, str):
            value = self.find(value) or value
        return {**node, parts[0]: self._expand(value, parts[1:])}

    # -- creates --------------------------------------------------------------------------------

    def create(
        self, resource: str, params: dict[str, Any], request: tuple[str | None, str | None] = (None, None)
    ) -> dict[str, Any]:
        """Create as ``POST /v1/<collection>`` does; raises :class:`StripeError` on a bad request."""
        params = {k: v for k, v in params.items() if k != "expand"}
        build = getattr(self, f"_build_{resource}")
        obj: dict[str, Any] = build(params)
        self._put(resource, obj)
        self.record_event(resource, "succeeded" if resource == "charge" else "created", obj, None, request)
        return obj

    def _fields(self, resource: str, params: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
        tpl_keys = self.templates.clone(resource).keys()
        out = {k: v for k, v in params.items() if k in tpl_keys and k not in skip}
        if out.get("metadata") == "":
            out["metadata"] = {}
        if "id" in params:
            out["id"] = params["id"]
        return out

    def _linked(self, resource: str, ident: Any, param: str) -> dict[str, Any]:
        obj = self.store[resource].get(ident) if isinstance(ident, str) else None
        if obj is None:
            raise missing(resource, str(ident), param=param, status=400)
        return obj

    def _build_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        fields = self._fields("customer", p)
        if isinstance(fields.get("address"), dict):
            keys = ("city", "country", "line1", "line2", "postal_code", "state")
            fields["address"] = {k: fields["address"].get(k) for k in keys}
        return self._fresh("customer", fields)

    def _build_product(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("name"):
            raise required("name")
        return self._fresh("product", self._fields("product", p, skip=("default_price",)))

    def _product_ref(self, p: dict[str, Any]) -> str:
        product = p.get("product")
        if isinstance(product, dict) or "product_data" in p:
            data = product if isinstance(product, dict) else p["product_data"]
            made = self._build_product(dict(data))
            self._put("product", made)
            self.record_event("product", "created", made)
            return str(made["id"])
        if product is None:
            raise required("product")
        return str(self._linked("product", product, "product")["id"])

    def _build_price(self, p: dict[str, Any]) -> dict[str, Any]:
        if "currency" not in p:
            raise required("currency")
        fields = self._fields("price", p, skip=("product", "recurring", "type"))
        fields["product"] = self._product_ref(p)
        recurring = p.get("recurring")
        if isinstance(recurring, dict):
            fields["type"] = "recurring"
            fields["recurring"] = {
                "aggregate_usage": recurring.get("aggregate_usage"),
                "interval": recurring.get("interval", "month"),
                "interval_count": int(recurring.get("interval_count", 1)),
                "usage_type": recurring.get("usage_type", "licensed"),
            }
            if "trial_period_days" in (self.templates.clone("price").get("recurring") or {}):
                fields["recurring"]["trial_period_days"] = recurring.get("trial_period_days")
        else:
            fields["type"] = "one_time"
            fields["recurring"] = None
        amount = p.get("unit_amount")
        fields["unit_amount"] = amount
        fields["unit_amount_decimal"] = str(p.get("unit_amount_decimal", amount if amount is not None else "0"))
        return self._fresh("price", fields)

    def _build_plan(self, p: dict[str, Any]) -> dict[str, Any]:
        for name in ("currency", "interval"):
            if name not in p:
                raise required(name)
        fields = self._fields("plan", p, skip=("product",))
        fields["product"] = self._product_ref(p)
        fields["amount_decimal"] = str(p.get("amount_decimal", p.get("amount", 0)))
        return self._fresh("plan", fields)

    def _price_for(self, item: dict[str, Any], i: int) -> dict[str, Any]:
        ref = item.get("price") or item.get("plan")
        if ref is None:
            raise required(f"items[{i}][price]")
        param = f"items[{i}][{'price' if 'price' in item else 'plan'}]"
        found = self.store["price"].get(ref)
        if found is not None:
            return found
        plan = self.store["plan"].get(ref)
        if plan is None:
            raise missing("price", str(ref), param=param, status=400)
        # A plan used as a price, in the price shape subscription items carry.
        price = self.templates.clone("price")
        price.update(id=plan["id"], created=plan["created"], currency=plan["currency"], product=plan["product"])
        price.update(unit_amount=plan["amount"], unit_amount_decimal=str(plan["amount"]), type="recurring")
        price["recurring"] = {
            "aggregate_usage": plan.get("aggregate_usage"),
            "interval": plan["interval"],
            "interval_count": plan["interval_count"],
            "usage_type": plan.get("usage_type", "licensed"),
        }
        return price

    def _item(self, sub_id: str, item: dict[str, Any], i: int) -> dict[str, Any]:
        obj = self.templates.clone("subscription_item")
        obj.update(id=new_id("si"), created=int(self.now()), subscription=sub_id, metadata=item.get("metadata") or {})
        obj["price"] = json.loads(json.dumps(self._price_for(item, i)))
        obj["quantity"] = int(item.get("quantity", 1))
        return obj

    def _build_subscription(self, p: dict[str, Any]) -> dict[str, Any]:
        if "customer" not in p:
            raise required("customer")
        customer = self._linked("customer", p["customer"], "customer")
        items = p.get("items")
        if not items:
            raise required("items")
        fields = self._fields("subscription", p, skip=("items", "customer", "status"))
        sub = self._fresh("subscription", fields)
        sub["customer"] = customer["id"]
        sub["items"]["data"] = [self._item(sub["id"], dict(it), i) for i, it in enumerate(items)]
        sub["items"]["total_count"] = len(sub["items"]["data"])
        recurring = sub["items"]["data"][0]["price"].get("recurring") or {"interval": "month", "interval_count": 1}
        start = int(sub["created"])
        sub.update(start_date=start, billing_cycle_anchor=start, current_period_start=start)
        sub["currency"] = sub["items"]["data"][0]["price"]["currency"]
        trial_days = p.get("trial_period_days")
        if trial_days:
            sub.update(status="trialing", trial_start=start, trial_end=start + int(trial_days) * 86400)
            sub["current_period_end"] = sub["trial_end"]
        else:
            sub["current_period_end"] = _period_end(start, recurring["interval"], int(recurring["interval_count"]))
        return sub

    def modify_subscription(
        self, ident: str, p: dict[str, Any], request: tuple[str | None, str | None] = (None, None)
    ) -> dict[str, Any]:
        sub = self.get("subscription", ident)
        items = p.pop("items", None)
        if items:
            previous_items = json.loads(json.dumps(sub["items"]))
            current = sub["items"]["data"]
            for i, raw in enumerate(items):
                it = dict(raw)
                if "id" in it:
                    existing = next((x for x in current if x["id"] == it["id"]), None)
                    if existing is None:
                        raise missing("subscription_item", it["id"], param=f"items[{i}][id]", status=400)
                    if it.get("deleted") in (True, "true"):
                        current.remove(existing)
                        continue
                    if "price" in it or "plan" in it:
                        existing["price"] = json.loads(json.dumps(self._price_for(it, i)))
                    if "quantity" in it:
                        existing["quantity"] = int(it["quantity"])
                else:
                    current.append(self._item(ident, it, i))
            sub["items"]["total_count"] = len(current)
            p = {**p, "items": sub["items"]}
            sub["items"] = previous_items  # so update() records the old items as previous_attributes
        return self.update("subscription", ident, p, request)

    def cancel_subscription(self, ident: str, request: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
        sub = self.get("subscription", ident)
        if sub["status"] == "canceled":
            raise StripeError(400, f"No such subscription: '{ident}'", code="resource_missing", param="id")
        now = int(self.now())
        previous = {"status": sub["status"], "canceled_at": sub.get("canceled_at"), "ended_at": sub.get("ended_at")}
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        if isinstance(sub.get("cancellation_details"), dict):
            sub["cancellation_details"]["reason"] = "cancellation_requested"
        self.record_event("subscription", "deleted", sub, previous, request)
        return sub

    def _build_invoice(self, p: dict[str, Any]) -> dict[str, Any]:
        if "customer" not in p:
            raise required("customer")
        fields = self._fields("invoice", p, skip=("customer", "subscription"))
        inv = self._fresh("invoice", fields)
        inv["customer"] = self._linked("customer", p["customer"], "customer")["id"]
        if p.get("subscription"):
            inv["subscription"] = self._linked("subscription", p["subscription"], "subscription")["id"]
        inv["period_start"] = inv["period_end"] = inv["created"]
        return inv

    def _build_payment_intent(self, p: dict[str, Any]) -> dict[str, Any]:
        for name in ("amount", "currency"):
            if name not in p:
                raise required(name)
        fields = self._fields("payment_intent", p, skip=("customer", "status"))
        if p.get("customer"):
            fields["customer"] = self._linked("customer", p["customer"], "customer")["id"]
        pm = p.get("payment_method")
        if p.get("confirm") in (True, "true"):
            if pm is None:
                raise required("payment_method")
            if "Declined" in str(pm) or "decline" in str(pm):
                raise _declined()
            fields.update(status="succeeded", amount_received=p["amount"])
        elif pm is not None:
            fields["status"] = "requires_confirmation"
        return self._fresh("payment_intent", fields)

    def _build_charge(self, p: dict[str, Any]) -> dict[str, Any]:
        for name in ("amount", "currency"):
            if name not in p:
                raise required(name)
        if "Declined" in str(p.get("source", "")):
            raise _declined()
        fields = self._fields("charge", p, skip=("customer",))
        if p.get("customer"):
            fields["customer"] = self._linked("customer", p["customer"], "customer")["id"]
        fields.update(status="succeeded", paid=True, captured=True, amount_captured=p["amount"])
        return self._fresh("charge", fields)
