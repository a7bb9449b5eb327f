"""Reading JSON request bodies and JSON query parameters ourselves, so the Noun (not pydantic) validates fields.

A malformed body is a 400 problem; a body that is valid JSON but not an object, or that breaks a
limit every stored value keeps (:mod:`hubwire.nouns.values`: valid Unicode in values and keys,
finite 64-bit numbers, at most 64 levels of nesting), is a 422 naming the field. Size is not
checked here: :class:`hubwire.api.limits.RequestLimits` refuses a large body while it is read,
for every route.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pydantic
from fastapi import Request

from hubwire.api.problems import MalformedBody
from hubwire.errors import FieldError, ValidationError
from hubwire.nouns.values import MAX_DEPTH, check_json

__all__ = ["json_body_doc", "json_model", "json_object", "parse_json"]

M = TypeVar("M", bound=pydantic.BaseModel)


def parse_json(raw: bytes | str, field: str) -> Any:
    """A JSON document within the limits every value keeps; ``field`` names it in errors (``body``, ``filter``)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        # The parser recurses once per level: far past MAX_DEPTH, refused the same way as just past it.
        raise ValidationError.single(field, "too_deep", f"{field} nests deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if field == "body":
            raise MalformedBody(f"the request body is not valid JSON: {exc}") from None
        raise ValidationError.single(field, "invalid_json", f"{field} is not valid JSON: {exc}") from None
    err = check_json("" if field == "body" else field, data)
    if err is not None:
        raise ValidationError(err.message, [err])
    return data


async def json_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` unless ``required``."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ValidationError.single("body", "required", "a JSON object body is required")
        return {}
    data = parse_json(raw, "body")
    if not isinstance(data, dict):
        raise ValidationError.single("body", "type", "the request body must be a JSON object")
    return data


def json_body_doc(model: type[pydantic.BaseModel], required: bool = True) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads ``model`` with :func:`json_model` (``openapi_extra``)."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def json_model(request: Request, model: type[M], *, required: bool = True) -> M:
    """The body read by :func:`json_object`, then validated by ``model`` (its errors a 422 naming each field)."""
    data = await json_object(request, required=required)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = [FieldError(".".join(str(p) for p in e["loc"]) or "body", e["type"], e["msg"]) for e in exc.errors()]
        raise ValidationError(
            "invalid request: " + "; ".join(f"{e.field}: {e.message}" for e in errors), errors
        ) from None
