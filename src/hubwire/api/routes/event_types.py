"""The event catalogue over HTTP: every event Hubwire can emit, with its payload schema and an example.

``GET /v1/event-types`` (filter by ``category`` or name ``prefix``) and ``GET /v1/event-types/{name}``;
an unknown name is a 404 naming the nearest ones. Read from :mod:`hubwire.events` at each request,
so Nouns declared and events registered since the app started are there.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from hubwire.events import event_type, event_types

__all__ = ["router"]

router = APIRouter(tags=["Event"])


@router.get("/v1/event-types", summary="The event catalogue: name, display name, category, schema, example")
async def list_event_types(
    category: str | None = Query(None, description="only this category (any case), e.g. `Deal` or `webhook`"),
    prefix: str | None = Query(None, description="only names starting with this, e.g. `Integration.`"),
) -> dict[str, Any]:
    return {"data": [t.to_dict() for t in event_types(category=category, prefix=prefix)]}


@router.get("/v1/event-types/{name}", summary="One event type (404 with the nearest names when unknown)")
async def get_event_type(name: str) -> dict[str, Any]:
    return event_type(name).to_dict()
