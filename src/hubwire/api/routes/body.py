"""Reading JSON request bodies ourselves, so the Noun (not pydantic) validates their fields.

A malformed body is a 400 problem, one over ``MAX_BODY`` bytes a 413; a body that is valid JSON
but not an object is a 422.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from hubwire.api.problems import MalformedBody, PayloadTooLarge
from hubwire.errors import ValidationError

__all__ = ["json_object"]

MAX_BODY = 1_000_000


async def json_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` unless ``required``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge.single("body", "too_large", f"the request body exceeds {MAX_BODY} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise PayloadTooLarge.single("body", "too_large", f"the request body exceeds {MAX_BODY} bytes")
    if not raw.strip():
        if required:
            raise ValidationError.single("body", "required", "a JSON object body is required")
        return {}
    try:
        data = json.loads(bytes(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError.single("body", "type", "the request body must be a JSON object")
    return data
