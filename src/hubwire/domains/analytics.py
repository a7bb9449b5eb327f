"""Analytics Nouns of the seed: ``Event`` (what hooks record with ``ctx.Event.create``) and ``Metric``."""

from __future__ import annotations

from hubwire.nouns.noun import Noun

__all__ = ["Event", "Metric"]

Event = Noun(
    "Event",
    {
        "type": "string!#",
        "source": "string",
        "provider": "string",
        "data": "json",
    },
    description="A recorded occurrence, e.g. integration_synced.",
)

Metric = Noun(
    "Metric",
    {
        "name": "string!#",
        "type": "string",
        "value": "number",
        "unit": "string",
        "period": "string",
    },
    description="A measured value.",
)
