"""Analytics over HTTP: the forwarding log per destination, what is still pending, and lakehouse queries.

Destinations themselves are an Integration (``POST /v1/integrations/connect`` with ``provider:
analytics``); events come in at ``POST /v1/collect`` (:mod:`hubwire.api.routes.collect`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from hubwire import analytics, lakehouse
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


@router.get(
    "/v1/analytics/query",
    summary="A read-only SQL query (one SELECT, DuckDB) over the lakehouse's view `events`",
)
async def run_query(
    request: Request,
    sql: str = Query(
        ..., min_length=1, max_length=20000, description='e.g. "select event, count(*) from events group by 1"'
    ),
    max_rows: int | None = Query(None, ge=1, le=100000, description="rows at most (default: the setting)"),
) -> dict[str, Any]:
    """422 ``query_refused`` for anything but one SELECT reading the events, ``query_timeout`` when
    it ran longer than ``HUBWIRE_LAKEHOUSE_QUERY_TIMEOUT``."""
    hub = hub_of(request)
    limit = min(max_rows or hub.settings.lakehouse_query_max_rows, hub.settings.lakehouse_query_max_rows)
    return (await lakehouse.query(hub, sql, max_rows=limit)).to_dict()
