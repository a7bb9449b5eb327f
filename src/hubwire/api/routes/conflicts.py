"""The conflict review queue over HTTP: list, show, resolve. Every route calls :mod:`hubwire.conflicts`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from hubwire.api.auth import hub_of
from hubwire.api.routes.body import json_body_doc, json_model
from hubwire.conflicts.review import get_conflict, list_conflicts, resolve_conflict
from hubwire.nouns.values import INT_MAX

__all__ = ["router"]

router = APIRouter(tags=["Conflict"])
ConflictId = Path(ge=1, le=INT_MAX)


@router.get("/v1/conflicts", summary="Conflicts, newest first")
async def list_(
    request: Request,
    integration_id: str | None = Query(None),
    noun: str | None = Query(None, description="the Noun of the entity in conflict (Customer, Contact...)"),
    status: Literal["open", "resolved"] | None = Query(None),
    entity_id: str | None = Query(None),
    limit: int = Query(50, ge=1, le=1000),
    before: int | None = Query(None, ge=1, le=INT_MAX, description="only conflicts with a smaller id (the next page)"),
) -> dict[str, Any]:
    rows = await list_conflicts(
        integration_id=integration_id,
        noun=noun,
        status=status,
        entity_id=entity_id,
        limit=limit,
        before=before,
        hub=hub_of(request),
    )
    return {"data": [c.to_dict() for c in rows], "next_before": rows[-1].id if len(rows) == limit else None}


@router.get("/v1/conflicts/{id:int}", summary="One conflict with each field's base, local and remote values")
async def get(request: Request, id: int = ConflictId) -> dict[str, Any]:
    return (await get_conflict(id, hub=hub_of(request))).to_dict()


class ResolveBody(BaseModel):
    take: Literal["local", "remote"] | None = Field(
        None, description="the side every open field takes (unless given in values)"
    )
    values: dict[str, Any] | None = Field(None, description="field -> the value it takes, on both sides")
    reason: str | None = Field(None, max_length=2000, description="why: kept in the audit trail")


@router.post(
    "/v1/conflicts/{id:int}/resolve",
    summary="Decide an open conflict and apply it to the entity and the provider",
    openapi_extra=json_body_doc(ResolveBody),
)
async def resolve(request: Request, id: int = ConflictId) -> dict[str, Any]:
    body = await json_model(request, ResolveBody)
    key = getattr(request.state, "api_key", None)
    by = key.name if key is not None else "anonymous"  # authentication disabled (loopback only)
    resolved = await resolve_conflict(
        id, take=body.take, values=body.values, reason=body.reason, by=by, hub=hub_of(request)
    )
    return resolved.to_dict()
