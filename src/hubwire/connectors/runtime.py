"""The runtime of a :class:`~hubwire.connectors.spec.ProviderSpec`: a connection and ``SpecProvider``.

:class:`Connection` is one Integration talking to its provider through the hub's HTTP layer
(:mod:`hubwire.net.http`): base URL (the Integration's ``api_base_url`` first), auth, the rate
budget keyed by the integration id, body encoding, pagination. :class:`SpecProvider` implements
``check`` and ``sync`` from the spec; a provider overrides its hooks for what data cannot say:

- ``account(body)``: what the credential check reveals (stored in the Integration's config);
- ``record(resource, raw)``: filter or reshape a raw record before mapping (``None`` drops it);
- ``streams(ctx, conn)``: the streams a sync pulls (default: every ``sync`` resource, in order);
- ``resource_for(noun)`` / ``connection(ctx)``: what write-through writers use;
- ``push_body(ctx, resource, fields)``: a local change as the body of a create/update (default:
  the field map read backwards, see :meth:`SpecProvider.push`);
- ``pushable(resource)``: the fields an update may write whatever the Noun's direction (default:
  every field mapped from a plain path, when the resource has an ``update`` endpoint).

Where credentials go: an Integration's ``api_base_url`` passes the SSRF guard when it is connected
(``check``: a 422 ``ssrf_blocked``) and every dial passes it again (the HTTP layer); an update
cannot change it (``Provider.updating``, run for every Integration update by the hook below):
changing it is a reconnect, with the credentials.

OAuth 2.0 (a provider with ``oauth``, credentials a token endpoint issued or the client-credentials
grant): the ``Authorization`` header carries a token that :func:`hubwire.oauth.access_token` hands
out per request (refreshed before it expires); a 401 makes it refresh the refused token once and the
request is sent again, once. A token pasted in at connect (``oauth.tokens.issued`` is false) is sent
as it is.

Cursor state of a resource stream (saved with each page): ``since`` (the watermark of the last
finished pass, for ``incremental_param``), and while a pass runs ``page`` (the position to resume
from), ``since_run`` (the watermark the pass started with) and ``max`` (the newest seen).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import httpx

from hubwire.connectors.directions import direction_of
from hubwire.connectors.registry import Provider, ProviderContext, PushCall, Pushed, SyncProgress
from hubwire.connectors.spec import Direction, Endpoint, Pagination, ProviderSpec, Resource, dig
from hubwire.domains.platform import Integration
from hubwire.errors import ConfigurationError, ProviderAuthError, ProviderInvalidRequest, ProviderNotFound
from hubwire.net.http import Budget, http_client, rate_limit_wait
from hubwire.net.ssrf import check_url, normalize_url
from hubwire.nouns.entity import Entity
from hubwire.nouns.hooks import Context
from hubwire.nouns.noun import Noun
from hubwire.oauth.tokens import access_token, issued
from hubwire.sync.engine import Batch, Stream, pull
from hubwire.sync.state import remote_id_of
from hubwire.sync.upsert import Incoming, to_epoch

__all__ = ["Connection", "SpecProvider", "encode_form", "to_incoming"]

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def encode_form(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe-style form fields: ``{"a": {"b": 1}, "l": [x]}`` -> ``a[b]=1``, ``l[0]=x``; ``None`` dropped."""
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            out += encode_form(value, name)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, Mapping):
                    out += encode_form(item, f"{name}[{i}]")
                else:
                    out.append((f"{name}[{i}]", _scalar(item)))
        else:
            out.append((name, _scalar(value)))
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_incoming(resource: Resource, record: dict[str, Any]) -> Incoming | None:
    """Map a raw record with the resource's mapping; relations become (resource, remote id) links."""
    mapping = resource.mapping
    rid = record.get(resource.id_field)
    if mapping is None or rid is None:
        return None
    links: dict[str, tuple[str, str]] = {}
    for fname, rel in mapping.relations.items():
        value = dig(record, rel.source)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str | int) and value != "":
            links[fname] = (rel.resource, str(value))
    fields = mapping.apply(record)
    for fname in mapping.relations:
        fields.setdefault(fname, None)
    updated = to_epoch(dig(record, resource.updated_field)) if resource.updated_field else None
    return Incoming(str(rid), fields, links, updated, deleted=bool(record.get("deleted")))


