"""The event registry (checkstack's integration events): what Hubwire can emit, and code's own events.

    import hubwire

    class Shipped(pydantic.BaseModel):
        order: str
        carrier: str

    hubwire.events.register("Order.Shipped", schema=Shipped, display_name="Order shipped",
                            description="An order left the warehouse", category="Orders")
    await hubwire.events.emit("Order.Shipped", order="ord_1", carrier="DHL")   # validated, then fanned out

    hubwire.events.event_types(prefix="Deal.")   # the catalogue: schemas and an example each
    hubwire.events.event_type("Deal.Closed")

Every Noun's events are in the catalogue without registration (derived from the Noun when looked
up). Subscriptions (``Integration.connect(provider="webhook", events=[...])``) are checked against
it. This package is the registry of event *types*; the event log itself is :mod:`hubwire.store.events`.
"""

from hubwire.events.emit import emit
from hubwire.events.registry import EventType, event_type, event_types, names, nearest, register

__all__ = ["EventType", "emit", "event_type", "event_types", "names", "nearest", "register"]
