"""Integration routes that need the provider: connect, disconnect, sync; and the provider catalog.

Credentials go in (connect bodies) and never come out: responses carry the Integration entity,
which holds config but not credentials, plus only what a provider chooses to reveal once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from hubwire.api.auth import hub_of
from hubwire.api.routes.body import json_body_doc, json_object
from hubwire.api.routes.nouns import entity_response
from hubwire.connectors.registry import Provider
from hubwire.domains.platform import Integration
from hubwire.errors import NotFoundError, ValidationError
from hubwire.nouns.schema import camel_to_snake
from hubwire.push import push_status
from hubwire.sync.runs import list_runs

__all__ = ["providers_router", "router"]

router = APIRouter(tags=["Integration"])
providers_router = APIRouter(tags=["Provider"])


class ConnectBody(BaseModel):
    """Connect a provider: credentials and config keywords go alongside (e.g. ``api_key``)."""

    model_config = ConfigDict(extra="allow")
    provider: str
    slug: str | None = None
    name: str | None = None
    api_base_url: str | None = None


class ReconnectBody(BaseModel):
    """New credentials (and config keywords) for an existing Integration."""

    model_config = ConfigDict(extra="allow")
    name: str | None = None
    api_base_url: str | None = None


class ProxyBody(BaseModel):
    """One request to the Integration's provider, sent with its credentials (``path`` under its API)."""

    method: str
    path: str
    query: dict[str, Any] | None = None
    body: dict[str, Any] | None = None


class SyncBody(BaseModel):
    """``full``: list everything and delete what the provider no longer has (a reconciliation);
    ``confirm_deletions``: a reconciliation that deletes past the deletion guard (implies full)."""

    full: bool = False
    confirm_deletions: bool = False


@router.post(
    "/v1/integrations/connect",
    summary="Connect a provider (creates the Integration, or reconnects the existing one)",
    status_code=201,
    response_model=None,
    responses={200: {"description": "an existing Integration was reconnected"}},
    openapi_extra=json_body_doc(ConnectBody),
)
async def connect(request: Request) -> JSONResponse:
    body = await json_object(request)
    provider = body.pop("provider", None)
    if not provider:
        raise ValidationError.single("provider", "required", 'connect needs a provider (e.g. "stripe")')
    if not isinstance(provider, str):
        raise ValidationError.single("provider", "type", "provider must be a string")
    params = {camel_to_snake(k): v for k, v in body.items() if k not in ("integration_id", "version")}
    entity = await Integration.connect(provider=provider, **params)
    # connect creates and connects in one verb (version 1); a reconnect moves an existing one on.
    return entity_response(entity, 201 if entity.version == 1 else 200)


@router.post(
    "/v1/integrations/{id}/connect",
    summary="Connect (or reconnect) an Integration with credentials",
    response_model=None,
    openapi_extra=json_body_doc(ReconnectBody, required=False),
)
async def reconnect(id: str, request: Request) -> JSONResponse:
    body = await json_object(request, required=False)
    params = {camel_to_snake(k): v for k, v in body.items() if k not in ("provider", "version")}
    return entity_response(await Integration.connect(id, provider=body.get("provider"), **params))


@router.post("/v1/integrations/{id}/disconnect", summary="Disconnect an Integration", response_model=None)
async def disconnect(id: str) -> JSONResponse:
    return entity_response(await Integration.disconnect(id))


@router.post(
    "/v1/integrations/{id}/sync",
    summary="Start a sync (enqueued; follow it with the events or the jobs)",
    status_code=202,
    response_model=None,
    openapi_extra=json_body_doc(SyncBody, required=False),
)
async def sync(id: str, request: Request) -> JSONResponse:
    body = await json_object(request, required=False)
    flags = {name: body.pop(name, False) for name in ("full", "confirm_deletions")}
    if body:
        raise ValidationError.single(
            next(iter(body)), "unknown_field", "sync takes only `full` and `confirm_deletions`"
        )
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ValidationError.single(name, "type", f"{name} must be true or false")
    return entity_response(await Integration.sync(id, **flags), 202)


@router.post(
    "/v1/integrations/{id}/proxy",
    summary="Send a request to the Integration's provider with its credentials (a direct call)",
    response_model=None,
    openapi_extra=json_body_doc(ProxyBody),
)
async def proxy(id: str, request: Request) -> dict[str, Any]:
    """The provider's status, a subset of its headers and its body; a provider's 4xx/5xx is the
    typed problem (its code and message), a path off the provider's host a 422 ``foreign_host``."""
    body = await json_object(request)
    unknown = set(body) - set(ProxyBody.model_fields)
    if unknown:
        raise ValidationError.single(min(unknown), "unknown_field", "a proxy takes method, path, query and body")
    client = await Integration.use(id)
    answer = await client.request(
        body.get("method") or "", body.get("path") or "", query=body.get("query"), body=body.get("body")
    )
    return answer.to_dict()


@router.get("/v1/integrations/{id}/schedule", summary="When an Integration next syncs and reconciles")
async def schedule(id: str) -> dict[str, Any]:
    found = await Integration.schedule(id)  # 404 for an unknown integration
    if found is None:
        return {"integration_id": id, "frequency": "manual", "next_run_at": None, "next_reconcile_at": None}
    return found.to_dict()


@router.get("/v1/integrations/{id}/runs", summary="The sync runs of an Integration, newest first")
async def runs(id: str, request: Request, limit: int = 50) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise ValidationError.single("limit", "range", "limit must be an integer from 1 to 1000")
    hub = hub_of(request)
    await Integration.get(id)  # 404 for an unknown integration rather than an empty list
    return {"data": [r.to_dict() for r in await list_runs(hub, id, limit=limit)]}


@router.get("/v1/integrations/{id}/push", summary="An Integration's pushes: how many wait, how many failed")
async def push(id: str, request: Request) -> dict[str, Any]:
    hub = hub_of(request)
    await Integration.get(id)  # 404 for an unknown integration rather than zeros
    return (await push_status(hub, id)).to_dict()


def describe(p: Provider) -> dict[str, Any]:
    """A provider's catalog entry and the names (never values) of what connecting it takes."""
    return {
        **p.catalog(),
        "credential_fields": list(p.credential_fields),
        "required_credentials": list(p.required_credentials),
        "config_fields": list(p.config_fields),
        "syncs": p.syncs,
    }


@providers_router.get("/v1/providers", summary="The catalog of providers that can be connected")
async def list_providers(request: Request) -> dict[str, Any]:
    return {"data": [describe(p) for p in hub_of(request).providers.all()]}


@providers_router.get("/v1/providers/{slug}", summary="One provider of the catalog")
async def get_provider(slug: str, request: Request) -> dict[str, Any]:
    registry = hub_of(request).providers
    if slug not in registry:
        raise NotFoundError(f"no provider {slug!r}", code="unknown_provider", provider=slug)
    return describe(registry.get(slug))
