"""A local Salesforce REST API on loopback, its requests checked against Salesforce's Postman collection.

Owns the HTTP face of the simulated org (:class:`SalesforceSimulator`): ``/services/data`` versions
and resources, SOQL ``query`` / ``queryAll`` with ``nextRecordsUrl`` paging (``Sforce-Query-Options:
batchSize``), sObject describe (global and per type, custom ``__c`` fields included), create / get /
update (PATCH 204) / delete, ``updated`` and ``deleted`` since a time, ``composite/sobjects`` batch
create and update (``allOrNone``), Bearer session auth, the OAuth 2.0 endpoints (authorization code
with PKCE, refresh token, client credentials; the token answer carries ``instance_url``, ``id``,
``issued_at`` and ``signature``), ``Sforce-Limit-Info: api-usage=n/N`` on every API answer,
Salesforce's error arrays, fault injection and a per-second limit. When the collection is present
every request's (method, path) is checked against it; one outside it is recorded in ``mismatches``
and answered with a distinctive 400. Never contacts the real Salesforce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from hubwire.simulators.loopback import MALFORMED, Fault, LoopbackSimulator, RecordedRequest, json_response
from hubwire.simulators.oauth import OAuthError, OAuthServer
from hubwire.simulators.salesforce.soql import SoqlError, parse, parse_datetime
from hubwire.simulators.salesforce.spec import SalesforceRoutes
from hubwire.simulators.salesforce.state import SalesforceError, SalesforceState, sf_time
from hubwire.simulators.specs import locate_specs_dir

__all__ = ["SalesforceSimulator"]

DEFAULT_SESSION = "00DHw0000000001!hubwire.simulator.session"
_VERSIONS = (("Summer '23", "58.0"), ("Winter '24", "59.0"), ("Spring '24", "60.0"))
_ORG_ID, _USER_ID = "00DHw0000000001AAA", "005Hw0000000001AAA"
_COMPOSITE_MAX = 200


class SalesforceSimulator(LoopbackSimulator):
    """A Salesforce org on ``http(s)://127.0.0.1:PORT``; point ``Salesforce(instance_url=sim.url)`` at it.

    ``ssl`` serves HTTPS (``simple-salesforce`` only speaks https). ``daily_limit`` is the N of
    ``Sforce-Limit-Info``; requests past it are refused with ``REQUEST_LIMIT_EXCEEDED`` (403).
    """

    name = "salesforce"

    def __init__(
        self,
        sessions: tuple[str, ...] | list[str] = (DEFAULT_SESSION,),
        specs_dir: Path | None = None,
        rate_limit: int | None = None,
        daily_limit: int = 15_000,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: ssl.SSLContext | None = None,
        check_spec: bool = True,
        now: Callable[[], float] = time.time,
        keep_requests: int | None = None,
    ) -> None:
        super().__init__(host=host, port=port, rate_limit=rate_limit, now=now, ssl=ssl, keep_requests=keep_requests)
        self.sessions = frozenset(sessions)
        self.specs_dir = specs_dir if specs_dir is not None else locate_specs_dir()
        self.routes = SalesforceRoutes.from_specs_dir(self.specs_dir) if check_spec else None
        self.daily_limit, self.api_usage = daily_limit, 0
        self.batch_size = 2000
        self.state = SalesforceState(now)
        self.oauth = OAuthServer(now, expires_in=7200)
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}  # query locator -> (records, batch size)

    # -- test controls --------------------------------------------------------------------------

    def seed(self, sobject: str, *, at: float | None = None, **values: Any) -> dict[str, Any]:
        """Store a record as if made in Salesforce's UI (``at``: its create time); returns it (live)."""
        return self.state.create(sobject, values, at=at)

    def add_field(
        self, sobject: str, name: str, ftype: str = "string", *, unique: bool = False, values: tuple[str, ...] = ()
    ) -> None:
        """A custom field (``Tier__c``) as made in Setup; ``values``: a picklist's, listed by describe."""
        self.state.add_field(sobject, name, ftype, unique=unique, values=values)

    # -- HTTP -----------------------------------------------------------------------------------

    def _limit_info(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_usage}/{self.daily_limit}"}

    def _error(self, err: SalesforceError, headers: dict[str, str] | None = None) -> web.Response:
        return json_response(err.status, err.body(), {**self._limit_info(), **(headers or {})})

    def _fault_response(self, fault: Fault, request: RecordedRequest) -> web.StreamResponse:
        headers = {} if fault.retry_after is None else {"Retry-After": str(math.ceil(fault.retry_after))}
        if fault.status == 429:
            return self._error(SalesforceError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests (injected)"), headers)
        return self._error(
            SalesforceError(fault.status or 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred (injected)"),
            headers,
        )

    def _inspect(self, request: RecordedRequest) -> None:
        if not self._described(request):
            self.mismatches.append(f"{request.method} {request.path}: not a request of Salesforce's Postman collection")

    def _described(self, request: RecordedRequest) -> bool:
        return self.routes is None or self.routes.operation(request.method, request.path) is not None

    async def _respond(self, request: RecordedRequest) -> web.StreamResponse:
        try:
            wait = self._window_wait(request.time)
            if wait is not None:
                raise SalesforceError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests in the last second.")
            if not self._described(request):  # recorded by _inspect already
                raise SalesforceError(
                    400,
                    "SIMULATOR_REQUEST_MISMATCH",
                    f"{request.method} {request.path} is not in Salesforce's Postman collection",
                )
            if request.path.startswith("/services/oauth2/"):
                return self._oauth(request)
            self._authenticate(request.headers.get("Authorization"))
            if self.api_usage >= self.daily_limit:
                raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.api_usage += 1
            status, body = self._route(request)
            return json_response(status, body, self._limit_info())
        except SalesforceError as err:
            headers = {"Retry-After": str(max(1, math.ceil(wait)))} if err.status == 429 and wait else {}
            return self._error(err, headers)
        except MALFORMED as exc:
            return self._error(self._mismatch(request, f"malformed request ({exc!r})"))

    def _mismatch(self, request: RecordedRequest, why: str) -> SalesforceError:
        self.mismatches.append(f"{request.method} {request.path}: {why}")
        return SalesforceError(
            400, "SIMULATOR_REQUEST_MISMATCH", f"Request does not match Salesforce's REST API (simulator): {why}"
        )

    def _authenticate(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        valid = scheme.lower() in ("bearer", "oauth") and (
            token in self.sessions or self.oauth.valid(token) is not None
        )
        if not valid:
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _json(self, request: RecordedRequest) -> Any:
        try:
            return request.json()
        except ValueError as exc:
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc

    # -- routes ---------------------------------------------------------------------------------

    def _route(self, request: RecordedRequest) -> tuple[int, Any]:
        parts = request.path.strip("/").split("/")
        method = request.method
        if parts == ["services", "data"] and method == "GET":
            return 200, [{"label": label, "url": f"/services/data/v{v}", "version": v} for label, v in _VERSIONS]
        if parts[:2] != ["services", "data"] or len(parts) < 3 or not parts[2].startswith("v"):
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = parts[2][1:], parts[3:]
        if version not in {v for _, v in _VERSIONS}:
            raise SalesforceError(404, "NOT_FOUND", f"The requested resource does not exist (API version {version})")
        base = f"/services/data/v{version}"
        if not rest and method == "GET":
            return 200, {k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "composite", "limits")}
        if rest[0] in ("query", "queryAll") and method == "GET":
            include_deleted = rest[0] == "queryAll"
            if len(rest) == 2:
                return 200, self._query_more(rest[1], version, include_deleted)
            return 200, self._query(request, version, include_deleted)
        if rest[0] == "sobjects":
            return self._sobjects(request, rest[1:], version)
        if rest[:2] == ["composite", "sobjects"] and len(rest) == 2 and method in ("POST", "PATCH"):
            return 200, self._composite(request, creating=method == "POST")
        if rest[:2] == ["composite", "sobjects"] and len(rest) == 3 and method == "PATCH":
            # The Postman collection's form of the update: the type in the path names records without attributes.
            return 200, self._composite(request, creating=False, default_type=self.state.sobject(rest[2]).name)
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")

    def _query(self, request: RecordedRequest, version: str, include_deleted: bool) -> dict[str, Any]:
        soql = request.param("q")
        if not soql:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string (q) is required")
        try:
            query = parse(soql)
        except SoqlError as exc:
            raise SalesforceError(400, "MALFORMED_QUERY", str(exc)) from exc
        if query.sobject.lower() not in {t.lower() for t in self.state.types}:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
        records = [
            self.state.view(query.sobject, r, query.fields, version)
            for r in self.state.run(query, include_deleted=include_deleted)
        ]
        batch = self._batch_size(request.headers.get("Sforce-Query-Options", ""))
        locator = "01g" + secrets.token_hex(8)
        self._cursors[locator] = (records, batch)
        return self._page(locator, 0, version, include_deleted)

    def _batch_size(self, options: str) -> int:
        for item in options.split(","):
            key, _, value = item.strip().partition("=")
            if key.lower() == "batchsize" and value.strip().isdigit():
                return max(200, min(2000, int(value)))
        return self.batch_size

    def _page(self, locator: str, offset: int, version: str, include_deleted: bool) -> dict[str, Any]:
        records, batch = self._cursors[locator]
        page = records[offset : offset + batch]
        done = offset + batch >= len(records)
        body: dict[str, Any] = {"totalSize": len(records), "done": done, "records": page}
        if not done:
            which = "queryAll" if include_deleted else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{which}/{locator}-{offset + batch}"
        else:
            self._cursors.pop(locator, None)
        return body

    def _query_more(self, token: str, version: str, include_deleted: bool) -> dict[str, Any]:
        locator, _, offset = token.rpartition("-")
        if locator not in self._cursors or not offset.isdigit():
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset), version, include_deleted)

    def _sobjects(self, request: RecordedRequest, rest: list[str], version: str) -> tuple[int, Any]:
        method = request.method
        if not rest and method == "GET":
            described = [self.state.types[n].describe(version) for n in self.state.types]
            for d in described:
                d.pop("fields")
            return 200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": described}
        kind = self.state.sobject(rest[0])
        if len(rest) == 1 and method == "GET":
            info = kind.describe(version)
            info.pop("fields")
            return 200, {"objectDescribe": info, "recentItems": []}
        if len(rest) == 1 and method == "POST":
            record = self.state.create(kind.name, self._object(request))
            return 201, {"id": record["Id"], "success": True, "errors": []}
        if rest[1:] == ["describe"] and method == "GET":
            return 200, kind.describe(version)
        if len(rest) == 2 and rest[1] in ("updated", "deleted") and method == "GET":
            return 200, self._changed(request, kind.name, rest[1])
        if len(rest) == 2:
            ident = rest[1]
            if method == "GET":
                wanted = request.param("fields")
                fields = tuple(f.strip() for f in wanted.split(",")) if wanted else None
                return 200, self.state.view(kind.name, self.state.get(kind.name, ident), fields, version)
            if method == "PATCH":
                self.state.update(kind.name, ident, self._object(request))
                return 204, None
            if method == "DELETE":
                self.state.delete(kind.name, ident)
                return 204, None
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")

    def _object(self, request: RecordedRequest) -> dict[str, Any]:
        body = self._json(request)
        if not isinstance(body, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from an array")
        return body

    def _changed(self, request: RecordedRequest, sobject: str, which: str) -> dict[str, Any]:
        try:
            start = _epoch(request.param("start") or "")
            end = _epoch(request.param("end") or "")
        except ValueError as exc:
            raise SalesforceError(
                400, "INVALID_REPLICATION_DATE", f"start and end are required datetimes: {exc}"
            ) from exc
        records = self.state.records.get(sobject, {}).values()
        if which == "updated":
            ids = [r["Id"] for r in records if not r["IsDeleted"] and start <= _epoch(r["SystemModstamp"]) < end]
            return {"ids": ids, "latestDateCovered": request.param("end")}
        gone = [(r["Id"], self.state.deleted_at[r["Id"]]) for r in records if r["IsDeleted"]]
        deleted = [{"id": i, "deletedDate": sf_time(t)} for i, t in gone if start <= t < end]
        return {
            "deletedRecords": deleted,
            "earliestDateAvailable": request.param("start"),
            "latestDateCovered": request.param("end"),
        }

    def _composite(
        self, request: RecordedRequest, *, creating: bool, default_type: str | None = None
    ) -> list[dict[str, Any]]:
        body = self._object(request)
        records = body.get("records")
        if not isinstance(records, list) or not records:
            raise SalesforceError(400, "INVALID_FIELD", "records is required", ["records"])
        if len(records) > _COMPOSITE_MAX:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit exceeded: at most {_COMPOSITE_MAX}")
        all_or_none = bool(body.get("allOrNone"))
        kinds = []
        for item in records:
            kind_name = (item.get("attributes") or {}).get("type") or default_type
            if not kind_name:
                raise SalesforceError(400, "INVALID_TYPE", "Each record must name its type in attributes.type")
            kinds.append(self.state.sobject(kind_name))
        if all_or_none:
            # Validate everything first: one failure rolls every record back (nothing written).
            failures = {}
            for i, (item, kind) in enumerate(zip(records, kinds, strict=True)):
                try:
                    values = {k: v for k, v in item.items() if k not in ("attributes", "id", "Id")}
                    if not creating:
                        self.state.get(kind.name, str(item.get("id") or item.get("Id")))
                    self.state.check(kind, values, creating=creating, ident=item.get("id"))
                except SalesforceError as err:
                    failures[i] = err
            if failures:
                return [
                    _result(
                        None,
                        failures.get(i)
                        or SalesforceError(
                            400,
                            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "Record rolled back because not all records "
                            "were valid and the request was using AllOrNone "
                            "header",
                        ),
                    )
                    for i in range(len(records))
                ]
        results = []
        for item, kind in zip(records, kinds, strict=True):
            try:
                if creating:
                    results.append(_result(self.state.create(kind.name, item)["Id"], None))
                else:
                    ident = str(item.get("id") or item.get("Id"))
                    values = {k: v for k, v in item.items() if k not in ("id", "Id")}
                    results.append(_result(self.state.update(kind.name, ident, values)["Id"], None))
            except SalesforceError as err:
                results.append(_result(None, err))
        return results

    # -- OAuth 2.0 ------------------------------------------------------------------------------

    def _oauth(self, request: RecordedRequest) -> web.Response:
        try:
            if request.path.rstrip("/") == "/services/oauth2/authorize" and request.method == "GET":
                q = dict(request.query)
                if q.get("response_type") != "code":
                    raise OAuthError("unsupported_response_type", "response type not supported")
                return web.Response(status=302, headers={"Location": self.oauth.approve(q)})
            form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
            if request.path.rstrip("/") == "/services/oauth2/token" and request.method == "POST":
                return self._token(request, form)
            if request.path.rstrip("/") == "/services/oauth2/revoke" and request.method == "POST":
                self.oauth.revoke(form.get("token") or request.param("token") or "")
                return web.Response(status=200)
        except OAuthError as err:
            # Salesforce answers every OAuth failure with 400 and RFC 6749's two members.
            return json_response(400, {"error": err.error, "error_description": err.description})
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")

    def _token(self, request: RecordedRequest, form: dict[str, str]) -> web.Response:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise OAuthError("invalid_client", "invalid client credentials") from exc
        client = self.oauth.authenticate_client(client_id, client_secret)
        grant_type = form.get("grant_type")
        grant = self.oauth.grant(client, form, ("authorization_code", "refresh_token", "client_credentials"))
        identity = f"{self.url}/id/{_ORG_ID}/{_USER_ID}"
        issued_at = str(int(self.now() * 1000))
        # Salesforce's signature: base64 HMAC-SHA256 of id + issued_at keyed with the client secret.
        digest = hmac.new(client.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        body = {
            "access_token": grant.access_token,
            "instance_url": self.url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest).decode(),
            "scope": " ".join(grant.scopes) or "api",
        }
        # A refresh answers without a refresh token unless rotation is on (then the new one replaces the old).
        if grant.refresh_token is not None and (grant_type == "authorization_code" or self.oauth.rotate_refresh):
            body["refresh_token"] = grant.refresh_token
        return json_response(200, body)


def _result(ident: str | None, err: SalesforceError | None) -> dict[str, Any]:
    if err is None:
        return {"id": ident, "success": True, "errors": []}
    return {"success": False, "errors": [{"statusCode": err.error_code, "message": err.message, "fields": err.fields}]}


def _epoch(text: str) -> float:
    # A "+" in a query string's offset arrives as a space when the client did not escape it.
    return parse_datetime(text.replace(" ", "+")).timestamp()
