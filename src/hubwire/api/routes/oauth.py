"""OAuth 2.0 over REST: start an authorization, the provider's callback, and the OAuth apps.

``GET /v1/oauth/{provider}/authorize?redirect_uri=...`` (admin: it ends in a connect) answers 302
to the provider, which sends the user back to ``GET /v1/oauth/callback`` on this hub. The callback
is open (a browser brings it, with no API key): the state is its credential, single use and bound
to the key that asked. It connects and redirects to the caller's ``redirect_uri`` with
``integration_id`` (or ``error`` and ``error_description``). A wrong, used or expired state is a
400 problem and nothing is stored. OAuth apps: ``/v1/oauth-apps`` (admin); the client secret goes
in and never comes out.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from hubwire.api.auth import hub_of
from hubwire.api.routes.body import json_body_doc, json_object
from hubwire.api.routes.nouns import entity_response
from hubwire.domains.platform import Integration
from hubwire.errors import HubwireError, ValidationError
from hubwire.net.redact import redact_text
from hubwire.oauth import apps
from hubwire.oauth import states as oauth_states
from hubwire.oauth.states import AuthorizationState

__all__ = ["apps_router", "callback_router", "router"]

router = APIRouter(tags=["OAuth"])
apps_router = APIRouter(tags=["OAuth"])
callback_router = APIRouter(tags=["OAuth"])


class OAuthAppBody(BaseModel):
    """An OAuth app: what is left out keeps its value (a new app needs client_id and client_secret)."""

    client_id: str | None = None
    client_secret: str | None = None
    scopes: list[str] | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    extra: dict[str, Any] | None = None


@router.get(
    "/v1/oauth/{provider}/authorize",
    summary="Start an OAuth 2.0 authorization: 302 to the provider",
    status_code=302,
    response_model=None,
)
async def authorize(
    provider: str,
    request: Request,
    redirect_uri: str | None = None,
    scopes: str | None = None,
    integration_id: str | None = None,
) -> RedirectResponse:
    if not redirect_uri:
        raise ValidationError.single("redirect_uri", "required", "where to send the user once connected")
    key = getattr(request.state, "api_key", None)
    url = await Integration.authorize(
        integration_id,
        provider=provider,
        # The provider sends the code to this hub; the hub sends the user on to redirect_uri.
        redirect_uri=str(request.url_for("oauth_callback")),
        scopes=scopes,
        return_to=redirect_uri,
        api_key_id=key.id if key is not None else None,
    )
    return RedirectResponse(url, status_code=302)


@callback_router.get(
    "/v1/oauth/callback",
    name="oauth_callback",
    summary="Where the provider sends the user back (open: the single-use state authenticates it)",
    response_model=None,
)
async def callback(
    request: Request,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> RedirectResponse | JSONResponse:
    granted = await oauth_states.consume(hub_of(request), state)  # 400 problem: nothing stored
    if error is not None or not code:
        why = error or "invalid_request"
        return _back(granted, error=why, error_description=error_description or "the provider sent no code")
    try:
        entity = await Integration.connect(granted.integration_id, code=code, state=granted)
    except HubwireError as exc:
        if granted.return_to is None:
            raise
        return _back(granted, error=exc.code, error_description=redact_text(exc.message))
    if granted.return_to is None:
        return entity_response(entity, 200)
    return _back(granted, integration_id=entity.id)


def _back(granted: AuthorizationState, **params: str | None) -> Any:
    if granted.return_to is None:
        raise ValidationError.single("code", str(params.get("error")), str(params.get("error_description")))
    query = {k: v for k, v in params.items() if v is not None}
    return RedirectResponse(str(httpx.URL(granted.return_to).copy_merge_params(query)), status_code=302)


@apps_router.get("/v1/oauth-apps", summary="The OAuth apps (client secrets are never shown)")
async def list_apps(request: Request) -> dict[str, Any]:
    return {"data": [a.to_dict() for a in await apps.list_apps(hub_of(request))]}


@apps_router.get("/v1/oauth-apps/{provider}", summary="One OAuth app (its client secret is never shown)")
async def get_app(provider: str, request: Request) -> dict[str, Any]:
    app = await apps.get_app(hub_of(request), provider)
    assert app is not None
    return app.to_dict()


@apps_router.put(
    "/v1/oauth-apps/{provider}",
    summary="Create or update a provider's OAuth app",
    response_model=None,
    openapi_extra=json_body_doc(OAuthAppBody),
)
async def put_app(provider: str, request: Request) -> dict[str, Any]:
    body = await json_object(request)
    unknown = sorted(set(body) - set(OAuthAppBody.model_fields))
    if unknown:
        raise ValidationError.single(unknown[0], "unknown_field", f"an OAuth app has no {unknown[0]!r}")
    if body.get("extra") is not None and not isinstance(body["extra"], dict):
        raise ValidationError.single("extra", "type", "extra must be a JSON object")
    for key in ("authorize_url", "token_url"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ValidationError.single(key, "type", f"{key} must be a string")
    app = await apps.set_app(hub_of(request), provider, **body)
    return app.to_dict()


@apps_router.delete("/v1/oauth-apps/{provider}", summary="Delete a provider's OAuth app", status_code=204)
async def delete_app(provider: str, request: Request) -> None:
    await apps.delete_app(hub_of(request), provider)
