"""Inbound provider webhooks over HTTP: the public receiver, and the inbox (list, show, replay, stats).

``POST /v1/hooks/{integration_id}`` is public: the provider's signature is its authentication
(:func:`hubwire.inbound.receive`). Its answers: 200 ``{"id", "duplicate"}`` once the webhook and its
apply job are committed; 404 ``no_hook_receiver`` for any id that takes no webhooks (whether it
exists or not); 401 with the signature error's code (``bad_signature``, ``missing_signature``,
``malformed_header``, ``timestamp_out_of_tolerance``); 413 past ``HUBWIRE_INBOUND_MAX_BODY_BYTES``.
The other routes read the inbox and need an API key (replay: write).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from hubwire import inbound
from hubwire.api.auth import hub_of
from hubwire.inbound.verifiers import WebhookRequest

__all__ = ["HOOKS_PREFIX", "public_router", "router"]

# The paths the receiver serves (ids of Integrations): their bodies have the inbound limit.
HOOKS_PREFIX = "/v1/hooks/integration_"

public_router = APIRouter(tags=["Inbound webhook"])
router = APIRouter(tags=["Inbound webhook"])

Status = Literal["received", "applied", "ignored", "failed"]


@public_router.post(
    "/v1/hooks/{integration_id}",
    summary="Receive a provider's webhook (no API key: the provider's signature authenticates it)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the provider's payload, exactly as signed",
        }
    },
)
async def receive(integration_id: str, request: Request) -> dict[str, Any]:
    hub = hub_of(request)
    body = await request.body()
    # The URL the provider called and signed (HubSpot, Twilio): the public base + the path as sent.
    base = hub.settings.public_url or str(request.base_url).rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signed = WebhookRequest(body, request.headers.items(), method=request.method, url=url)
    stored = await inbound.receive(hub, integration_id, signed)
    return {"id": stored.id, "duplicate": stored.duplicate}


@router.get("/v1/hooks/received", summary="Received provider webhooks, newest first")
async def list_received(
    request: Request,
    integration: str | None = Query(None, description="only this Integration's"),
    status: Status | None = Query(None),
    event_type: str | None = Query(None, description="only this event type (customer.updated, issues.opened)"),
    limit: int = Query(50, ge=1, le=1000),
    before: str | None = Query(None, description="the next page: webhooks received before this hook id"),
) -> dict[str, Any]:
    rows = await inbound.list_received(
        hub_of(request), integration_id=integration, status=status, event_type=event_type, limit=limit, before=before
    )
    return {"data": [r.to_dict(body=False) for r in rows], "next_before": rows[-1].id if len(rows) == limit else None}


@router.get("/v1/hooks/received/{id}", summary="One received webhook, with its headers and body")
async def get_received(id: str, request: Request) -> dict[str, Any]:
    return (await inbound.get_received(hub_of(request), id)).to_dict()


@router.post("/v1/hooks/received/{id}/replay", summary="Apply a received webhook again")
async def replay(id: str, request: Request) -> dict[str, Any]:
    return (await inbound.replay(hub_of(request), id)).to_dict(body=False)


@router.get("/v1/hooks/stats", summary="Counts of received, duplicate and refused webhooks per integration")
async def stats(request: Request, integration: str | None = Query(None)) -> dict[str, Any]:
    return {"data": await inbound.stats(hub_of(request), integration)}
