"""Stripe's ``/v1/events`` feed as a sync stream: what changed since the last sync.

Lists with ``created[gte]`` only see new objects; updates and deletions come from events. The
feed's watermark is taken before the first full pull (so changes made while it runs are
replayed), then moves to the newest event applied. A run reads the events since the watermark
(newest first), keeps the newest state of each object and applies them oldest resource first,
so relations resolve. Replaying an event already applied is a no-op (same hash).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from hubwire.connectors.runtime import to_incoming
from hubwire.connectors.spec import Endpoint, Pagination, Resource
from hubwire.connectors.stripe.spec import RESOURCE_OF_EVENT, STRIPE
from hubwire.sync.engine import Batch, Stream
from hubwire.sync.upsert import Incoming

if TYPE_CHECKING:
    from hubwire.connectors.runtime import Connection, SpecProvider

__all__ = ["EVENTS", "events_stream", "newest_event"]

FEED = "events"
EVENTS = Resource(
    FEED,
    list=Endpoint("GET", "/v1/events"),
    incremental_param="created[gte]",
    pagination=Pagination("cursor", page_size=100),
    sync=False,
)


def resource_of(event_type: str) -> str | None:
    for prefix in sorted(RESOURCE_OF_EVENT, key=len, reverse=True):
        if event_type.startswith(prefix + "."):
            return RESOURCE_OF_EVENT[prefix]
    return None


async def newest_event(conn: Connection) -> int:
    """``created`` of the newest event (0 when there is none): the feed's first watermark."""
    body = await conn.call(Endpoint("GET", "/v1/events"), params={"limit": 1})
    data = (body or {}).get("data") or []
    return int(data[0]["created"]) if data else 0


def events_stream(provider: SpecProvider, conn: Connection) -> Stream:
    async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
        since = state.get("since")
        if since is None:
            return  # the watermark is set before the first pull (StripeProvider.sync)
        newest: dict[str, tuple[str, dict[str, Any], str]] = {}
        top = int(since)
        async for records, _ in conn.pages(EVENTS, {"created[gte]": int(since)}):
            for ev in records:
                top = max(top, int(ev.get("created") or 0))
                resource = resource_of(str(ev.get("type") or ""))
                obj = (ev.get("data") or {}).get("object")
                if resource is None or not isinstance(obj, dict) or not obj.get("id"):
                    continue
                # Newest first: the first event seen for an object is its latest state.
                newest.setdefault(obj["id"], (resource, obj, str(ev["type"])))
        order = [r.name for r in STRIPE.resources]
        groups: dict[str, list[Incoming]] = {name: [] for name in order}
        for resource, obj, etype in newest.values():
            spec = STRIPE.resource(resource)
            inc = to_incoming(spec, obj)
            if inc is None:
                continue
            # customer.subscription.deleted means canceled: the subscription stays, with its status.
            inc.deleted = etype.endswith(".deleted") and resource != "subscription"
            groups[resource].append(inc)
        todo = [name for name in order if groups[name]]
        for i, name in enumerate(todo):
            last = i == len(todo) - 1
            for start in range(0, len(groups[name]), 100):
                chunk = groups[name][start : start + 100]
                final = last and start + 100 >= len(groups[name])
                yield Batch(
                    chunk,
                    {"since": top if final else since},
                    noun=provider.noun(STRIPE.resource(name)),
                    resource=name,
                )
        if not todo:
            yield Batch([], {"since": top}, noun=provider.noun(STRIPE.resource("customer")), resource="customer")

    return Stream(FEED, None, pages, listing=False)  # a feed of changes: its silence deletes nothing
