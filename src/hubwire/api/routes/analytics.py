"""Analytics forwarding over HTTP: the delivery log per destination and what is still pending.

Destinations themselves are an Integration (``POST /v1/integrations/connect`` with ``provider:
analytics``); events come in at ``POST /v1/collect`` (:mod:`hubwire.api.routes.collect`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from hubwire import analytics
from hubwire.api.auth import hub_of

__all__ = ["router"]

router = APIRouter(tags=["Analytics"])


@router.get("/v1/analytics/deliveries", summary="The forwarding log: one row per batch sent to a destination")
async def list_deliveries(
    request: Request,
    integration: str | None = Query(None, description="only this analytics Integration"),
    destination: str | None = Query(None, description="ga | posthog | sentry | mixpanel | segment"),
    limit: int = Query(50, ge=1, le=1000),
) -> dict[str, Any]:
    hub = hub_of(request)
    rows = await analytics.list_batches(hub, integration_id=integration, destination=destination, limit=limit)
    return {
        "data": [r.to_dict() for r in rows],
        "outbox": await analytics.pending_counts(hub, integration),
    }
