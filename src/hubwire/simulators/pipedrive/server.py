"""A local Pipedrive API server on loopback, built from Pipedrive's public API reference.

Owns the HTTP face of the simulated company (:class:`PipedriveSimulator`): v1 persons,
organizations and deals (``start``/``limit`` lists with ``additional_data.pagination``, get, POST,
PUT, DELETE), v1 ``deals/collection`` and the v2 lists (``cursor`` / ``next_cursor``,
``updated_since`` / ``updated_until``, PATCH updates), v1 leads (UUID ids, ``updated_since``,
PATCH), the ``personFields`` / ``organizationFields`` / ``dealFields`` metadata with custom hash
keys, auth by ``api_token`` query parameter, ``x-api-token`` header (the official npm client) or
OAuth Bearer, the OAuth endpoints (``/oauth/authorize``, ``/oauth/token`` and ``/oauth/revoke``
with Basic client auth), Pipedrive's ``{"success": false, "error", "errorCode"}`` bodies and
token-budget rate limiting (429 with ``x-ratelimit-*`` headers). Pipedrive's OpenAPI documents
are not available to copy, so the description requests are checked against is the route table
below: anything outside it is recorded in ``mismatches`` and answered with a distinctive 400.
Paths are served under both ``/v1`` (api.pipedrive.com) and ``/api/v1`` (a company domain, the
npm client's base path). Never contacts the real Pipedrive.
"""

from __future__ import annotations

import base64
import collections
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hubwire.simulators.loopback import MALFORMED, Fault, LoopbackSimulator, RecordedRequest, json_response
from hubwire.simulators.oauth import OAuthClient, OAuthError, OAuthServer
from hubwire.simulators.pipedrive.state import ENTITIES, PipedriveError, PipedriveState, Record, parse_time

__all__ = ["DEFAULT_API_TOKEN", "TOKEN_COSTS", "PipedriveSimulator"]

DEFAULT_API_TOKEN = "0123456789abcdef0123456789abcdef01234567"
_ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
_FIELDS = {meta: entity for entity, (meta, _, _) in ENTITIES.items() if entity != "leads"}
_V1_MAX, _V2_MAX = 500, 500
# Tokens each kind of request costs from the budget (Pipedrive's token-based limits charge more for
# list endpoints than for single-record ones, and v2 endpoints less than v1).
TOKEN_COSTS = {"list": 20, "get": 2, "write": 10, "delete": 6, "fields": 20}
_WINDOW = 2.0  # seconds of Pipedrive's burst window


