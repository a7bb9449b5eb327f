"""The attempt recorder's batches, written at the same time by several workers."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from hubwire.hub import Hub
from hubwire.store.tables import webhook_attempts, webhook_endpoints
from hubwire.webhooks.delivery import AttemptRecorder, Outcome


async def test_concurrent_batches_over_the_same_endpoints_all_commit(whub: Hub) -> None:
    """Two workers' batches touch the same endpoints in opposite orders: neither may deadlock."""
    endpoints = [f"int_ep{i:02d}" for i in range(20)]
    recorders = [AttemptRecorder(whub), AttemptRecorder(whub)]

    def batch(n: int, order: list[str]) -> list[Outcome]:
        return [Outcome(f"msg_{n}_{eid}", eid, 1, 1000.0 + n, 1.0, 200, "ok", None, "succeeded") for eid in order]

    for rnd in range(40):
        await asyncio.gather(
            recorders[0]._flush(batch(2 * rnd, endpoints)),
            recorders[1]._flush(batch(2 * rnd + 1, endpoints[::-1])),
        )
    async with whub.read() as conn:
        attempts = (await conn.execute(sa.select(sa.func.count()).select_from(webhook_attempts))).scalar()
        healthy = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(webhook_endpoints)
                .where(webhook_endpoints.c.failing_since.is_(None), webhook_endpoints.c.last_success_at.is_not(None))
            )
        ).scalar()
    assert attempts == 40 * 2 * 20 and healthy == 20
