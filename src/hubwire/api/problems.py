"""Errors as RFC 9457 problem responses: the one place an exception becomes an HTTP answer.

Every :class:`~hubwire.errors.HubwireError` keeps its ``status`` and ``code``; request validation
errors are 422, malformed JSON is 400, unknown routes 404, wrong methods 405. Anything else is a
500 with a generic detail: the exception is logged (redacted) and never shown to the caller.

    {"type": "https://hubwire.dev/problems/<code>", "title", "status", "detail", "code",
     "errors": [{"field", "code", "message"}], ...the error's structured fields}
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hubwire.errors import HubwireError, ValidationError
from hubwire.net.redact import redact, redact_text

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_CONTENT_TYPE",
    "MalformedBody",
    "PayloadTooLarge",
    "ProblemMiddleware",
    "install_problem_handlers",
    "problem",
    "problem_for",
]

log = structlog.get_logger("hubwire.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://hubwire.dev/problems/"
_RESERVED = frozenset({"type", "title", "status", "detail", "code", "errors", "instance"})
_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


class MalformedBody(ValidationError):
    """The request body is not the JSON it must be (a client mistake, not a field error)."""

    code = "malformed_json"
    status = 400
    title = "Malformed request body"


class PayloadTooLarge(ValidationError):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        # An error's structured fields may hold values JSON lacks (a set, a datetime): show them as text.
        # A lone surrogate quoted from the input (a field name) is written as its JSON escape.
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str)
        return text.encode("utf-8", "backslashreplace")


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Response:
    """A problem response; ``fields`` become extension members (redacted, never overriding the core ones)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": redact_text(detail),
        "code": code,
        "errors": redact(list(errors)),
    }
    for key, value in redact(fields).items():
        if key not in _RESERVED:
            body[key] = value
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return ProblemResponse(body, status_code=status, headers=headers)


def problem_for(exc: HubwireError) -> Response:
    fields = dict(exc.fields)
    errors = fields.pop("errors", None) or []
    headers = None
    wait = fields.get("retry_after")
    if exc.status in (429, 503) and isinstance(wait, int | float) and not isinstance(wait, bool):
        headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    return problem(exc.status, exc.code, exc.title, exc.message, errors=errors, headers=headers, **fields)


def _field_of(loc: Sequence[Any]) -> str:
    # ("body", "amount") -> "amount"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "request"


async def _hubwire_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubwireError)
    if exc.status >= 500:
        log.error("api.error", path=request.url.path, code=exc.code, error=redact_text(exc.message))
    return problem_for(exc)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem_for(MalformedBody("the request body is not valid JSON"))
    errors = [
        {"field": _field_of(e.get("loc", ())), "code": str(e.get("type", "invalid")), "message": e.get("msg", "")}
        for e in raw
    ]
    detail = "invalid request: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, "validation_error", "Invalid input", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    if exc.status_code == 404 and exc.detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
        return problem(405, code, title, detail, headers=headers)
    else:
        detail = str(exc.detail)
    return problem(exc.status_code, code, title, detail, headers=dict(exc.headers or {}))


def _allowed_methods(request: Request) -> str:
    # Starlette's Allow names the methods of the first route matching the path; a path may have
    # several routes (one per method), and Allow must name them all.
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def install_problem_handlers(app: FastAPI) -> None:
    """Register every error mapping on ``app`` (and the catch-all for unexpected exceptions)."""
    app.add_exception_handler(HubwireError, _hubwire_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(ProblemMiddleware)


class ProblemMiddleware:
    """Turn an unexpected exception into a generic 500 problem, logged without secrets.

    Starlette's own catch-all re-raises after answering (so servers print tracebacks); this one
    answers and stops there. Once a response has started, nothing can be changed: it is logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            return  # the client went away mid-response: nothing to answer, nothing went wrong
        except Exception as exc:
            log.error(
                "api.unexpected_error",
                method=scope.get("method"),
                path=scope.get("path"),
                error_type=type(exc).__name__,
                error=redact_text(str(exc))[:2000],
            )
            if started:
                return
            response = problem(500, "internal_error", "Internal error", "an unexpected error occurred; it was logged")
            await response(scope, receive, send)
