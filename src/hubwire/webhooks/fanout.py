"""Fan-out: every appended event becomes one delivery (row + job) per matching endpoint, in its transaction.

Installed on every Hub as an event sink. The endpoints are read inside the event's own
transaction (once per transaction, again after an Integration changed in it); the delivery rows
and jobs are inserted in bulk just before that transaction commits, so a delivery exists if and
only if its event committed. Destinations (chat, mail: :mod:`hubwire.webhooks.destinations`) are
endpoints too, and take the events addressed to them. An endpoint never receives events about itself; endpoints' custom
headers (often credentials of the receiver) are stored encrypted with the secret, so they are in
no event.
The body is fixed here, once: ``{"event", "timestamp", "seq", "data"}``; a body over
``MAX_PAYLOAD`` bytes is recorded as a dead delivery with a ``payload_too_large`` error instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire import jsonfast
from hubwire.extensions import on_hub
from hubwire.jobs import queue
from hubwire.store.events import iso
from hubwire.webhooks import destinations
from hubwire.webhooks.delivery import DELIVER_JOB, deliverer
from hubwire.webhooks.endpoints import PROVIDER, Endpoint, active_endpoints, matches

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.events import EventRecord
    from hubwire.store.transaction import Tx

__all__ = ["MAX_PAYLOAD", "delivery_id", "event_body", "fan_out"]

MAX_PAYLOAD = 256 * 1024


class _Batch:
    """What one transaction fans out: its endpoints (read once), and rows inserted just before commit."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.endpoints: list[Endpoint] | None = None
        self.deliveries: list[dict[str, Any]] = []
        self.jobs: dict[int, list[dict[str, Any]]] = {}

    async def flush(self) -> None:
        # Two statements per transaction, however many events it appended; an event appended
        # after this flush starts a batch of its own (flushed by its own before_commit).
        self.tx.state.pop(_Batch, None)
        deliveries, self.deliveries = self.deliveries, []
        jobs, self.jobs = self.jobs, {}
        if deliveries:
            # One JSON document for all the rows: encoded in one call, no per-row binding.
            await self.tx.conn.execute(_INSERT_DELIVERIES[self.tx.dialect], {"rows": jsonfast.dumps(deliveries)})
        for max_attempts, payloads in jobs.items():
            await queue.enqueue_many(self.tx, DELIVER_JOB, payloads, max_attempts=max_attempts)


_DELIVERY_COLUMNS = (
    "id, endpoint_id, event_id, event_seq, event_type, status, attempts, next_attempt_at, last_status_code, "
    "last_error, created_at, updated_at"
)
_INSERT_DELIVERIES = {
    "postgresql": sa.text(
        f"INSERT INTO webhook_deliveries ({_DELIVERY_COLUMNS}) SELECT {_DELIVERY_COLUMNS} "
        "FROM json_to_recordset(CAST(:rows AS json)) AS r(id text, endpoint_id text, event_id text, "
        "event_seq bigint, event_type text, status text, attempts int, next_attempt_at float8, "
        "last_status_code int, last_error text, created_at float8, updated_at float8)"
    ),
    "sqlite": sa.text(
        f"INSERT INTO webhook_deliveries ({_DELIVERY_COLUMNS}) SELECT "
        + ", ".join(f"json_extract(value, '$.{c.strip()}')" for c in _DELIVERY_COLUMNS.split(","))
        + " FROM json_each(:rows)"
    ),
}


def _selects(ep: Endpoint, event_type: str, addressed_to: str | None) -> bool:
    """A webhook endpoint takes what its filters select; a destination what is addressed to it, or else
    what its filters select among the events it accepts."""
    if ep.provider == PROVIDER:
        return matches(ep.events, event_type)
    if addressed_to is not None:
        return addressed_to == ep.id
    dest = destinations.get(ep.provider)
    return dest is not None and dest.accepts(event_type) and matches(ep.events, event_type)


def delivery_id(event_id: str, endpoint_id: str) -> str:
    """The ``webhook-id`` of (event, endpoint): stable across retries and resends."""
    return "msg_" + hashlib.sha256(f"{event_id}:{endpoint_id}".encode()).hexdigest()[:26]


def event_body(event_type: str, created_at: float, seq: int | None, data: Mapping[str, Any]) -> str:
    return jsonfast.dumps({"event": event_type, "timestamp": iso(created_at), "seq": seq, "data": data}, default=str)


async def fan_out(tx: Tx, ev: EventRecord) -> None:
    batch: _Batch | None = tx.state.get(_Batch)
    if batch is None:
        batch = tx.state[_Batch] = _Batch(tx)
        tx.before_commit(batch.flush)
    if ev.entity_type == "Integration":
        batch.endpoints = None  # an endpoint may have changed in this transaction
        tx.after_commit(deliverer(tx.hub).cache.clear)
    if batch.endpoints is None:
        batch.endpoints = await active_endpoints(tx.conn)
    endpoints = batch.endpoints
    to = destinations.addressed_to(ev.type, ev.data)
    targets = [e for e in endpoints if e.id != ev.entity_id and _selects(e, ev.type, to)]
    if not targets:
        return
    body = event_body(ev.type, ev.created_at, ev.seq, ev.data)
    too_large = len(body.encode()) > MAX_PAYLOAD
    now = tx.hub.clock()
    rows = batch.deliveries
    jobs = batch.jobs
    for ep in targets:
        did = delivery_id(ev.id, ep.id)
        row = {
            "id": did,
            "endpoint_id": ep.id,
            "event_id": ev.id,
            "event_seq": ev.seq,
            "event_type": ev.type,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "last_status_code": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
        }
        if too_large:
            row.update(
                status="dead",
                next_attempt_at=None,
                last_error=f"payload_too_large: {len(body.encode())} bytes > {MAX_PAYLOAD} bytes",
            )
        else:
            jobs.setdefault(ep.policy.max_attempts, []).append({"delivery": did, "endpoint": ep.id, "body": body})
        rows.append(row)


@on_hub
def install(hub: Hub) -> None:
    if fan_out not in hub.event_sinks:
        hub.event_sinks.append(fan_out)
