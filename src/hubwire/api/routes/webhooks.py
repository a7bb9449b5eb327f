"""Outbound webhooks over HTTP: deliveries and their attempts, resend, recover, retry dead, test events, rotation.

Endpoints themselves are Integrations (``POST /v1/integrations/connect`` with ``provider: webhook``).
Every route calls the SDK in :mod:`hubwire.webhooks`; secrets appear only in the rotation answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from hubwire import webhooks
from hubwire.api.auth import hub_of
from hubwire.api.routes.body import json_body_doc, json_model
from hubwire.errors import FieldError, ValidationError
from hubwire.nouns.schema import parse_datetime
from hubwire.nouns.values import EPOCH_MAX, EPOCH_MIN
from hubwire.webhooks.signing import ROTATION_GRACE

__all__ = ["router"]

router = APIRouter(tags=["Webhook"])

Status = Literal["pending", "failed", "succeeded", "dead"]
# A time is ISO 8601 text or epoch seconds (within years 1..9999), as in entity fields.
Since = datetime | Annotated[float, Field(ge=EPOCH_MIN, le=EPOCH_MAX)]


def _since(value: Since | None, field: str = "since") -> float | None:
    if value is None:
        return None
    dt = parse_datetime(field, value)
    if isinstance(dt, FieldError):
        raise ValidationError.single(field, "invalid_datetime", dt.message)
    return dt.timestamp()


@router.get("/v1/webhooks/deliveries", summary="Webhook deliveries, newest first")
async def list_deliveries(
    request: Request,
    endpoint: str | None = Query(None, description="only this endpoint (Integration id)"),
    event: str | None = Query(None, description="only deliveries of this event id"),
    status: Status | None = Query(None),
    since: Since | None = Query(None, description="created at or after this time (ISO 8601 or epoch seconds)"),
    limit: int = Query(50, ge=1, le=1000),
    before: str | None = Query(None, description="the next page: deliveries older than this delivery id"),
) -> dict[str, Any]:
    rows = await webhooks.list_deliveries(
        hub_of(request),
        endpoint_id=endpoint,
        event_id=event,
        status=status,
        since=_since(since),
        limit=limit,
        before=before,
    )
    return {"data": [r.to_dict() for r in rows], "next_before": rows[-1].id if len(rows) == limit else None}


@router.get("/v1/webhooks/deliveries/{id}", summary="One delivery with its attempts")
async def get_delivery(id: str, request: Request) -> dict[str, Any]:
    hub = hub_of(request)
    row = await webhooks.get_delivery(hub, id)
    return {**row.to_dict(), "attempts": [a.to_dict() for a in await webhooks.list_attempts(hub, id)]}


@router.get("/v1/webhooks/deliveries/{id}/attempts", summary="The attempts of one delivery")
async def list_attempts(id: str, request: Request) -> dict[str, Any]:
    return {"data": [a.to_dict() for a in await webhooks.list_attempts(hub_of(request), id)]}


@router.post("/v1/webhooks/deliveries/{id}/resend", summary="Send a succeeded or dead delivery again")
async def resend(id: str, request: Request) -> dict[str, Any]:
    return (await webhooks.resend(hub_of(request), id)).to_dict()


class RecoverBody(BaseModel):
    since: Since = Field(description="resend the endpoint's dead deliveries dead-lettered at or after this ISO time")


@router.post(
    "/v1/webhooks/endpoints/{id}/recover",
    summary="Resend an endpoint's failed deliveries since a time",
    openapi_extra=json_body_doc(RecoverBody),
)
async def recover(id: str, request: Request) -> dict[str, Any]:
    body = await json_model(request, RecoverBody)
    since = _since(body.since)
    assert since is not None
    return {"requeued": await webhooks.recover(hub_of(request), id, since)}


@router.post("/v1/webhooks/endpoints/{id}/test", summary="Send a webhook.test event to an endpoint")
async def send_test(id: str, request: Request) -> dict[str, Any]:
    return (await webhooks.send_test(hub_of(request), id)).to_dict()


class RotateBody(BaseModel):
    secret: str | None = Field(None, description="the new whsec_ secret; generated when omitted")
    grace_seconds: float = Field(ROTATION_GRACE, ge=0, le=30 * 86400, description="how long the old one still signs")


@router.post(
    "/v1/webhooks/endpoints/{id}/rotate-secret",
    summary="Rotate an endpoint's signing secret",
    openapi_extra=json_body_doc(RotateBody, required=False),
)
async def rotate_secret(id: str, request: Request) -> dict[str, Any]:
    body = await json_model(request, RotateBody, required=False)
    secret = await webhooks.rotate_secret(hub_of(request), id, secret=body.secret, grace=body.grace_seconds)
    # Shown once, like a generated secret at connect; a given secret is not echoed.
    return {"id": id, "grace_seconds": body.grace_seconds, **({} if body.secret else {"secret": secret})}


@router.post("/v1/webhooks/retry-dead", summary="Requeue dead deliveries in bulk")
async def retry_dead(
    request: Request,
    endpoint: str | None = Query(None),
    since: Since | None = Query(None, description="dead-lettered at or after this time (ISO or epoch seconds)"),
) -> dict[str, Any]:
    return {"requeued": await webhooks.retry_dead(hub_of(request), endpoint_id=endpoint, since=_since(since))}