class PipedriveSimulator(LoopbackSimulator):
    """A Pipedrive API on ``http://127.0.0.1:PORT``: base paths ``/v1``, ``/api/v1`` and ``/api/v2``.

    ``burst_tokens`` is the token budget per two-second window (None: unlimited), ``daily_tokens``
    the company's daily budget; a request whose cost does not fit is answered 429.
    """

    name = "pipedrive"

    def __init__(
        self,
        api_tokens: tuple[str, ...] | list[str] = (DEFAULT_API_TOKEN,),
        burst_tokens: int | None = None,
        daily_tokens: int = 30_000,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        now: Callable[[], float] = time.time,
        keep_requests: int | None = None,
    ) -> None:
        super().__init__(host=host, port=port, rate_limit=None, now=now, keep_requests=keep_requests)
        self.api_tokens = frozenset(api_tokens)
        self.burst_tokens, self.daily_tokens, self.daily_used = burst_tokens, daily_tokens, 0
        self.state = PipedriveState(now)
        self.oauth = OAuthServer(now, expires_in=3599, rotate_refresh=False)
        self._spent: collections.deque[tuple[float, int]] = collections.deque()

    # -- test controls --------------------------------------------------------------------------

    def seed(self, entity: str, *, at: float | None = None, **values: Any) -> Record:
        """Store a record as if made in Pipedrive's UI (``at``: its add time); custom values by hash key."""
        return self.state.create(entity, values, at=at)

    def add_field(self, entity: str, name: str, field_type: str = "varchar", options: list[str] | None = None) -> str:
        return self.state.add_field(entity, name, field_type, options)

    # -- HTTP -----------------------------------------------------------------------------------

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {
            "success": False,
            "error": message,
            "errorCode": status,
            "error_info": _ERROR_INFO,
            "data": None,
            "additional_data": None,
        }
        return json_response(status, body, headers)

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        if fault.status == 429:
            return self._error(429, "Request over limit", {**headers, **self._rate_headers()})
        return self._error(fault.status or 500, "Internal server error (injected by the simulator)", headers)

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        try:
            if request.path.startswith("/oauth/"):
                return self._oauth(request)
            version, parts = self._version(request)
            cost = self._cost(request.method, parts, version)
            self._authenticate(request)
            refused = self._spend(request.time, cost)
            if refused is not None:
                return refused
            status, body = self._route(request, version, parts)
            return json_response(status, body, self._rate_headers())
        except PipedriveError as err:
            return self._error(err.status, err.message, self._rate_headers())
        except OAuthError as err:
            return json_response(err.status, {"success": False, "error": err.error, "message": err.description})
        except MALFORMED as exc:
            malformed = self._mismatch(request, f"malformed request ({exc!r})")
            return self._error(malformed.status, malformed.message, self._rate_headers())

    def _mismatch(self, request: RecordedRequest, why: str) -> PipedriveError:
        self.mismatches.append(f"{request.method} {request.path}: {why}")
        return PipedriveError(400, f"Request does not match Pipedrive's API reference (simulator): {why}")

    def _version(self, request: RecordedRequest) -> tuple[int, list[str]]:
        parts = request.path.strip("/").split("/")
        if parts[:1] == ["api"]:
            parts = parts[1:]
        if parts[:1] == ["v1"] and len(parts) >= 2:
            return 1, parts[1:]
        if parts[:1] == ["v2"] and len(parts) >= 2:
            return 2, parts[1:]
        raise self._mismatch(request, "not under /v1, /api/v1 or /api/v2")

    def _authenticate(self, request: RecordedRequest) -> None:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and bearer.strip():
            if self.oauth.valid(bearer.strip()) is None:
                raise PipedriveError(401, "Invalid or expired access token")
            return
        token = request.param("api_token") or request.headers.get("x-api-token")
        if not token or token not in self.api_tokens:
            raise PipedriveError(401, "unauthorized access")

    # -- token budget ---------------------------------------------------------------------------

    @staticmethod
    def _cost(method: str, parts: list[str], version: int) -> int:
        if method == "GET":
            kind = (
                "fields" if parts[0] in _FIELDS else ("list" if len(parts) == 1 or parts[1] == "collection" else "get")
            )
        else:
            kind = "delete" if method == "DELETE" else "write"
        cost = TOKEN_COSTS[kind]
        return max(1, cost // 2) if version == 2 else cost

    def _window_spent(self, now: float) -> int:
        while self._spent and now - self._spent[0][0] >= _WINDOW:
            self._spent.popleft()
        return sum(c for _, c in self._spent)

    def _spend(self, now: float, cost: int) -> web.Response | None:
        if self.daily_used + cost > self.daily_tokens:
            return self._error(429, "Daily token budget exceeded", self._rate_headers())
        if self.burst_tokens is not None and self._window_spent(now) + cost > self.burst_tokens:
            wait = _WINDOW - (now - self._spent[0][0]) if self._spent else _WINDOW
            headers = {**self._rate_headers(), "Retry-After": str(max(1, math.ceil(wait)))}
            return self._error(429, "Request over limit", headers)
        self._spent.append((now, cost))
        self.daily_used += cost
        return None

    def _rate_headers(self) -> dict[str, str]:
        headers = {"x-daily-requests-left": str(max(0, self.daily_tokens - self.daily_used))}
        if self.burst_tokens is not None:
            spent = self._window_spent(time.monotonic())
            reset = math.ceil(_WINDOW - (time.monotonic() - self._spent[0][0])) if self._spent else 0
            headers.update(
                {
                    "x-ratelimit-limit": str(self.burst_tokens),
                    "x-ratelimit-remaining": str(max(0, self.burst_tokens - spent)),
                    "x-ratelimit-reset": str(max(0, reset)),
                }
            )
        return headers

    # -- routes ---------------------------------------------------------------------------------

    def _route(self, request: RecordedRequest, version: int, parts: list[str]) -> tuple[int, Any]:
        method, head = request.method, parts[0]
        if version == 1 and head in _FIELDS and len(parts) == 1 and method == "GET":
            return 200, self._fields(request, head)
        entity = head if head in ENTITIES and (version == 1 or head != "leads") else None
        if entity is None:
            raise self._mismatch(request, f"no such {'v1' if version == 1 else 'v2'} resource {head!r} (as simulated)")
        if len(parts) == 1 and method == "GET":
            if version == 2:
                return 200, self._cursor_list(request, entity, self.state.v2, since_param="updated_since")
            return 200, self._offset_list(request, entity)
        if parts[1:] == ["collection"] and method == "GET" and version == 1 and entity == "deals":
            return 200, self._cursor_list(request, entity, self.state.v1, since_param="since")
        if len(parts) == 1 and method == "POST":
            record = self.state.create(entity, self._body(request), v2=version == 2)
            return 201, self._one(record, version)
        if len(parts) == 2:
            update = {1: "PATCH" if entity == "leads" else "PUT", 2: "PATCH"}[version]
            if method == "GET":
                return 200, self._one(self.state.get(entity, parts[1]), version)
            if method == update:
                return 200, self._one(
                    self.state.update(entity, parts[1], self._body(request), v2=version == 2), version
                )
            if method == "DELETE":
                deleted = self.state.delete(entity, parts[1])
                return 200, {"success": True, "data": {"id": deleted.id}}
        raise self._mismatch(request, f"{method} is not a v{version} {entity} route (as simulated)")

    def _body(self, request: RecordedRequest) -> dict[str, Any]:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise self._mismatch(request, f"a JSON body is expected, not {ctype or 'none'!r}")
        try:
            body = request.json()
        except ValueError as exc:
            raise PipedriveError(400, f"Malformed JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise PipedriveError(400, "The body must be a JSON object")
        return body

    def _one(self, record: Record, version: int) -> dict[str, Any]:
        return {"success": True, "data": self.state.v2(record) if version == 2 else self.state.v1(record)}

    @staticmethod
    def _int(request: RecordedRequest, name: str, default: int, maximum: int | None = None) -> int:
        raw = request.param(name)
        try:
            value = default if raw in (None, "") else int(raw)
        except ValueError:
            raise PipedriveError(400, f"Parameter '{name}' must be an integer") from None
        if value < 0 or (maximum is not None and value > maximum):
            raise PipedriveError(400, f"Parameter '{name}' must be between 0 and {maximum}")
        return value

    def _since(self, request: RecordedRequest, name: str) -> float | None:
        raw = request.param(name)
        if not raw:
            return None
        try:
            return parse_time(raw)
        except ValueError:
            raise PipedriveError(400, f"Parameter '{name}' must be a date-time (RFC 3339)") from None

    def _ordered(self, request: RecordedRequest, entity: str, since_param: str | None) -> list[Record]:
        records = self.state.live(entity)
        if entity == "leads":
            archived = request.param("archived_status") or "not_archived"
            if archived != "all":
                records = [r for r in records if bool(r.values.get("is_archived")) == (archived == "archived")]
        since = self._since(request, since_param) if since_param else None
        until = self._since(request, "updated_until" if since_param == "updated_since" else "until")
        if since is not None:
            records = [r for r in records if r.updated >= since]
        if until is not None:
            records = [r for r in records if r.updated < until]
        sort_by = request.param("sort_by") or "id"
        if sort_by not in ("id", "update_time", "add_time"):
            raise PipedriveError(400, f"Invalid sort_by: {sort_by}")
        keys: dict[str, Callable[[Record], Any]] = {
            "id": lambda r: (isinstance(r.id, str), r.id if isinstance(r.id, int) else r.added),
            "update_time": lambda r: (r.updated, str(r.id)),
            "add_time": lambda r: (r.added, str(r.id)),
        }
        return sorted(records, key=keys[sort_by], reverse=request.param("sort_direction") == "desc")

    def _offset_list(self, request: RecordedRequest, entity: str) -> dict[str, Any]:
        start = self._int(request, "start", 0)
        limit = self._int(request, "limit", 100, _V1_MAX) or 100
        records = self._ordered(request, entity, "updated_since" if entity == "leads" else None)
        page = records[start : start + limit]
        more = start + limit < len(records)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        data = [self.state.v1(r) for r in page]
        if entity == "leads":
            return {"success": True, "data": data, "additional_data": {"pagination": pagination}}
        return {"success": True, "data": data or None, "additional_data": {"pagination": pagination}}

    def _cursor_list(
        self, request: RecordedRequest, entity: str, shape: Callable[[Record], dict[str, Any]], since_param: str
    ) -> dict[str, Any]:
        limit = self._int(request, "limit", 100, _V2_MAX) or 100
        records = self._ordered(request, entity, since_param)
        offset = 0
        cursor = request.param("cursor")
        if cursor:
            try:
                offset = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("offset:"))
            except (ValueError, UnicodeDecodeError):
                raise PipedriveError(400, "Invalid cursor") from None
        page = records[offset : offset + limit]
        following = offset + limit
        next_cursor = (
            base64.urlsafe_b64encode(f"offset:{following}".encode()).decode() if following < len(records) else None
        )
        return {"success": True, "data": [shape(r) for r in page], "additional_data": {"next_cursor": next_cursor}}

    def _fields(self, request: RecordedRequest, meta: str) -> dict[str, Any]:
        start = self._int(request, "start", 0)
        limit = self._int(request, "limit", 100, _V1_MAX) or 100
        fields = list(self.state.fields[meta].values())
        page = fields[start : start + limit]
        more = start + limit < len(fields)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return {"success": True, "data": page, "additional_data": {"pagination": pagination}}

    # -- OAuth 2.0 ------------------------------------------------------------------------------

    def _oauth(self, request: RecordedRequest) -> web.Response:
        if request.path == "/oauth/authorize" and request.method == "GET":
            return web.Response(status=302, headers={"Location": self.oauth.approve(dict(request.query))})
        if request.method != "POST" or request.path not in ("/oauth/token", "/oauth/revoke"):
            raise self._mismatch(request, "no such OAuth route (as simulated)")
        client = self._client(request)
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        if request.path == "/oauth/revoke":
            self.oauth.revoke(form.get("token", ""))
            return web.Response(status=200)
        grant = self.oauth.grant(client, form)
        return json_response(
            200,
            {
                "access_token": grant.access_token,
                "token_type": "Bearer",
                "refresh_token": grant.refresh_token,
                "scope": " ".join(grant.scopes) or "base",
                "expires_in": grant.expires_in,
                "api_domain": self.url,
            },
        )

    def _client(self, request: RecordedRequest) -> OAuthClient:
        """Pipedrive authenticates OAuth clients with HTTP Basic only."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "client authentication (HTTP Basic) is required", 401)
        try:
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        return self.oauth.authenticate_client(client_id, client_secret)
