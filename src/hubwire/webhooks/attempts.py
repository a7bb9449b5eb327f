"""The deliveries and attempts log, and the operations on it: resend, recover, replay, test, rotate.

The SDK of outbound webhooks; the REST routes and the CLI call these and nothing else.

Statuses of a delivery: ``pending`` (not yet attempted), ``failed`` (the last attempt failed, a
retry is scheduled), ``succeeded``, ``dead`` (attempts exhausted, endpoint disabled or payload
too large). Resending and replaying apply to deliveries that are not waiting for a retry
(succeeded or dead); recovering sends failed ones (dead, or waiting for a retry) again now. All
keep the delivery's ``webhook-id``, so consumers dedupe on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.errors import ConflictError, NotFoundError, ValidationError
from hubwire.events.registry import register as register_event
from hubwire.extensions import on_hub
from hubwire.jobs import queue
from hubwire.net.redact import redact_values, secret_strings
from hubwire.store.events import EventRecord, iso
from hubwire.store.ids import new_id
from hubwire.store.tables import events, jobs, webhook_attempts, webhook_deliveries
from hubwire.vault.credentials import load_credentials, save_credentials
from hubwire.webhooks.delivery import DELIVER_JOB, deliverer
from hubwire.webhooks.endpoints import PROVIDER, Endpoint, active_endpoints
from hubwire.webhooks.fanout import event_body
from hubwire.webhooks.signing import ROTATION_GRACE, new_secret, rotated

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = [
    "STATUSES",
    "TEST_EVENT",
    "AttemptRow",
    "DeliveryRow",
    "get_delivery",
    "list_attempts",
    "list_deliveries",
    "prune",
    "recover",
    "resend",
    "retry_dead",
    "rotate_secret",
    "send_test",
]

STATUSES = ("pending", "failed", "succeeded", "dead")
TEST_EVENT = "webhook.test"
register_event(
    TEST_EVENT,
    schema={
        "type": "object",
        "properties": {"endpoint": {"type": "string"}, "message": {"type": "string"}},
        "required": ["endpoint", "message"],
    },
    display_name="Webhook test",
    description="Sent to one endpoint on demand (send_test, POST /v1/webhooks/endpoints/{id}/test), never fanned out.",
    category="webhook",
    example={"endpoint": "integration_Xq7Lm2Pz", "message": "a test event from Hubwire"},
)
_REQUEUE_CHUNK = 500


@dataclass(frozen=True)
class DeliveryRow:
    id: str
    endpoint_id: str
    event_id: str
    event_seq: int | None
    event_type: str
    status: str
    attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("next_attempt_at", "created_at", "updated_at"):
            d[k] = iso(d[k]) if d[k] is not None else None
        return d


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: str
    attempt: int
    started_at: float
    latency_ms: float | None
    status_code: int | None
    response_body: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"] = iso(self.started_at)
        return d


def _delivery(r: Any) -> DeliveryRow:
    return DeliveryRow(*(getattr(r, c.name) for c in webhook_deliveries.columns))


async def list_deliveries(
    hub: Hub,
    *,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    since: float | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[DeliveryRow]:
    """Deliveries, newest first, filtered by endpoint, event, status and creation time."""
    if status is not None and status not in STATUSES:
        raise ValidationError.single("status", "enum", f"status must be one of: {', '.join(STATUSES)}")
    d = webhook_deliveries.c
    q = sa.select(webhook_deliveries).order_by(d.created_at.desc(), d.id.desc()).limit(max(1, min(limit, 1000)))
    if endpoint_id:
        q = q.where(d.endpoint_id == endpoint_id)
    if event_id:
        q = q.where(d.event_id == event_id)
    if status:
        q = q.where(d.status == status)
    if since is not None:
        q = q.where(d.created_at >= since)
    async with hub.read() as conn:
        if before:
            cut = (await conn.execute(sa.select(d.created_at).where(d.id == before))).scalar_one_or_none()
            if cut is not None:
                q = q.where(sa.or_(d.created_at < cut, sa.and_(d.created_at == cut, d.id < before)))
        return [_delivery(r) for r in (await conn.execute(q)).all()]


async def get_delivery(hub: Hub, delivery_id: str) -> DeliveryRow:
    async with hub.read() as conn:
        r = (await conn.execute(sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id))).first()
    if r is None:
        raise NotFoundError(f"no webhook delivery {delivery_id}", delivery_id=delivery_id)
    return _delivery(r)


async def list_attempts(hub: Hub, delivery_id: str) -> list[AttemptRow]:
    """A delivery's attempts; response bodies masked of the endpoint's current secrets and header values
    (bodies are masked when stored too: this also covers rows kept before a secret was set or rotated)."""
    delivery = await get_delivery(hub, delivery_id)
    a = webhook_attempts.c
    q = sa.select(webhook_attempts).where(a.delivery_id == delivery_id).order_by(a.attempt, a.id)
    async with hub.read() as conn:
        rows = (await conn.execute(q)).all()
    secrets = secret_strings(await load_credentials(hub, delivery.endpoint_id)) if rows else []
    return [
        AttemptRow(
            r.delivery_id,
            r.attempt,
            r.started_at,
            r.latency_ms,
            r.status_code,
            None if r.response_body is None else redact_values(r.response_body, secrets),
            r.error,
        )
        for r in rows
    ]


async def _endpoint(tx: Tx, endpoint_id: str) -> Endpoint:
    for ep in await active_endpoints(tx.conn):
        if ep.id == endpoint_id:
            return ep
    raise ConflictError(
        f"webhook endpoint {endpoint_id} is not active (or does not exist); reconnect it first",
        code="endpoint_inactive",
        integration_id=endpoint_id,
    )


def _test_body(row: DeliveryRow) -> str:
    data = {"endpoint": row.endpoint_id, "message": "a test event from Hubwire"}
    return event_body(row.event_type, row.created_at, None, data)


async def _requeue(tx: Tx, rows: Sequence[DeliveryRow]) -> int:
    """Put deliveries back in the queue (status pending), keeping their webhook-id; skip inactive endpoints."""
    if not rows:
        return 0
    endpoints = {e.id: e for e in await active_endpoints(tx.conn)}
    rows = [r for r in rows if r.endpoint_id in endpoints]
    ids = [r.event_id for r in rows if r.event_type != TEST_EVENT]
    bodies: dict[str, str] = {}
    for i in range(0, len(ids), _REQUEUE_CHUNK):
        for e in (await tx.conn.execute(sa.select(events).where(events.c.id.in_(ids[i : i + _REQUEUE_CHUNK])))).all():
            bodies[e.id] = event_body(e.type, e.created_at, e.seq, EventRecord.from_row(e).data)
    now = tx.hub.clock()
    n = 0
    for r in rows:
        body = _test_body(r) if r.event_type == TEST_EVENT else bodies.get(r.event_id)
        if body is None:
            continue  # the event is gone from the log
        payload = {"delivery": r.id, "endpoint": r.endpoint_id, "body": body, "base": r.attempts}
        ep = endpoints[r.endpoint_id]
        job = await queue.enqueue(tx, DELIVER_JOB, payload, key=f"webhook:{r.id}", max_attempts=ep.policy.max_attempts)
        if job is None:
            continue
        await tx.conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id == r.id)
            .values(status="pending", next_attempt_at=now, updated_at=now)
        )
        n += 1
    return n


async def resend(hub: Hub, delivery_id: str) -> DeliveryRow:
    """Send one delivery again (same webhook-id); it must be succeeded or dead."""
    row = await get_delivery(hub, delivery_id)
    if row.status not in ("succeeded", "dead"):
        raise ConflictError(
            f"delivery {delivery_id} is {row.status}: an attempt is already scheduled", delivery_id=delivery_id
        )
    async with hub.transaction() as tx:
        await _endpoint(tx, row.endpoint_id)
        if not await _requeue(tx, [row]):
            raise ConflictError(f"delivery {delivery_id} cannot be resent (its event is gone)", delivery_id=delivery_id)
    return await get_delivery(hub, delivery_id)


async def _dead_rows(hub: Hub, endpoint_id: str | None, since: float | None) -> list[DeliveryRow]:
    d = webhook_deliveries.c
    q = sa.select(webhook_deliveries).where(d.status == "dead").order_by(d.created_at, d.id)
    if endpoint_id:
        q = q.where(d.endpoint_id == endpoint_id)
    if since is not None:
        q = q.where(d.updated_at >= since)
    async with hub.read() as conn:
        rows = [_delivery(r) for r in (await conn.execute(q)).all()]
    # A payload over the limit fails the same way every time.
    return [r for r in rows if not (r.last_error or "").startswith("payload_too_large")]


async def recover(hub: Hub, endpoint_id: str, since: float) -> int:
    """Send again now every delivery of an endpoint that failed since ``since``: those still waiting
    for a retry (``failed``) are moved to now, the dead ones requeued. Returns how many."""
    d = webhook_deliveries.c
    async with hub.transaction() as tx:
        await _endpoint(tx, endpoint_id)
        waiting = (
            await tx.conn.execute(
                sa.select(d.id).where(d.endpoint_id == endpoint_id, d.status == "failed", d.updated_at >= since)
            )
        ).scalars()
        ids = list(waiting)
        now = hub.clock()
        n = 0
        for i in range(0, len(ids), _REQUEUE_CHUNK):
            chunk = ids[i : i + _REQUEUE_CHUNK]
            # A failed delivery's job is queued for its next attempt: that attempt is simply brought forward.
            res = await tx.conn.execute(
                jobs.update()
                .where(
                    jobs.c.kind == DELIVER_JOB,
                    jobs.c.status == "queued",
                    jobs.c.payload["delivery"].as_string().in_(chunk),
                )
                .values(run_at=now, updated_at=now)
            )
            await tx.conn.execute(
                webhook_deliveries.update().where(d.id.in_(chunk), d.status == "failed").values(next_attempt_at=now)
            )
            n += int(res.rowcount or 0)
        if n:
            queue.wake_workers(tx)
    return n + await retry_dead(hub, endpoint_id=endpoint_id, since=since)


async def retry_dead(hub: Hub, *, endpoint_id: str | None = None, since: float | None = None) -> int:
    """Requeue dead deliveries in bulk (of one endpoint, dead since a time); returns how many."""
    rows = await _dead_rows(hub, endpoint_id, since)
    n = 0
    for i in range(0, len(rows), _REQUEUE_CHUNK):
        async with hub.transaction() as tx:
            n += await _requeue(tx, rows[i : i + _REQUEUE_CHUNK])
    return n


async def send_test(hub: Hub, endpoint_id: str) -> DeliveryRow:
    """Queue a ``webhook.test`` event to one endpoint (signed and retried like any other)."""
    now = hub.clock()
    did = new_id("msg", 16)
    row = DeliveryRow(
        did, endpoint_id, new_id("evt_test", 12), None, TEST_EVENT, "pending", 0, now, None, None, now, now
    )
    async with hub.transaction() as tx:
        ep = await _endpoint(tx, endpoint_id)
        values = {k: v for k, v in asdict(row).items()}
        await tx.conn.execute(webhook_deliveries.insert().values(**values))
        payload = {"delivery": did, "endpoint": ep.id, "body": _test_body(row)}
        await queue.enqueue(tx, DELIVER_JOB, payload, max_attempts=ep.policy.max_attempts)
    return row


async def rotate_secret(hub: Hub, endpoint_id: str, *, secret: str | None = None, grace: float = ROTATION_GRACE) -> str:
    """Replace an endpoint's secret; the old one still signs for ``grace`` seconds. Returns the new secret (once)."""
    from hubwire.domains.platform import Integration

    token = hub.activate()
    try:
        entity = await Integration.get(endpoint_id)
    finally:
        token.var.reset(token)
    if entity.get("provider") != PROVIDER:
        raise ValidationError.single("id", "not_a_webhook", f"{endpoint_id} is not a webhook endpoint")
    new = secret or new_secret()
    creds = rotated(await load_credentials(hub, endpoint_id), new, hub.clock(), grace)
    async with hub.transaction() as tx:
        await save_credentials(tx, endpoint_id, creds)
        tx.after_commit(deliverer(hub).cache.clear)
    return new


