"""A local HubSpot API server on loopback, built from HubSpot's public API reference.

Owns the HTTP face of the simulated portal (:class:`HubSpotSimulator`): CRM v3 objects (contacts,
companies, deals, leads: list with ``after`` paging, get, create, update, archive, batch read/create/
update/archive, search with its 10,000-result cap), associations v4, properties metadata, private-
app and OAuth Bearer auth, the OAuth 2.0 endpoints (``/oauth/authorize``, ``/oauth/v1/token``),
the 10-per-second limit with HubSpot's ``X-HubSpot-RateLimit-*`` headers and 429 body, and
HubSpot's error body (``status``, ``message``, ``correlationId``, ``category``). HubSpot's own
specs are proprietary, so the description a request is checked against is the route and body table
below: a request outside it is recorded in ``mismatches`` and answered with a distinctive 400.
Batch writes are all or nothing, except a batch create whose inputs all carry ``objectWriteTraceId``
(HubSpot's multi-status error handling): it writes the valid inputs and answers 207 with an error
per refused one. Never contacts the real HubSpot.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hubwire.simulators.hubspot.state import OBJECT_TYPES, SEARCH_CAP, HubSpotError, HubSpotState, iso
from hubwire.simulators.loopback import MALFORMED, Fault, LoopbackSimulator, RecordedRequest, json_response
from hubwire.simulators.oauth import OAuthError, OAuthServer

__all__ = ["HubSpotSimulator"]

DEFAULT_TOKEN = "pat-na1-hubwire-simulator"
_MAX_PAGE = 100
_BATCH_MAX = 100
# Top-level JSON members each write accepts (HubSpot's API reference); anything else is a mismatch.
_BODY_KEYS = {
    "create": {"properties", "associations", "objectWriteTraceId"},
    "update": {"properties", "objectWriteTraceId"},
    "search": {"filterGroups", "sorts", "query", "properties", "limit", "after"},
    "batch": {"inputs", "properties", "propertiesWithHistory", "idProperty"},
}
_OAUTH_ERRORS = {"invalid_grant": "BAD_AUTH_CODE", "invalid_client": "BAD_CLIENT_ID", "invalid_request": "BAD_REQUEST"}


def _batch_error(err: HubSpotError, **context: list[str]) -> dict[str, Any]:
    """One refused input of a batch answer (HubSpot's StandardError: all six members present)."""
    return {
        "status": "error",
        "category": err.category,
        "message": err.message,
        "context": context,
        "errors": [],
        "links": {},
    }


class HubSpotSimulator(LoopbackSimulator):
    """A HubSpot API on ``http://127.0.0.1:PORT``: point ``hubspot.HubSpot(host=sim.url)`` at it."""

    name = "hubspot"

    def __init__(
        self,
        tokens: tuple[str, ...] | list[str] = (DEFAULT_TOKEN,),
        rate_limit: int | None = 10,
        daily_limit: int = 250_000,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        now: Callable[[], float] = time.time,
        keep_requests: int | None = None,
    ) -> None:
        super().__init__(host=host, port=port, rate_limit=rate_limit, now=now, keep_requests=keep_requests)
        self.tokens = frozenset(tokens)
        self.daily_limit = daily_limit
        self.daily_used = 0
        self.state = HubSpotState(now)
        self.oauth = OAuthServer(now)
        self._last_search: tuple[tuple[str, str, int], list[Any]] | None = None

    # -- test controls --------------------------------------------------------------------------

    def seed(self, kind: str, properties: dict[str, Any] | None = None, *, at: float | None = None) -> dict[str, Any]:
        """Store an object as if made in HubSpot's UI (``at``: its create time); returns its read view."""
        obj = self.state.create(self.state.object_type(kind), dict(properties or {}), at=at)
        return obj.view(obj.properties, None)

    def seed_many(self, kind: str, n: int, make: Callable[[int], dict[str, Any]]) -> list[str]:
        """``n`` objects whose properties ``make(i)`` returns; their ids, in order."""
        return [self.seed(kind, make(i))["id"] for i in range(n)]

    def associate(self, kind: str, ident: str, to_kind: str, to_ident: str) -> None:
        self.state.associate(self.state.object_type(kind), ident, self.state.object_type(to_kind), to_ident)

    def add_property(
        self, kind: str, name: str, ptype: str = "string", field_type: str = "text", options: list[str] | None = None
    ) -> dict[str, Any]:
        """A custom property, as made in HubSpot's settings; ``options`` (an enumeration's) by value, labelled."""
        spec: dict[str, Any] = {
            "name": name,
            "label": name.replace("_", " ").title(),
            "type": ptype,
            "fieldType": field_type,
            "groupName": "custom",
        }
        if options:
            spec["options"] = [
                {"label": o.replace("_", " ").title(), "value": o, "displayOrder": i, "hidden": False}
                for i, o in enumerate(options)
            ]
        return self.state.define_property(self.state.object_type(kind), spec)

    # -- HTTP -----------------------------------------------------------------------------------

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        correlation = str(uuid.uuid4())
        try:
            wait = self._window_wait(request.time)
            if wait is not None:
                return self._rate_limited(correlation, wait)
            if request.path.startswith("/oauth/"):
                return self._oauth(request, correlation)
            self._authenticate(request.headers.get("Authorization"))
            if self.daily_used >= self.daily_limit:
                raise HubSpotError(
                    429, "You have reached your daily limit.", "RATE_LIMITS", errorType="RATE_LIMIT", policyName="DAILY"
                )
            self.daily_used += 1
            status, body = self._route(request)
            return json_response(status, body, self._rate_headers())
        except HubSpotError as err:
            return self._error(err, correlation)
        except MALFORMED as exc:
            return self._error(self._mismatch(request, f"malformed request ({exc!r})"), correlation)

    def _error(self, err: HubSpotError, correlation: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {
            "status": "error",
            "message": err.message,
            "correlationId": correlation,
            "category": err.category,
            **err.extra,
        }
        return json_response(err.status, body, {**self._rate_headers(), **(headers or {})})

    def _rate_headers(self) -> dict[str, str]:
        daily = {
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - self.daily_used)),
        }
        if self.rate_limit is None:
            return daily
        # The simulator's window is one second, so the interval headers describe the same window.
        return {
            **daily,
            "X-HubSpot-RateLimit-Secondly": str(self.rate_limit),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(self._window_remaining()),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "1000",
            "X-HubSpot-RateLimit-Max": str(self.rate_limit),
            "X-HubSpot-RateLimit-Remaining": str(self._window_remaining()),
        }

    def _rate_limited(self, correlation: str, wait: float) -> web.Response:
        err = HubSpotError(
            429, "You have reached your secondly limit.", "RATE_LIMITS", errorType="RATE_LIMIT", policyName="SECONDLY"
        )
        return self._error(err, correlation, {"Retry-After": str(max(1, math.ceil(wait)))})

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        correlation = str(uuid.uuid4())
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        if fault.status == 429:
            return self._rate_limited(correlation, fault.retry_after or 1.0)
        err = HubSpotError(fault.status or 500, "internal error (injected by the simulator)", "INTERNAL_ERROR")
        return self._error(err, correlation, headers)

    def _authenticate(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HubSpotError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com/"
                "docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        if token in self.tokens or self.oauth.valid(token) is not None:
            return
        if token in self.oauth.access_tokens:
            raise HubSpotError(
                401,
                "The OAuth token used to make this call expired "
                f"{int(self.now() - self.oauth.access_tokens[token].expires_at) + 1} second(s) ago.",
                "EXPIRED_AUTHENTICATION",
            )
        raise HubSpotError(
            401, "Authentication credentials not found. The access token is invalid.", "INVALID_AUTHENTICATION"
        )

    def _mismatch(self, request: RecordedRequest, why: str) -> HubSpotError:
        self.mismatches.append(f"{request.method} {request.path}: {why}")
        return HubSpotError(
            400, f"Request does not match HubSpot's API reference (simulator): {why}", "SIMULATOR_REQUEST_MISMATCH"
        )

    def _body(self, request: RecordedRequest, kind: str) -> Any:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise self._mismatch(request, f"a JSON body is expected, not {ctype or 'none'!r}")
        try:
            body = request.json()
        except ValueError as exc:
            raise HubSpotError(400, f"Invalid input JSON on line 1: {exc}", "VALIDATION_ERROR") from exc
        if kind in _BODY_KEYS:
            if not isinstance(body, dict):
                raise self._mismatch(request, "the body must be a JSON object")
            unknown = sorted(set(body) - _BODY_KEYS[kind])
            if unknown:
                raise self._mismatch(request, f"unknown member(s) {', '.join(unknown)}")
        return body

    # -- routes ---------------------------------------------------------------------------------

    def _route(self, request: RecordedRequest) -> tuple[int, Any]:
        parts = request.path.strip("/").split("/")
        method = request.method
        if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
            kind = self.state.object_type(parts[3])
            rest = parts[4:]
            if not rest and method == "GET":
                return 200, self._list(request, kind)
            if not rest and method == "POST":
                return 201, self._create(kind, self._body(request, "create"))
            if rest == ["search"] and method == "POST":
                return 200, self._search(kind, self._body(request, "search"))
            if len(rest) == 2 and rest[0] == "batch" and method == "POST":
                return self._batch(request, kind, rest[1])
            if len(rest) == 1 and rest[0] not in ("search", "batch"):
                return self._one(request, kind, rest[0])
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) in (4, 5):
            kind = self.state.object_type(parts[3])
            if len(parts) == 4 and method == "GET":
                archived = self._flag(request, "archived")
                props = [p for p in self.state.properties[kind].values() if p["archived"] == archived]
                return 200, {"results": props}
            if len(parts) == 4 and method == "POST":
                return 201, self.state.define_property(kind, self._body(request, "property"))
            if len(parts) == 5 and method == "GET":
                return 200, self.state.property(kind, parts[4])
        if parts[:3] == ["crm", "v4", "objects"] and len(parts) in (7, 8, 9) and parts[5] == "associations":
            return self._associations(request, parts[3:])
        if parts[:3] == ["crm", "v4", "associations"] and parts[5:] == ["batch", "read"] and method == "POST":
            return 200, self._associations_batch(request, parts[3], parts[4])
        raise self._mismatch(request, "no such route in HubSpot's CRM API (as simulated)")

    @staticmethod
    def _flag(request: RecordedRequest, name: str) -> bool:
        return (request.param(name) or "").lower() == "true"  # the Python SDK sends booleans as "True"

    def _names(self, request: RecordedRequest, name: str) -> list[str] | None:
        values = [v for k, v in request.query if k == name]
        if not values:
            return None
        return [n for v in values for n in v.split(",") if n]

    def _read(self, obj: Any, request: RecordedRequest) -> dict[str, Any]:
        return self._reader(request)(obj)

    def _reader(self, request: RecordedRequest) -> Callable[[Any], dict[str, Any]]:
        """How the request wants each object read (its properties and associations), parsed once per request."""
        kinds = [self.state.object_type(k) for k in self._names(request, "associations") or []]
        names = self._names(request, "properties")

        def read(obj: Any) -> dict[str, Any]:
            assoc = self.state.association_view(obj, kinds) if kinds else None
            view: dict[str, Any] = obj.view(names, assoc)
            return view

        return read

    def _limit(self, value: Any, default: int = 10) -> int:
        try:
            limit = int(value) if value is not None else default
        except (TypeError, ValueError) as exc:
            raise HubSpotError(400, f"Invalid limit: {value!r}", "VALIDATION_ERROR") from exc
        if not 1 <= limit <= _MAX_PAGE:
            raise HubSpotError(400, f"limit must be between 1 and {_MAX_PAGE}, got {limit}", "VALIDATION_ERROR")
        return limit

    def _list(self, request: RecordedRequest, kind: str) -> dict[str, Any]:
        limit = self._limit(request.param("limit"))
        after = request.param("after")
        if after and not after.isdigit():
            raise HubSpotError(400, f"Invalid 'after' cursor: {after}", "VALIDATION_ERROR")
        page, following = self.state.page(kind, int(after) if after else None, limit, self._flag(request, "archived"))
        read = self._reader(request)
        body: dict[str, Any] = {"results": [read(o) for o in page]}
        if following is not None:
            link = f"{self.url}/crm/v3/objects/{kind}?limit={limit}&after={following}"
            body["paging"] = {"next": {"after": following, "link": link}}
        return body

    def _create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        # Association targets are resolved before the object is made: a bad one writes nothing.
        targets = [self._kind_of(str(link["to"]["id"])) for link in body.get("associations") or []]
        links = [(t, str(link["to"]["id"])) for t, link in zip(targets, body.get("associations") or [], strict=True)]
        if kind == "leads" and "contacts" not in targets:
            # HubSpot's Leads API: a lead is made with its primary contact (association type 578).
            raise HubSpotError(
                400,
                "A lead must be created with an association to a contact (its primary contact).",
                "VALIDATION_ERROR",
            )
        obj = self.state.create(kind, body.get("properties") or {})
        for to_kind, to_id in links:
            self.state.associate(kind, obj.id, to_kind, to_id)
        return obj.write_view(body.get("properties") or {})

    def _kind_of(self, ident: str) -> str:
        for kind, objects in self.state.objects.items():
            if ident in objects and objects[ident].archived_at is None:
                return kind
        raise HubSpotError(400, f"Association target {ident} does not exist", "VALIDATION_ERROR")

    def _one(self, request: RecordedRequest, kind: str, ident: str) -> tuple[int, Any]:
        id_property = request.param("idProperty")
        if request.method == "GET":
            obj = self.state.get(kind, ident, archived=self._flag(request, "archived"), id_property=id_property)
            return 200, self._read(obj, request)
        if request.method == "PATCH":
            written = self._body(request, "update").get("properties") or {}
            return 200, self.state.update(kind, ident, written, id_property=id_property).write_view(written)
        if request.method == "DELETE":
            self.state.archive(kind, ident)
            return 204, None
        raise self._mismatch(request, f"{request.method} is not allowed on a single object")

    def _search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        limit = self._limit(body.get("limit"))
        after = str(body.get("after") or "0")
        if not after.isdigit():
            raise HubSpotError(400, f"Invalid 'after': {after}", "VALIDATION_ERROR")
        offset = int(after)
        if offset + limit > SEARCH_CAP:
            # HubSpot answers 400 for a page beyond the 10,000th result; a sync must narrow its filter instead.
            raise HubSpotError(
                400,
                f"Search results are limited to {SEARCH_CAP} records; narrow the filters "
                "(for example on hs_object_id or lastmodifieddate) to see more.",
                "VALIDATION_ERROR",
            )
        found = self._searched(kind, body)
        names = body.get("properties") or None
        page = found[offset : offset + limit]
        result: dict[str, Any] = {"total": len(found), "results": [o.view(names, None) for o in page]}
        if offset + limit < min(len(found), SEARCH_CAP):
            result["paging"] = {"next": {"after": str(offset + limit)}}
        return result

    def _searched(self, kind: str, body: dict[str, Any]) -> list[Any]:
        """The search's matches; the pages of one search reuse them while the portal is unchanged."""
        query = json.dumps({k: v for k, v in body.items() if k not in ("after", "limit")}, sort_keys=True)
        key = (kind, query, self.state.version)
        if self._last_search is None or self._last_search[0] != key:
            self._last_search = (key, self.state.search(kind, body))
        return self._last_search[1]

    def _batch(self, request: RecordedRequest, kind: str, action: str) -> tuple[int, Any]:
        body = self._body(request, "batch")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or action not in ("read", "create", "update", "archive"):
            raise self._mismatch(request, "batch needs an 'inputs' list and one of read/create/update/archive")
        if len(inputs) > _BATCH_MAX:
            raise HubSpotError(
                400, f"Batch input cannot exceed {_BATCH_MAX} inputs, got {len(inputs)}", "VALIDATION_ERROR"
            )
        started = iso(self.now())
        if action == "archive":
            for item in inputs:
                self.state.archive(kind, str(item.get("id")))
            return 204, None
        results, errors = [], []
        if action == "read":
            names = body.get("properties") or None
            for item in inputs:
                try:
                    obj = self.state.get(kind, str(item.get("id")), id_property=body.get("idProperty"))
                    results.append(obj.view(names, None))
                except HubSpotError as err:
                    errors.append(_batch_error(err, ids=[str(item.get("id"))]))
        else:
            emails = [str((i.get("properties") or {}).get("email", "")).lower() for i in inputs]
            if (
                kind == "contacts"
                and action == "create"
                and len({e for e in emails if e}) < len([e for e in emails if e])
            ):
                raise HubSpotError(400, "Duplicate emails found in the batch input", "VALIDATION_ERROR")
            # HubSpot's multi-status error handling: a batch create whose every input carries an
            # objectWriteTraceId writes the valid inputs and answers 207 with an error per refused
            # one (its trace id in ``context``). Otherwise all or nothing: the first bad input
            # refuses the whole batch, nothing written (as do duplicate emails within the batch,
            # above, in either mode: they are the batch's fault, not one input's).
            multi_status = action == "create" and all(i.get("objectWriteTraceId") is not None for i in inputs)
            valid = []
            for item in inputs:
                try:
                    self._check_input(kind, action, item)
                except HubSpotError as err:
                    if not multi_status:
                        raise
                    errors.append(_batch_error(err, objectWriteTraceId=[str(item["objectWriteTraceId"])]))
                    continue
                valid.append(item)
            for item in valid:
                if action == "create":
                    made = self._create(kind, item)
                else:
                    written = item.get("properties") or {}
                    made = self.state.update(kind, str(item["id"]), written).write_view(written)
                if item.get("objectWriteTraceId") is not None:  # echoed: how a caller matches its inputs
                    made = {**made, "objectWriteTraceId": str(item["objectWriteTraceId"])}
                results.append(made)
        body_out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": iso(self.now()),
        }
        if errors:
            body_out.update(errors=errors, numErrors=len(errors))
            return 207, body_out
        return (201 if action == "create" else 200), body_out

    def _check_input(self, kind: str, action: str, item: dict[str, Any]) -> None:
        """Raise what HubSpot answers for one bad batch input (its properties, id, associations)."""
        self.state.checked(kind, item.get("properties") or {}, creating=action == "create")
        if action == "update":
            self.state.get(kind, str(item.get("id")))
        kinds = [self._kind_of(str(link["to"]["id"])) for link in item.get("associations") or []]
        if kind == "leads" and action == "create" and "contacts" not in kinds:
            raise HubSpotError(
                400,
                "A lead must be created with an association to a contact (its primary contact).",
                "VALIDATION_ERROR",
            )

    def _associations_batch(self, request: RecordedRequest, from_type: str, to_type: str) -> dict[str, Any]:
        """``POST /crm/v4/associations/{from}/{to}/batch/read``: each input's associated ids (unknown ids skipped)."""
        kind, to_kind = self.state.object_type(from_type), self.state.object_type(to_type)
        inputs = self._body(request, "batch")["inputs"]
        if len(inputs) > 1000:
            raise HubSpotError(400, "Batch input cannot exceed 1000 inputs", "VALIDATION_ERROR")
        started, results = iso(self.now()), []
        for item in inputs:
            ident = str(item["id"])
            if ident not in self.state.objects[kind]:
                continue
            found = self.state.associated(kind, ident, to_kind)
            results.append(
                {
                    "from": {"id": ident},
                    "to": [
                        {
                            "toObjectId": int(i),
                            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}],
                        }
                        for i, t in found
                    ],
                }
            )
        return {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso(self.now())}

    def _associations(self, request: RecordedRequest, parts: list[str]) -> tuple[int, Any]:
        # parts: {type}/{id}/associations/{toType}[/{toId}] or {type}/{id}/associations/default/{toType}/{toId}
        kind, ident = self.state.object_type(parts[0]), parts[1]
        default = parts[3] == "default"
        tail = parts[4:] if default else parts[3:]
        to_kind = self.state.object_type(tail[0])
        if len(tail) == 1 and request.method == "GET" and not default:
            limit = int(request.param("limit") or 500)
            after = request.param("after")
            found = self.state.associated(kind, self.state.get(kind, ident).id, to_kind)
            if after:
                found = [p for p in found if int(p[0]) >= int(after)]
            page, rest = found[:limit], found[limit:]
            result: dict[str, Any] = {
                "results": [
                    {
                        "toObjectId": int(i),
                        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}],
                    }
                    for i, t in page
                ]
            }
            if rest:
                result["paging"] = {"next": {"after": rest[0][0]}}
            return 200, result
        if len(tail) == 2 and request.method == "PUT":
            to_ident = tail[1]
            if not default:
                self._body(request, "labels")
            type_id = self.state.associate(kind, ident, to_kind, to_ident)
            if default:
                stamp = iso(self.now())
                spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
                result = {"from": {"id": ident}, "to": {"id": to_ident}, "associationSpec": spec}
                return 200, {"status": "COMPLETE", "results": [result], "startedAt": stamp, "completedAt": stamp}
            ids = {
                "fromObjectTypeId": OBJECT_TYPES[kind],
                "fromObjectId": int(ident),
                "toObjectTypeId": OBJECT_TYPES[to_kind],
                "toObjectId": int(to_ident),
                "labels": [],
            }
            return 201, ids
        if len(tail) == 2 and request.method == "DELETE" and not default:
            self.state.dissociate(kind, ident, to_kind, tail[1])
            return 204, None
        raise self._mismatch(request, "no such associations v4 route (as simulated)")

    # -- OAuth 2.0 ------------------------------------------------------------------------------

    def _oauth(self, request: RecordedRequest, correlation: str) -> web.StreamResponse:
        try:
            if request.path == "/oauth/authorize" and request.method == "GET":
                return web.Response(status=302, headers={"Location": self.oauth.approve(dict(request.query))})
            if request.path == "/oauth/v1/token" and request.method == "POST":
                return self._token(request)
            if request.path.startswith("/oauth/v1/access-tokens/") and request.method == "GET":
                held = self.oauth.valid(request.path.rsplit("/", 1)[1])
                if held is None:
                    raise OAuthError("invalid_token", "access token not found or expired", 404)
                return json_response(
                    200,
                    {
                        "token": held.token,
                        "hub_id": 1234567,
                        "app_id": 7654321,
                        "user_id": 1,
                        "scopes": list(held.scopes),
                        "token_type": "access",
                        "expires_in": int(held.expires_at - self.now()),
                        "hub_domain": "hubwire-simulator.hubspot.com",
                    },
                )
            if request.path.startswith("/oauth/v1/refresh-tokens/") and request.method == "DELETE":
                self.oauth.revoke(request.path.rsplit("/", 1)[1])
                return json_response(204, None)
        except OAuthError as err:
            # HubSpot's own body (status/message/correlationId) plus RFC 6749's error members for OAuth clients.
            status = _OAUTH_ERRORS.get(err.error, "BAD_REQUEST")
            if (
                err.error == "invalid_grant"
                and dict(parse_qsl(request.body.decode())).get("grant_type") == "refresh_token"
            ):
                status = "BAD_REFRESH_TOKEN"
            return json_response(
                err.status,
                {
                    "status": status,
                    "message": err.description,
                    "correlationId": correlation,
                    "error": err.error,
                    "error_description": err.description,
                },
            )
        raise HubSpotError(404, f"No OAuth route {request.method} {request.path}", "OBJECT_NOT_FOUND")

    def _token(self, request: RecordedRequest) -> web.Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        client = self.oauth.authenticate_client(form.get("client_id"), form.get("client_secret"))
        grant = self.oauth.grant(client, form)
        return json_response(
            200,
            {
                "token_type": "bearer",
                "access_token": grant.access_token,
                "refresh_token": grant.refresh_token,
                "expires_in": grant.expires_in,
            },
        )