def _place(body: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at the dotted ``path`` of ``body``, making the objects on the way."""
    *parents, last = path.split(".")
    for part in parents:
        nxt = body.get(part)
        if not isinstance(nxt, dict):
            nxt = body[part] = {}
        body = nxt
    body[last] = value


class Connection:
    """One Integration's authenticated, rate-budgeted access to its provider's API."""

    def __init__(self, ctx: ProviderContext, spec: ProviderSpec, *, base_url: str | None = None) -> None:
        self.ctx = ctx
        self.spec = spec
        # Normalised as the guard reads it (ssrf.normalize_url): what is dialled is what the guard checked.
        self.base_url = normalize_url(base_url or ctx.base_url or spec.base_url).rstrip("/")
        self.http = http_client(ctx.hub)
        # The provider counts per credential (an account's key), so the budget does too: the connect
        # check, syncs and write-through of one Integration share it.
        self.headers, self.auth_params, self.secrets = self._auth()
        # Tokens from hubwire.oauth (refreshed), not the credentials in hand (none in hand: it reads
        # the stored ones); never for a connect's check, nor for a token pasted in at connect. The
        # credentials say whether a token endpoint issued them, whatever grant the OAuth app sets.
        self.oauth = (
            ctx.provider.oauth is not None
            and not ctx.checking
            and bool(ctx.integration.get("$id"))
            and (not ctx.credentials or issued(ctx.credentials))
        )
        digest = hashlib.sha256("\0".join(sorted(self.secrets)).encode()).hexdigest()[:16]
        key = f"{ctx.provider.slug}:{digest}"
        if self.oauth:
            key = f"{ctx.provider.slug}:{ctx.integration['$id']}"  # its tokens change; the account does not
        rl = spec.rate_limit
        # An Integration may lower (or, for a raised account limit, raise) the provider's default.
        wanted = ctx.config.get("rate_limit")
        if isinstance(wanted, int | float) and not isinstance(wanted, bool) and wanted > 0:
            self.budget: Budget | None = Budget(str(key), int(wanted), rl.period if rl else 1.0)
        else:
            self.budget = Budget(str(key), rl.requests, rl.period) if rl else None

    def _auth(self) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
        a = self.spec.auth
        creds = self.ctx.credentials
        value = str(creds.get(a.credential) or "")
        headers = dict(self.spec.headers)
        params: dict[str, str] = {}
        secrets = tuple(str(v) for v in creds.values() if isinstance(v, str) and v)
        if a.mode == "bearer":
            headers["Authorization"] = f"Bearer {value}"
        elif a.mode == "header":
            headers[a.header] = f"{a.prefix}{value}"
        elif a.mode == "basic":
            pair = f"{value}:{creds.get(a.password or '') or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif a.mode == "query":
            params[a.param] = value
        return headers, params, secrets

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        query: list[tuple[str, Any]] = list(params.items() if isinstance(params, Mapping) else params or [])
        query += list(self.auth_params.items())
        data = json = None
        if body is not None:
            if self.spec.body == "form":
                data = dict(encode_form(body))
            else:
                json = dict(body)
        integration_id = self.ctx.integration.get("$id") or ""
        if not self.oauth:
            # Not OAuth, or a connect's check: the credentials in hand are the ones being checked.
            return await self._send(method, path, query, data, json, self.headers, idempotency_key)
        token = await access_token(self.ctx.hub, integration_id, provider=self.ctx.provider)
        try:
            return await self._send(method, path, query, data, json, self._bearer(token), idempotency_key)
        except ProviderAuthError as exc:
            if exc.provider_status != 401:
                raise
        token = await access_token(self.ctx.hub, integration_id, rejected=token, provider=self.ctx.provider)
        return await self._send(method, path, query, data, json, self._bearer(token), idempotency_key)

    def _bearer(self, token: str) -> dict[str, str]:
        return {**self.headers, "Authorization": f"Bearer {token}"}

    async def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]],
        data: dict[str, Any] | None,
        json: dict[str, Any] | None,
        headers: dict[str, str],
        idempotency_key: str | None,
    ) -> httpx.Response:
        return await self.http.request(
            method,
            self.url(path),
            params=query or None,
            data=data,
            json=json,
            headers=headers,
            idempotency_key=idempotency_key if self.spec.idempotency_header else None,
            idempotency_header=self.spec.idempotency_header or "Idempotency-Key",
            budget=self.budget,
            secrets=self.secrets,
            provider=self.ctx.provider.slug,
            integration_id=self.ctx.integration.get("$id") or None,
            rate_limit=self.rate_limit_wait,
        )

    def rate_limit_wait(self, resp: httpx.Response) -> float | None:
        """Seconds to wait when ``resp`` is a rate limit, else ``None``; a provider whose limits speak
        otherwise than ``Retry-After`` / ``X-RateLimit-*`` overrides it (HubSpot's daily quota)."""
        return rate_limit_wait(resp)

    async def call(
        self,
        endpoint: Endpoint,
        *,
        remote_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        path = endpoint.path.replace("{id}", remote_id or "")
        resp = await self.send(
            endpoint.method,
            path,
            params={**dict(endpoint.params), **(params or {})},
            body=body,
            idempotency_key=idempotency_key,
        )
        if resp.status_code == 204 or not resp.content:
            return None
        return self.json(resp, endpoint.method, path)

    def json(self, resp: httpx.Response, method: str, path: str) -> Any:
        """The response's JSON; a body that is not JSON is a ProviderInvalidRequest (the body never shown)."""
        try:
            return resp.json()
        except ValueError:
            raise ProviderInvalidRequest(
                f"{method} {path.split('?', 1)[0]} answered with a body that is not JSON",
                provider=self.ctx.provider.slug,
            ) from None

    async def pages(
        self, resource: Resource, params: Mapping[str, Any], position: dict[str, Any] | None = None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
        """Yield ``(records, next_position)``; ``next_position`` is ``None`` on the last page."""
        if resource.list is None:
            return
        pg: Pagination = resource.pagination or self.spec.pagination
        pos = dict(position or {})
        while True:
            query: dict[str, Any] = {**dict(resource.list.params), **params}
            path = resource.list.path
            if pg.style != "none":
                query[pg.limit_param] = pg.page_size
            if pg.style == "cursor" and pos.get("after"):
                query[pg.cursor_param] = pos["after"]
            elif pg.style == "next_token" and pos.get("token"):
                query[pg.cursor_param] = pos["token"]
            elif pg.style == "page":
                query[pg.page_param] = pos.get("page", 1)
            elif pg.style == "offset":
                query[pg.offset_param] = pos.get("offset", 0)
            elif pg.style == "link" and pos.get("url"):
                path, query = pos["url"], {}
            resp = await self.send(resource.list.method, path, params=query)
            body = self.json(resp, resource.list.method, path)
            raw = dig(body, resource.record_path) if resource.record_path else body
            records: list[dict[str, Any]] = [r for r in (raw or []) if isinstance(r, dict)]
            nxt: dict[str, Any] | None = None
            if pg.style == "cursor":
                if dig(body, pg.has_more_path) and records:
                    nxt = {"after": records[-1].get(resource.id_field)}
            elif pg.style == "next_token":
                token = dig(body, pg.token_path)
                if token:
                    nxt = {"token": token}
            elif pg.style == "page":
                if len(records) >= pg.page_size:
                    nxt = {"page": int(pos.get("page", 1)) + 1}
            elif pg.style == "offset":
                # The body's "more" flag when it has one (Pipedrive's more_items_in_collection), else a full page.
                more = dig(body, pg.has_more_path)
                if (bool(more) if more is not None else len(records) >= pg.page_size) and records:
                    nxt = {"offset": int(pos.get("offset", 0)) + len(records)}
            elif pg.style == "link":
                m = _LINK_NEXT.search(resp.headers.get("link", ""))
                if m:
                    nxt = {"url": m.group(1)}
            yield records, nxt
            if nxt is None:
                return
            pos = nxt


class SpecProvider(Provider):
    """A provider implemented from its :class:`ProviderSpec` (``spec``); override hooks as needed."""

    spec: ClassVar[ProviderSpec]

    def connection(self, ctx: ProviderContext) -> Connection:
        return Connection(ctx, self.spec)

    async def connect_to(self, ctx: ProviderContext) -> Connection:
        """The connection of an Integration, for a provider whose session needs I/O first (default: ``connection``)."""
        return self.connection(ctx)

    def direct_resource(self, conn: Connection, name: str) -> Resource | None:
        """The resource a direct call (``Integration.use``) names: by its name (any case) or its Noun's."""
        for r in self.spec.resources:
            if r.name == name:
                return r
        folded = name.casefold()
        for r in self.spec.resources:
            if r.name.casefold() == folded or (r.mapping is not None and r.mapping.noun.casefold() == folded):
                return r
        return None

    def account(self, body: Any) -> dict[str, Any] | None:
        """What the credential check reveals about the account (kept in the Integration's config)."""
        return None

    def record(self, resource: Resource, raw: dict[str, Any]) -> dict[str, Any] | None:
        return raw

    def noun(self, resource: Resource) -> Noun:
        if resource.mapping is None:
            raise ConfigurationError(f"{self.slug}: resource {resource.name} has no mapping", provider=self.slug)
        noun = Noun.registry.get(resource.mapping.noun)
        if noun is None:
            raise ConfigurationError(f"{self.slug}: unknown Noun {resource.mapping.noun}", provider=self.slug)
        return noun

    def resource_for(self, noun: str) -> Resource:
        for r in self.spec.resources:
            if r.mapping is not None and r.mapping.noun == noun:
                return r
        raise KeyError(noun)

    def pushable(self, resource: str) -> frozenset[str]:
        try:
            res = self.spec.resource(resource)
        except KeyError:
            return frozenset()
        if res.update is None or res.mapping is None:
            return frozenset()
        return frozenset(f for f, src in res.mapping.fields.items() if isinstance(src, str))

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        if ctx.integration.get("api_base_url"):  # the provider's own base URL is trusted; a given one is not
            await check_url(ctx.base_url, ctx.policy, field="api_base_url")
        if self.spec.check is None:
            return None
        body = await self.connection(ctx).call(self.spec.check)
        return self.account(body)

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        conn = self.connection(ctx)
        return await pull(ctx, progress, self.streams(ctx, conn))

    def streams(self, ctx: ProviderContext, conn: Connection) -> list[Stream]:
        """Every ``sync`` resource, but those whose Noun this Integration only pushes."""
        pushable = self.push_directions()
        return [
            Stream(r.name, self.noun(r), self.resource_pages(conn, r))
            for r in self.spec.resources
            if r.sync
            and r.list is not None
            and r.mapping is not None
            and direction_of(pushable, ctx.config, r.mapping.noun) != "push"
        ]

    # push ----------------------------------------------------------------------------------
    def push_directions(self) -> dict[str, Direction]:
        return {r.mapping.noun: r.direction for r in self.spec.resources if r.direction and r.mapping}

    async def push(self, ctx: ProviderContext, call: PushCall) -> Pushed | None:
        """A local change through the resource's endpoints: create -> ``create`` (the answer's id is
        linked), update -> ``update`` of the changed fields, delete -> ``delete`` (a 404 is done).

        The body is :meth:`push_body`'s; the provider's answer (or, when it has none, a ``get``)
        is mapped as a sync maps a record, for the ref.
        """
        resource = self.resource_for(call.noun.name)
        conn = self.connection(ctx)
        if call.verb == "delete":
            if resource.delete is None:
                raise ConfigurationError(f"{self.slug}: {resource.name} has no delete endpoint", provider=self.slug)
            with contextlib.suppress(ProviderNotFound):  # already gone: what a delete wants
                await conn.call(resource.delete, remote_id=call.remote_id, idempotency_key=call.idempotency_key)
            return None
        endpoint = resource.create if call.verb == "create" else resource.update
        if endpoint is None:
            raise ConfigurationError(f"{self.slug}: {resource.name} has no {call.verb} endpoint", provider=self.slug)
        body = await self.push_body(ctx, resource, call.fields)
        answer = await conn.call(endpoint, remote_id=call.remote_id, body=body, idempotency_key=call.idempotency_key)
        if not isinstance(answer, dict) and call.remote_id is not None and resource.get is not None:
            answer = await conn.call(resource.get, remote_id=call.remote_id)
        record = to_incoming(resource, answer) if isinstance(answer, dict) else None
        if record is None:
            raise ProviderInvalidRequest(
                f"{self.slug} answered the {call.verb} of {resource.name} without an object with an "
                f"{resource.id_field!r}",
                provider=self.slug,
            )
        return Pushed(resource.name, record)

    async def push_body(self, ctx: ProviderContext, resource: Resource, fields: dict[str, Any]) -> dict[str, Any]:
        """Noun fields as a request body: the field map read backwards (``"contact.email"`` ->
        ``{"contact": {"email": ...}}``), a relation as the remote id of the related entity.

        A field mapped by a function, or a relation to an entity the provider does not know, is
        left out: override this for a provider whose body needs them (or another shape).
        """
        mapping = resource.mapping
        body: dict[str, Any] = {}
        if mapping is None:
            return body
        for name, value in fields.items():
            rel = mapping.relations.get(name)
            if rel is not None:
                rid = await remote_id_of(ctx.hub, ctx.integration.id, value) if isinstance(value, str) else None
                if rid is not None or value is None:
                    _place(body, rel.source, rid)
                continue
            src = mapping.fields.get(name)
            if isinstance(src, str):
                # A form body drops None: the empty string is how form APIs (Stripe) unset a field.
                _place(body, src, "" if value is None and self.spec.body == "form" else value)
        return body

    def incremental_value(self, resource: Resource, since: Any) -> Any:
        """How a watermark goes into ``incremental_param`` (default: as stored)."""
        return since

    def resource_pages(self, conn: Connection, resource: Resource) -> Any:
        """The incremental, resumable page reader of one resource (what ``streams`` gives the engine)."""

        async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
            resuming = "page" in state
            since = state.get("since_run") if resuming else state.get("since")
            newest = state.get("max") if resuming else None
            params: dict[str, Any] = {}
            if resource.incremental_param and since is not None:
                params[resource.incremental_param] = self.incremental_value(resource, since)
            position = state.get("page") if resuming else None
            async for records, nxt in conn.pages(resource, params, position):
                items: list[Incoming] = []
                for raw in records:
                    rec = self.record(resource, raw)
                    inc = to_incoming(resource, rec) if rec is not None else None
                    if inc is not None:
                        items.append(inc)
                    mark = dig(rec, resource.incremental_field) if rec and resource.incremental_field else None
                    if mark is not None and (newest is None or mark > newest):
                        newest = mark
                if nxt is None:
                    done = newest if newest is not None else since
                    yield Batch(items, {"since": done} if done is not None else {})
                else:
                    yield Batch(items, {"since": state.get("since"), "since_run": since, "max": newest, "page": nxt})

        return pages


@Integration.updating
async def _provider_vets_update(proposed: Entity, ctx: Context) -> None:
    """Every Integration update is vetted by its provider (``Provider.updating``) before it is written."""
    current = await Integration.get(proposed.id)
    if current["provider"] in ctx.hub.providers:
        await ctx.hub.providers.get(current["provider"]).updating(ctx.hub, current, proposed)
