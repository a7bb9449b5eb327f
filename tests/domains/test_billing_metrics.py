"""Billing metrics on a hand-computed fixture (the arithmetic is spelled out next to each figure)."""

from __future__ import annotations

from typing import Any

import pytest

from hubwire.domains.billing import Subscription
from hubwire.domains.billing_metrics import billing_metrics, compute_metrics, monthly, subscription_mrr
from hubwire.hub import Hub

A, B = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"


def sub(customer: str, amount: int, interval: str, *, count: int = 1, qty: int = 1, **extra: Any) -> dict[str, Any]:
    item = {"price": "p", "unit_amount": amount, "quantity": qty, "interval": interval, "interval_count": count}
    return {"customer": customer, "status": "Active", "started_at": "2025-06-01T00:00:00Z", "items": [item], **extra}


FIXTURE = [
    sub("c1", 2000, "month", qty=3, percent_off=50),  # 2000*3*0.5 = 3000 / month
    sub("c1", 1000, "month", started_at="2026-01-20T00:00:00Z"),  # expansion: +1000 by B
    sub("c2", 120000, "year", status="Cancelled", canceled_at="2026-01-15T00:00:00Z"),  # 10000, churns
    sub("c3", 1000, "week", count=2, amount_off=200),  # (1000-200)*52/12/2 = 1733.33
    sub("c4", 100, "day", started_at="2026-01-10T00:00:00Z"),  # new: 100*365/12 = 3041.67
    sub("c5", 5000, "month", count=3, status="Trialing"),  # trial: never counts
    sub("c6", 4000, "month", status="Cancelled", canceled_at="2026-01-25T00:00:00Z"),  # contraction...
    sub("c6", 1500, "month", started_at="2026-01-25T00:00:00Z"),  # ...to 1500
]


def test_monthly_normalises_intervals_counts_and_quantity() -> None:
    assert monthly({"unit_amount": 1200, "interval": "year"}) == pytest.approx(100)
    assert monthly({"unit_amount": 100, "interval": "week", "quantity": 3}) == pytest.approx(100 * 3 * 52 / 12)
    assert monthly({"unit_amount": 10, "interval": "day", "interval_count": 7}) == pytest.approx(10 * 365 / 12 / 7)
    assert monthly({"unit_amount": 900, "interval": "month", "interval_count": 3}) == pytest.approx(300)
    assert subscription_mrr(FIXTURE[0]) == pytest.approx(3000)
    assert subscription_mrr(FIXTURE[3]) == pytest.approx((1000 - 200) * 52 / 12 / 2)
    assert subscription_mrr(sub("x", 100, "month", amount_off=500)) == 0  # a discount never makes it negative


def test_period_metrics_on_the_fixture() -> None:
    m = compute_metrics(FIXTURE, A, B)
    c3 = 800 * 52 / 12 / 2
    c4 = 100 * 365 / 12
    mrr_a = 3000 + 10000 + c3 + 4000  # c1, c2, c3, c6 (c4 not started, c5 trialing)
    mrr_b = (3000 + 1000) + c3 + c4 + 1500
    assert m.mrr == pytest.approx(mrr_b)
    assert m.arr == pytest.approx(12 * mrr_b)
    assert m.paying_customers == 4  # c1, c3, c4, c6
    assert m.arpu == pytest.approx(mrr_b / 4)
    assert m.customer_churn == pytest.approx(1 / 4)  # c2 of {c1, c2, c3, c6}
    assert m.revenue_churn == pytest.approx((10000 + (4000 - 1500)) / mrr_a)  # c1's expansion does not offset
    assert m.nrr == pytest.approx((4000 + 0 + c3 + 1500) / mrr_a)  # c4 is new: excluded
    assert m.ltv == pytest.approx((mrr_a / 4) / (1 / 4))


def test_no_churn_means_unbounded_ltv() -> None:
    m = compute_metrics([sub("c1", 1000, "month")], A, B)
    assert m.customer_churn == 0 and m.ltv is None and m.nrr == pytest.approx(1.0)


async def test_metrics_from_subscription_nouns(hub: Hub) -> None:
    for s in FIXTURE:
        await Subscription.create({k: v for k, v in s.items() if k != "customer"}, currency="usd")
    m = await billing_metrics(A, B, currency="usd")
    # Without customers each subscription is its own payer; MRR does not depend on that.
    assert m.mrr == pytest.approx(compute_metrics(FIXTURE, A, B).mrr)
