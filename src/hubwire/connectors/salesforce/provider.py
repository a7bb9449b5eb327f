"""Salesforce as a provider: its session (token + instance URL), the check, and the SOQL sync.

A sync runs one stream per sObject (Account, Contact, Opportunity, Lead, in that order so
references resolve). Each asks the org's describe which of its fields exist, then pages a SOQL
query with ``nextRecordsUrl`` (queryMore):

- first pass: ``query`` (live records) ``ORDER BY SystemModstamp``;
- later passes: ``queryAll ... WHERE SystemModstamp >= <since>``, which also returns the records
  deleted since (``IsDeleted = true``, in the recycle bin): they are deleted locally.

The cursor is the newest ``SystemModstamp`` stored, saved with every page: as records come
oldest first, a crashed pass resumes from its last page (query locators expire; a modstamp does
not), and ``>=`` re-reads the boundary records, which hash as unchanged.

Every answer's ``Sforce-Limit-Info: api-usage=n/N`` is read; when ``n`` reaches the config's
``api_usage_stop`` share of ``N`` (default 0.9) the sync stops after the page it stored, with a
``ProviderRateLimited`` (retry in an hour): the rest of the day's calls stay the org's. A
``403 REQUEST_LIMIT_EXCEEDED`` (the allowance spent by others) is that same error, not a refused token.

Where the token goes is :func:`session_of`, the one place: the org's ``instance_url`` (the token
response's, kept with the credentials and in the config). The token is the ``access_token`` given
at connect, or, for a connection authorized with OAuth 2.0 (:mod:`hubwire.oauth`: a connected app,
web server flow with PKCE, or the client-credentials grant set on the OAuth app), the one
``hubwire.oauth`` hands out: Salesforce says no expiry, so it is refreshed when the org answers 401.
Salesforce has no webhooks for this: changes are polled (``webhook_support`` is False).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from hubwire.connectors.mappings import FIELD_MAPPINGS, mappings_for, parse_field_mappings
from hubwire.connectors.registry import ProviderContext, SyncProgress
from hubwire.connectors.runtime import Connection, SpecProvider, to_incoming
from hubwire.connectors.salesforce import fields
from hubwire.connectors.salesforce.spec import API_VERSION, REMOTE_FIELD, SALESFORCE, SOBJECTS, SObject
from hubwire.connectors.spec import Endpoint, Pagination, ProviderSpec, Resource
from hubwire.domains import crm
from hubwire.errors import FieldError, ProviderAuthError, ProviderRateLimited, ValidationError
from hubwire.mappings.model import RemoteField
from hubwire.net.ssrf import check_url
from hubwire.nouns.noun import Noun
from hubwire.oauth.spec import OAuthSpec
from hubwire.sync.engine import Batch, Stream, pull
from hubwire.sync.upsert import Incoming

__all__ = ["ApiUsage", "Salesforce", "SalesforceConnection", "Session", "session_of"]

_NOUNS: dict[str, Noun] = {n.name: n for n in (crm.Organization, crm.Contact, crm.Deal, crm.Lead)}
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_VERSION = re.compile(r"\d{2,3}\.0")
DEFAULT_USAGE_STOP = 0.9
# An hour: Salesforce's allowance is a rolling 24 hours, so some of it comes back within one.
LIMIT_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Session:
    access_token: str
    instance_url: str


async def session_of(ctx: ProviderContext) -> Session:
    """The token and the org's URL a connection uses: the one place the token source is decided."""
    creds = ctx.credentials
    url = creds.get("instance_url") or ctx.config.get("instance_url") or ""
    return Session(str(creds.get("access_token") or ""), str(url).rstrip("/"))


@dataclass(frozen=True)
class ApiUsage:
    """``Sforce-Limit-Info: api-usage=used/limit``: the org's API calls in the last 24 hours."""

    used: int
    limit: int

    @classmethod
    def of(cls, resp: httpx.Response) -> ApiUsage | None:
        m = _USAGE.search(resp.headers.get("sforce-limit-info", ""))
        return cls(int(m.group(1)), int(m.group(2))) if m else None


