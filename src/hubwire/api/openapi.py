"""The OpenAPI document's account of errors: every operation lists the problem responses it can give.

FastAPI documents only what a route declares (its 200 and pydantic's 422). Every Hubwire error is
an RFC 9457 problem (``application/problem+json``), and which ones an operation can answer follows
from what it is: authenticated, has path parameters, takes a body, changes state, reaches a
provider. :func:`document_problems` adds them to the generated document, with one ``Problem``
schema, so that a client (or Schemathesis' conformance checks) can rely on the description.
:func:`document_security` says which key each operation takes (the check itself is
:mod:`hubwire.api.auth`'s, a plain dependency: FastAPI's security classes parse the header again
on every request, a fifth of a small request's time).
"""

from __future__ import annotations

from typing import Any

from hubwire.api.problems import PROBLEM_CONTENT_TYPE

__all__ = ["PROBLEM_SCHEMA", "document_problems", "document_security"]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: `code` is stable, `errors` names the fields at fault.",
    "required": ["type", "title", "status", "detail", "code", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {"field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}
_DESCRIPTIONS = {
    400: "Malformed request (the body is not JSON), or the provider refused the credentials",
    401: "Missing or unknown API key (a provider's webhook: its signature was refused)",
    403: "The API key's scope does not allow this operation (`required_scope` names the one that would)",
    404: "No such resource",
    409: "Conflict: stale version, unique value taken, or a state the verb cannot move from",
    413: "Request body larger than the limit (1 MiB; inbound webhooks: HUBWIRE_INBOUND_MAX_BODY_BYTES)",
    414: "URL longer than the limit (8 KiB)",
    422: "Invalid input: the problem's `errors` name each field at fault",
    429: "The provider is rate limiting",
    502: "The provider failed",
    503: "The provider, or the database, is unavailable",
}
_WRITES = frozenset({"post", "put", "patch", "delete"})


def _statuses(path: str, method: str, authenticated: bool) -> set[int]:
    statuses = {414, 422}
    if authenticated:
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if method in _WRITES:
        statuses |= {400, 409, 413}  # a write may carry a body: malformed, too large, or in conflict
    if path == "/healthz":
        statuses.add(503)
    if path == "/v1/hooks/{integration_id}":
        statuses.add(401)  # the provider's signature refused
    if path.startswith("/v1/integrations") and method in _WRITES:
        statuses |= {400, 404, 429, 502, 503}  # connect, sync and verbs reach the provider
    return statuses


def document_problems(document: dict[str, Any], public_paths: set[str]) -> dict[str, Any]:
    """Add the problem responses to every operation of ``document`` (in place; returned for chaining)."""
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in document.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for status in sorted(_statuses(path, method, path not in public_paths)):
                # Replaces FastAPI's own 422 (pydantic's shape), which this API never sends.
                op["responses"][str(status)] = {"description": _DESCRIPTIONS[status], "content": problem}
    return document


_SECURITY_SCHEMES: dict[str, Any] = {
    "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "An API key: `hubwire apikey create`"},
    "CollectKey": {
        "type": "apiKey",
        "in": "query",
        "name": "key",
        "description": "A publishable collect key (`hubwire apikey create --collect-only`), for `sendBeacon`",
    },
}


def document_security(document: dict[str, Any], public_paths: set[str], query_key_paths: set[str]) -> dict[str, Any]:
    """Every operation not public takes a Bearer key; those of ``query_key_paths`` also a ``?key=`` (in place)."""
    document.setdefault("components", {}).setdefault("securitySchemes", {}).update(_SECURITY_SCHEMES)
    for path, item in document.get("paths", {}).items():
        if path in public_paths:
            continue
        for op in item.values():
            if isinstance(op, dict) and "responses" in op:
                op["security"] = [{"HTTPBearer": []}] + ([{"CollectKey": []}] if path in query_key_paths else [])
    return document
