"""Payloads: the events of a transaction, stored once for every outbox row that sends or keeps them.

A transaction that forwards or collects events writes them as one ``analytics_payloads`` row (a
JSON array of :class:`~hubwire.analytics.destinations.AnalyticsEvent`) and, for each destination
and for the lakehouse, an outbox row that refers to it; the payload counts those rows (``refs``).
Each consumer gives its rows' references back (:func:`release`) in the transaction that deletes
them, and the payload whose count reaches 0 is deleted in that same transaction.

Two consumers releasing one payload at once queue on its row lock (PostgreSQL; SQLite has one
writer): each takes its own reference off the count the other left, so exactly the last one
deletes it. Payloads are released in the order of their ids, so two releases never wait on each
other in a circle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hubwire import jsonfast
from hubwire.analytics.destinations import AnalyticsEvent, events_json
from hubwire.store.ids import new_id
from hubwire.store.statements import Statement, Writes, insert

__all__ = ["Payload", "release", "store"]


@dataclass(eq=False)
class Payload:
    """Events to store once, and how many outbox rows will refer to them.

    ``json``: the events as :func:`~hubwire.analytics.destinations.events_json` writes them, when
    the caller has them so (the collect endpoint encodes each request's events as it arrives, while
    they are in the CPU's cache: encoding a transaction's events at once, spread over the heap
    by then, took four times as long); else encoded when stored.
    """

    events: Sequence[AnalyticsEvent]
    id: str = field(default_factory=lambda: new_id("pl", 16))
    refs: int = 0
    json: str | None = None

    def hold(self) -> str:
        """One more outbox row refers to the events: the id it keeps."""
        self.refs += 1
        return self.id


def store(writes: Writes, payloads: Iterable[Payload], now: float) -> None:
    """Add to ``writes`` the insert of the payloads that some row holds."""
    rows = [
        {"id": p.id, "events": events_json(p.events) if p.json is None else p.json, "refs": p.refs, "created_at": now}
        for p in payloads
        if p.refs
    ]
    if rows:
        writes.statements.append(insert(writes.dialect, "analytics_payloads", rows))


def release(dialect: str, payload_ids: Iterable[str]) -> list[Statement]:
    """The statements that give back a reference for each id (an id may come more than once) and
    delete the payloads no row holds any more."""
    counts = sorted(Counter(payload_ids).items())
    if not counts:
        return []
    ids = [i for i, _ in counts]
    if dialect == "postgresql":
        return [
            Statement(
                "UPDATE analytics_payloads SET refs = refs - %(n)s WHERE id = %(id)s",
                [{"id": i, "n": n} for i, n in counts],
                many=True,
            ),
            Statement("DELETE FROM analytics_payloads WHERE id = ANY(%(ids)s) AND refs <= 0", {"ids": ids}),
        ]
    return [
        Statement("UPDATE analytics_payloads SET refs = refs - ? WHERE id = ?", [(n, i) for i, n in counts], many=True),
        Statement(
            "DELETE FROM analytics_payloads WHERE id IN (SELECT value FROM json_each(?)) AND refs <= 0",
            (jsonfast.dumps(ids),),
        ),
    ]