class SalesforceConnection(Connection):
    """A connection to one org: paths under ``/services/data/v{api_version}``, usage read from every answer."""

    def __init__(self, ctx: ProviderContext, session: Session) -> None:
        # The instance URL is where requests go, not a secret to mask in messages.
        authed = replace(ctx, credentials={k: v for k, v in ctx.credentials.items() if k != "instance_url"})
        super().__init__(authed, replace(SALESFORCE, base_url=session.instance_url or SALESFORCE.base_url))
        self.data = f"/services/data/v{ctx.config.get('api_version') or API_VERSION}"
        self.usage: ApiUsage | None = None

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """Every call of the org (sync, writes, direct ``Integration.use`` calls): its usage read, and
        a spent daily allowance (403 ``REQUEST_LIMIT_EXCEEDED``) a rate limit, not a refused token."""
        try:
            resp = await super().send(method, path, params=params, body=body, idempotency_key=idempotency_key)
        except ProviderAuthError as exc:
            if exc.code != "REQUEST_LIMIT_EXCEEDED":
                raise
            raise ProviderRateLimited(
                f"Salesforce's daily API limit is reached: {exc.message}",
                provider=self.ctx.provider.slug,
                integration_id=self.ctx.integration.get("$id") or None,
                provider_status=exc.provider_status,
                retry_after=LIMIT_RETRY_AFTER,
            ) from None
        self.usage = ApiUsage.of(resp) or self.usage
        return resp

    async def request(
        self, method: str, path: str, *, params: Any = None, body: Mapping[str, Any] | None = None
    ) -> Any:
        """One API call (``path`` under the data path unless it is one already); its JSON, None for a 204."""
        full = path if path.startswith("/services/") else f"{self.data}{path}"
        resp = await self.send(method, full, params=params, body=body)
        if resp.status_code == 204 or not resp.content:
            return None
        return self.json(resp, method, full)

    def near_limit(self) -> bool:
        stop = self.ctx.config.get("api_usage_stop") or DEFAULT_USAGE_STOP
        return self.usage is not None and self.usage.used >= self.usage.limit * float(stop)

    async def fields_of(self, sobject: str) -> set[str]:
        """The field names the org's describe lists for ``sobject`` (custom fields included)."""
        described = await self.request("GET", f"/sobjects/{sobject}/describe")
        return {str(f["name"]) for f in (described or {}).get("fields") or [] if isinstance(f, dict)}


