"""An Integration's field mappings over HTTP: its remote fields, its mappings, their versions.

Every route calls :mod:`hubwire.mappings`. Reading needs a read key; saving (``PUT``) a write key,
whose name is recorded as the version's ``saved_by``. A refused save is a 422 problem listing each
problem (``errors[].field`` like ``Contact[0].transform``), and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from hubwire.api.auth import hub_of
from hubwire.api.routes.body import json_body_doc, json_object
from hubwire.errors import ValidationError
from hubwire.mappings.edit import get_mappings, list_mapping_versions, remote_fields, set_mappings

__all__ = ["router"]

router = APIRouter(tags=["Field mappings"])


class MappingsBody(BaseModel):
    """A Noun's new mappings (they replace its current ones; an empty list removes them)."""

    mappings: list[dict[str, Any]] = Field(
        description='[{"remote": "tier__c", "field": "lifecycleStage", "transform": {"type": "enum", "map": '
        '{"gold": "customer"}}, "direction": "both"}]; transform: string | number | date | enum; '
        "direction: both (default) | pull | push"
    )


@router.get("/v1/integrations/{id}/remote-fields", summary="The provider's fields of the object type that fills a Noun")
async def fields(request: Request, id: str, noun: str = Query(description="Contact, Organization, Deal...")) -> Any:
    found = await remote_fields(id, noun, hub=hub_of(request))
    return {"integration_id": id, "noun": noun, "data": [f.to_json() for f in found]}


@router.get("/v1/integrations/{id}/mappings", summary="An Integration's current field mappings, every Noun's")
async def show(request: Request, id: str) -> dict[str, Any]:
    hub = hub_of(request)
    current = await get_mappings(id, hub=hub)
    saved = await list_mapping_versions(id, hub=hub)
    return {"integration_id": id, "version": saved[0].version if saved else None, "mappings": current}


@router.get("/v1/integrations/{id}/mappings/versions", summary="Every saved version of the mappings, newest first")
async def versions(request: Request, id: str) -> dict[str, Any]:
    return {"data": [v.to_dict() for v in await list_mapping_versions(id, hub=hub_of(request))]}


@router.get("/v1/integrations/{id}/mappings/{noun}", summary="The current field mappings of one Noun")
async def show_noun(request: Request, id: str, noun: str) -> dict[str, Any]:
    current = await get_mappings(id, hub=hub_of(request))
    return {"integration_id": id, "noun": noun, "mappings": current.get(noun, [])}


@router.put(
    "/v1/integrations/{id}/mappings/{noun}",
    summary="Replace one Noun's field mappings: validated, saved as a new version, used from the next sync",
    openapi_extra=json_body_doc(MappingsBody),
)
async def save(request: Request, id: str, noun: str) -> dict[str, Any]:
    body = await json_object(request)
    if "mappings" not in body:
        raise ValidationError.single("mappings", "required", 'the body is {"mappings": [...]}')
    key = getattr(request.state, "api_key", None)
    by = key.name if key is not None else "anonymous"  # authentication disabled (loopback only)
    saved = await set_mappings(id, noun, body["mappings"], by=by, hub=hub_of(request))
    return saved.to_dict()
