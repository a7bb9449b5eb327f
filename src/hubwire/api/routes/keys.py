"""API keys over HTTP (admin scope only, see :mod:`hubwire.api.scopes`): list, create, revoke.

The key itself is in the creation answer and nowhere else, ever; neither it nor its hash is
listed or returned again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hubwire.api.auth import hub_of
from hubwire.api.keys import create_api_key, list_api_keys, revoke_api_key
from hubwire.api.routes.body import json_object
from hubwire.api.scopes import Scope
from hubwire.errors import ValidationError

__all__ = ["router"]

router = APIRouter(tags=["API key"])


class ApiKeyCreate(BaseModel):
    """A new key: its scope is a decision, so it has no default here."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("default", min_length=1, max_length=200, description="a name to tell keys apart")
    scope: Scope = Field(description="read (GET only), write (Nouns and their verbs) or admin (everything)")


@router.get("/v1/api-keys", summary="API keys, oldest first (never the keys themselves)")
async def list_keys(request: Request) -> dict[str, Any]:
    return {"data": [k.to_dict() for k in await list_api_keys(hub_of(request))]}


@router.post(
    "/v1/api-keys",
    summary="Create an API key: the answer holds the key, shown this once",
    status_code=201,
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ApiKeyCreate.model_json_schema()}},
        }
    },
)
async def create_key(request: Request) -> JSONResponse:
    body = await json_object(request)
    unknown = sorted(set(body) - set(ApiKeyCreate.model_fields))
    if unknown:
        raise ValidationError.single(unknown[0], "unknown_field", "an API key takes only `name` and `scope`")
    if "scope" not in body:
        raise ValidationError.single("scope", "required", "choose the key's scope: read, write or admin")
    record, key = await create_api_key(hub_of(request), body.get("name", "default"), body["scope"])
    return JSONResponse({**record.to_dict(), "key": key}, status_code=201)


@router.delete("/v1/api-keys/{id}", summary="Revoke an API key (requests with it are refused from now on)")
async def revoke_key(id: str, request: Request) -> dict[str, Any]:
    return (await revoke_api_key(hub_of(request), id)).to_dict()
