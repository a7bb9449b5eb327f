"""Subscription metrics computed from synced billing Nouns: MRR, ARR, churn, NRR, ARPU, LTV.

Amounts are in the minor unit (cents) of one currency; mixing currencies is the caller's concern
(filter subscriptions by ``currency`` first). Times are epoch seconds or ISO strings.

Formulas
--------
Monthly value of one subscription item (``unit_amount`` per ``interval_count`` ``interval`` s)::

    monthly(item) = unit_amount * quantity * F(interval) / interval_count
    F(day) = 365 / 12,  F(week) = 52 / 12,  F(month) = 1,  F(year) = 1 / 12

MRR of a subscription: the sum over its items, then its discount (applied per invoice)::

    mrr(s) = max(0, sum(monthly(i)) * (1 - percent_off / 100) - amount_off * F(interval₀) / interval_count₀)

where interval₀ is the first item's (the invoice's) interval. A subscription counts at time t
when it had started (``started_at``, else ``created``) by t, was not cancelled by t
(``canceled_at`` unset or later) and its status is a paying one: Active or PastDue (or
Cancelled, for times before its ``canceled_at``). Trials and incomplete ones do not count.

    MRR(t) = sum of mrr(s) counting at t;  ARR(t) = 12 * MRR(t)
    paying(t) = customers with at least one subscription counting at t
    ARPU(t) = MRR(t) / |paying(t)|

For a period [a, b), over the customers C paying at a (new customers excluded):

    customer churn = |{c in C : c not paying at b}| / |C|
    revenue churn  = sum over c in C of max(0, MRR_a(c) - MRR_b(c)) / MRR(a)    (lost + contraction)
    NRR            = sum over c in C of MRR_b(c) / MRR(a)                       (kept + expansion)
    LTV            = ARPU(a) / customer churn   (None when nothing churned: unbounded)

LTV takes the period's churn as a per-month rate: pass a one-month period for the usual figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubwire.domains.billing import Subscription

__all__ = [
    "INTERVAL_FACTOR",
    "Metrics",
    "billing_metrics",
    "compute_metrics",
    "counts_at",
    "monthly",
    "mrr_at",
    "subscription_mrr",
]

INTERVAL_FACTOR = {"day": 365 / 12, "week": 52 / 12, "month": 1.0, "year": 1 / 12}
PAYING = frozenset({"Active", "PastDue", "Cancelled"})

Sub = Mapping[str, Any]


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not a time: {value!r}")


def monthly(item: Mapping[str, Any]) -> float:
    """One item's monthly value: ``unit_amount * quantity * F(interval) / interval_count``."""
    amount = float(item.get("unit_amount") or 0)
    quantity = int(item.get("quantity") or 1)
    factor = INTERVAL_FACTOR.get(str(item.get("interval") or "month"))
    if factor is None:
        raise ValueError(f"unknown interval {item.get('interval')!r}")
    return amount * quantity * factor / int(item.get("interval_count") or 1)


def subscription_mrr(sub: Sub) -> float:
    items = list(sub.get("items") or [])
    if not items:
        return 0.0
    gross = sum(monthly(i) for i in items)
    if sub.get("percent_off"):
        gross *= 1 - float(sub["percent_off"]) / 100
    if sub.get("amount_off"):
        first = items[0]
        gross -= monthly({**first, "unit_amount": sub["amount_off"], "quantity": 1})
    return max(0.0, gross)


def counts_at(sub: Sub, t: float) -> bool:
    """Does the subscription bring revenue at time ``t``?"""
    if sub.get("status") not in PAYING:
        return False
    started = _epoch(sub.get("started_at") or sub.get("created"))
    if started is None or started > t:
        return False
    ended = _epoch(sub.get("canceled_at"))
    if ended is not None and ended <= t:
        return False
    return not (sub.get("status") == "Cancelled" and ended is None)


def mrr_at(subs: Iterable[Sub], t: float) -> dict[str, float]:
    """MRR per customer at ``t`` (customers with no counting subscription are absent)."""
    out: dict[str, float] = {}
    for s in subs:
        if counts_at(s, t):
            key = str(s.get("customer") or s.get("$id"))
            out[key] = out.get(key, 0.0) + subscription_mrr(s)
    return out


@dataclass(frozen=True)
class Metrics:
    start: float
    end: float
    mrr: float  # at ``end``
    arr: float
    arpu: float | None
    paying_customers: int
    customer_churn: float | None
    revenue_churn: float | None
    nrr: float | None
    ltv: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def compute_metrics(subs: Iterable[Sub], start: Any, end: Any) -> Metrics:
    """All metrics for the period ``[start, end)``; point-in-time figures are taken at ``end``."""
    a, b = _epoch(start), _epoch(end)
    assert a is not None and b is not None
    items = list(subs)
    at_a, at_b = mrr_at(items, a), mrr_at(items, b)
    mrr_a, mrr_b = sum(at_a.values()), sum(at_b.values())
    base = set(at_a)
    churned = [c for c in base if c not in at_b]
    customer_churn = len(churned) / len(base) if base else None
    revenue_churn = sum(max(0.0, at_a[c] - at_b.get(c, 0.0)) for c in base) / mrr_a if mrr_a else None
    nrr = sum(at_b.get(c, 0.0) for c in base) / mrr_a if mrr_a else None
    arpu_a = mrr_a / len(base) if base else None
    ltv = arpu_a / customer_churn if arpu_a is not None and customer_churn else None
    return Metrics(
        start=a,
        end=b,
        mrr=mrr_b,
        arr=12 * mrr_b,
        arpu=mrr_b / len(at_b) if at_b else None,
        paying_customers=len(at_b),
        customer_churn=customer_churn,
        revenue_churn=revenue_churn,
        nrr=nrr,
        ltv=ltv,
    )


async def billing_metrics(start: Any, end: Any, *, currency: str | None = None) -> Metrics:
    """The metrics of the current hub's Subscriptions (optionally of one currency) for ``[start, end)``."""
    subs: list[Sub] = []
    cursor: str | None = None
    flt = {"currency": currency} if currency else {}
    while True:
        page = await Subscription.find(flt, limit=1000, cursor=cursor)
        subs.extend(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return compute_metrics(subs, start, end)