_PRUNE_CHUNK = 1000
_FINISHED = ("succeeded", "dead")


async def prune(hub: Hub, *, older_than: float | None = None) -> int:
    """Delete finished deliveries (succeeded or dead) last changed more than ``older_than`` seconds
    ago (default: ``HUBWIRE_WEBHOOK_RETENTION_DAYS``; 0 keeps everything), with their attempts and
    their dead jobs (which hold the body). Returns how many deliveries went.

    Pending and retrying deliveries are never deleted, however old. A pruned delivery can no longer
    be listed, resent or replayed; its event stays in the event log. Deletes go in chunks of
    ``_PRUNE_CHUNK`` deliveries, one short transaction each, so writers wait little.
    """
    if older_than is None:
        older_than = hub.settings.webhook_retention_days * 86400.0
    if older_than <= 0:
        return 0
    cutoff = hub.clock() - older_than
    d, a, j = webhook_deliveries.c, webhook_attempts.c, jobs.c
    finished = sa.and_(d.status.in_(_FINISHED), d.updated_at < cutoff)
    total = 0
    # The outer condition is checked again on each row: a delivery resent meanwhile is pending, and
    # stays with its attempts (it then ends the loop early; the next run takes the rest).
    chunk = (
        webhook_deliveries.delete()
        .where(d.id.in_(sa.select(d.id).where(finished).limit(_PRUNE_CHUNK)), finished)
        .returning(d.id)
    )
    while True:
        async with hub.transaction() as tx:
            gone = list((await tx.conn.execute(chunk)).scalars())
            if gone:
                await tx.conn.execute(webhook_attempts.delete().where(a.delivery_id.in_(gone)))
        total += len(gone)
        if len(gone) < _PRUNE_CHUNK:
            break
    # Dead delivery jobs are not how deliveries are replayed (that rebuilds the body from the
    # event): past the retention they only keep a copy of the payload.
    async with hub.transaction() as tx:
        await tx.conn.execute(jobs.delete().where(j.kind == DELIVER_JOB, j.status == "dead", j.updated_at < cutoff))
    return total


@on_hub
def _install(hub: Hub) -> None:
    if prune not in hub.maintenance:
        hub.maintenance.append(prune)