def soql_time(epoch: float) -> str:
    """A SOQL datetime literal, whole seconds rounded down (a ``>=`` filter then misses nothing)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Salesforce(SpecProvider):
    slug = "salesforce"
    name = "Salesforce"
    category = "CRM"
    auth_type = "OAuth2"
    description = "Accounts, contacts, opportunities and leads as Organizations, Contacts, Deals and Leads, both ways."
    provider_url = "https://www.salesforce.com"
    webhook_support = False  # no webhooks for record changes: Salesforce is polled (SystemModstamp)
    # A connected app's web server flow (login.salesforce.com; a sandbox or My Domain login is the
    # OAuth app's authorize_url / token_url): PKCE, the secret in the form, the org's instance_url
    # from the token response. ``refresh_token`` is the scope that makes Salesforce issue one.
    oauth = OAuthSpec(
        authorize_url="https://login.salesforce.com/services/oauth2/authorize",
        token_url="https://login.salesforce.com/services/oauth2/token",
        scopes=("api", "refresh_token"),
        client_auth="client_secret_post",
        token_config=("instance_url",),
    )
    oauth_scopes = "api refresh_token"
    credential_fields = ("access_token", "instance_url")
    required_credentials = ("access_token", "instance_url")
    config_fields = (
        "api_version",
        "api_usage_stop",
        FIELD_MAPPINGS,
        "rate_limit",
        "write_creates",
        "won_stage",
        "lost_stage",
        "open_stage",
    )
    syncs = True
    spec: ClassVar[ProviderSpec] = SALESFORCE

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        errors: list[FieldError] = []
        url = str(creds.get("instance_url") or "")
        if not url.startswith(("https://", "http://")):
            errors.append(FieldError("instance_url", "format", "instance_url is the org's URL (https://...)"))
        version = config.get("api_version")
        if version is not None and not (isinstance(version, str) and _VERSION.fullmatch(version)):
            errors.append(FieldError("api_version", "format", f"api_version is like {API_VERSION!r}"))
        stop = config.get("api_usage_stop")
        if isinstance(stop, str):  # from the CLI
            with contextlib.suppress(ValueError):
                stop = config["api_usage_stop"] = float(stop)
        if stop is not None and not (isinstance(stop, int | float) and not isinstance(stop, bool) and 0 < stop <= 1):
            errors.append(FieldError("api_usage_stop", "range", "api_usage_stop is a share of the daily limit, 0 to 1"))
        if errors:
            raise ValidationError(
                "cannot connect salesforce: " + "; ".join(e.message for e in errors), errors, provider=self.slug
            )
        if FIELD_MAPPINGS in config:
            config[FIELD_MAPPINGS] = parse_field_mappings(self.slug, config[FIELD_MAPPINGS], _NOUNS, REMOTE_FIELD)
        return creds, config

    def noun(self, resource: Resource) -> Noun:
        # The CRM Nouns themselves, not whatever a program later declared under the same name.
        assert resource.mapping is not None
        return _NOUNS[resource.mapping.noun]

    def mapped_noun(self, noun: str) -> Noun | None:
        return _NOUNS.get(noun)

    async def remote_fields(self, ctx: ProviderContext, noun: str) -> list[RemoteField]:
        """The describe of the sObject that fills ``noun`` (custom fields included)."""
        sobject = next(s for s in SOBJECTS if s.resource.mapping and s.resource.mapping.noun == noun)
        conn = await self.connect_to(ctx)
        described = await conn.request("GET", f"/sobjects/{sobject.name}/describe")
        found = (described or {}).get("fields") or []
        return [fields.to_remote_field(f) for f in found if isinstance(f, dict) and f.get("name")]

    async def connect_to(self, ctx: ProviderContext) -> SalesforceConnection:
        return SalesforceConnection(ctx, await session_of(ctx))

    def direct_resource(self, conn: Connection, name: str) -> Resource | None:
        """Any sObject by its API name (``Lead``, ``Tier__c``): the REST sObject endpoints; ``list``
        is a SOQL query of ``Id`` and ``Name`` (a direct ``request`` of ``/query`` asks for more)."""
        if not REMOTE_FIELD.fullmatch(name):
            return None
        data = conn.data if isinstance(conn, SalesforceConnection) else f"/services/data/v{API_VERSION}"
        base = f"{data}/sobjects/{name}"
        return Resource(
            name,
            list=Endpoint("GET", f"{data}/query", params=(("q", f"SELECT Id, Name FROM {name}"),)),
            get=Endpoint("GET", f"{base}/{{id}}"),
            create=Endpoint("POST", base),
            update=Endpoint("PATCH", f"{base}/{{id}}"),
            record_path="records",
            id_field="Id",
            pagination=Pagination("none"),
            sync=False,
        )

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        session = await session_of(ctx)
        # Credentials go where instance_url (or api_base_url) says: the guard checks it before the token does.
        await check_url(session.instance_url, ctx.policy, field="instance_url")
        if ctx.integration.get("api_base_url"):
            await check_url(ctx.base_url, ctx.policy, field="api_base_url")
        conn = SalesforceConnection(ctx, session)
        await conn.request("GET", "")
        # instance_url is not repeated here: it is a credential (it comes and goes with the token).
        return {"api_usage": f"{conn.usage.used}/{conn.usage.limit}"} if conn.usage is not None else None

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        conn = await self.connect_to(ctx)
        streams = [Stream(s.resource.name, _NOUNS[s.resource.mapping.noun], self._pages(conn, s)) for s in SOBJECTS]  # type: ignore[union-attr]
        return await pull(ctx, progress, streams)

    def sobject_resource(self, config: Mapping[str, Any], sobject: SObject) -> Resource:
        """The sObject's resource with the Integration's field mappings applied."""
        return fields.mapped_resource(sobject.resource, config)

    async def select(self, conn: SalesforceConnection, sobject: SObject) -> list[str]:
        """The fields to ask for: the wanted ones the org has, and the mapped ones (which must exist)."""
        have = await conn.fields_of(sobject.name)
        assert sobject.resource.mapping is not None
        mapped = mappings_for(conn.ctx.config, sobject.resource.mapping.noun)
        missing = sorted(set(mapped.values()) - have)
        if missing:
            raise ValidationError.single(
                FIELD_MAPPINGS,
                "unknown_remote_field",
                f"field_mappings names {', '.join(missing)}, which {sobject.name} does not have in this org",
                provider=self.slug,
            )
        # The custom fields too: those no mapping uses are kept in remote_data.
        extra = (set(mapped.values()) | {f for f in have if fields.is_custom(f)}) - set(sobject.fields)
        return [f for f in sobject.fields if f in have] + sorted(extra)

    def _pages(self, conn: SalesforceConnection, sobject: SObject) -> Any:
        resource = self.sobject_resource(conn.ctx.config, sobject)

        async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
            since = state.get("since")
            if conn.near_limit():  # an earlier sObject's pages used the allowance up
                raise self._limit_reached(conn)
            fields = await self.select(conn, sobject)
            soql = f"SELECT {', '.join(fields)} FROM {sobject.name}"
            if since is None:
                path, query = "/query", f"{soql} ORDER BY SystemModstamp ASC, Id ASC"
            else:
                where = f"WHERE SystemModstamp >= {soql_time(float(since))}"
                path, query = "/queryAll", f"{soql} {where} ORDER BY SystemModstamp ASC, Id ASC"
            body = await conn.request("GET", path, params={"q": query})
            newest = since
            while True:
                items: list[Incoming] = []
                for raw in body.get("records") or []:
                    inc = to_incoming(resource, {**raw, "deleted": bool(raw.get("IsDeleted"))})
                    if inc is not None:
                        items.append(inc)
                        if inc.remote_updated is not None and (newest is None or inc.remote_updated > newest):
                            newest = inc.remote_updated
                following = body.get("nextRecordsUrl")
                yield Batch(items, {"since": newest} if newest is not None else {})
                if not following:
                    return
                if conn.near_limit():
                    raise self._limit_reached(conn)
                body = await conn.request("GET", str(following))

        return pages

    def _limit_reached(self, conn: SalesforceConnection) -> ProviderRateLimited:
        usage = conn.usage
        assert usage is not None
        return ProviderRateLimited(
            f"Salesforce API usage is {usage.used}/{usage.limit} in the last 24 hours: the sync stopped "
            f"(api_usage_stop {conn.ctx.config.get('api_usage_stop') or DEFAULT_USAGE_STOP}); "
            "the next sync resumes where it stopped",
            provider=self.slug,
            integration_id=conn.ctx.integration.get("$id") or None,
            retry_after=LIMIT_RETRY_AFTER,
        )
