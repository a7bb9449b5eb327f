"""Direct provider calls: ``crm = await Integration.use("salesforce")``, the seed's ``integrations.use``.

A :class:`ProviderClient` is bound to one connected Integration and talks to its provider through
the same :class:`~hubwire.connectors.runtime.Connection` a sync and a write-through use, so the
one HTTP layer (:mod:`hubwire.net.http`) applies: SSRF guard, retries, the Integration's rate
budget, redaction, OAuth tokens handed out and refreshed by :mod:`hubwire.oauth`. A failure is the
typed error the HTTP layer maps (``ProviderInvalidRequest`` with the provider's own ``code``:
Salesforce's ``DUPLICATE_VALUE``, ``REQUIRED_FIELD_MISSING``; Stripe's ``resource_missing``...).

- ``request(method, path, query=, body=)``: any call under the provider's base URL; the answer's
  status, a subset of its headers (:data:`FORWARDED_HEADERS`) and its body. ``path`` is a path
  (``/services/data/...``); a full URL is accepted only when it points at the Integration's own
  base URL: credentials never leave except to their provider.
- ``create`` / ``get`` / ``update`` / ``list`` of a resource, for providers declared as a
  :class:`~hubwire.connectors.spec.ProviderSpec`: the Resource's endpoints say how
  (``SpecProvider.direct_resource``). Records are the provider's own, unmapped.

Nothing here writes an entity: a direct call is the provider's business; the next sync brings
what it changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hubwire.connectors.runtime import Connection, SpecProvider
from hubwire.connectors.spec import Resource
from hubwire.connectors.writethrough import context_of
from hubwire.domains.platform import ACTIVE, Integration
from hubwire.errors import ConfigurationError, NotFoundError, ProviderInvalidRequest, ValidationError
from hubwire.nouns.entity import Entity

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["FORWARDED_HEADERS", "METHODS", "ProviderClient", "ProxyResponse", "use"]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
# What a proxied answer shows of the provider's headers: how to read the body, paging, and the
# provider's limits. Never cookies or anything that could carry a credential.
FORWARDED_HEADERS = (
    "content-type",
    "link",
    "location",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "sforce-limit-info",
    "request-id",
    "x-request-id",
)
LIST_LIMIT = 100


@dataclass(frozen=True)
class ProxyResponse:
    """A provider's answer to a direct request: status, :data:`FORWARDED_HEADERS`, body (JSON or text)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "headers": self.headers, "body": self.body}


async def use(hub: Hub, ref: str) -> ProviderClient:
    """The client of the Integration ``ref`` names: its id, or a provider slug with exactly one
    connected Integration (none or several: a ``NotFoundError`` / ``ValidationError`` naming them)."""
    if not isinstance(ref, str) or not ref:
        raise ValidationError.single("integration", "required", "use() takes an Integration id or a provider slug")
    found = await Integration.find({"$id": ref}, limit=1)
    if not found:
        if ref not in hub.providers:
            raise NotFoundError(f"no Integration {ref!r} and no provider of that slug", integration=ref)
        found = await Integration.find({"provider": ref, "status": {"$in": list(ACTIVE)}}, limit=20)
        if not found:
            raise NotFoundError(f"no connected {ref} Integration: connect one first", provider=ref)
        if len(found) > 1:
            ids = ", ".join(str(i.id) for i in found)
            raise ValidationError.single(
                "integration",
                "ambiguous",
                f"{len(found)} {ref} Integrations are connected ({ids}): use one by its id",
                provider=ref,
            )
    integration = found[0]
    if integration["status"] not in ACTIVE:
        raise ValidationError.single(
            "integration",
            "not_connected",
            f"Integration {integration.id} is {integration['status']}; connect it before using it",
            integration_id=integration.id,
        )
    if integration["provider"] not in hub.providers:
        name = integration["provider"]
        raise ConfigurationError(f"provider {name!r} is not installed", integration_id=integration.id)
    prov = hub.providers.get(integration["provider"])
    if not isinstance(prov, SpecProvider):
        raise ConfigurationError(
            f"{prov.slug} is not declared as a ProviderSpec: it has no direct calls", provider=prov.slug
        )
    ctx = await context_of(hub, integration)
    return ProviderClient(integration, prov, await prov.connect_to(ctx))


class ProviderClient:
    """One Integration's direct access to its provider (see the module docstring)."""

    def __init__(self, integration: Entity, provider: SpecProvider, connection: Connection) -> None:
        self.integration = integration
        self.provider = provider
        self.connection = connection

    def __repr__(self) -> str:
        return f"<ProviderClient {self.provider.slug} {self.integration.id}>"

    def _path(self, path: str) -> str:
        """``path`` as the connection dials it; a URL or a path that could leave the base host is refused."""
        if not isinstance(path, str) or not path:
            raise ValidationError.single("path", "required", "a request needs a path, like /v1/customers")
        base = urlsplit(self.connection.base_url)
        if path.startswith(("http://", "https://")):
            target = urlsplit(path)
            if (target.scheme, target.netloc) != (base.scheme, base.netloc):
                raise ValidationError.single(
                    "path",
                    "foreign_host",
                    f"{target.hostname or 'that host'} is not {self.provider.slug}'s API ({base.hostname}): "
                    "an Integration's credentials go only to its provider",
                    provider=self.provider.slug,
                )
            path = target.path + (f"?{target.query}" if target.query else "")
        if not path.startswith("/") or path.startswith("//") or "\\" in path or any(c < " " for c in path):
            raise ValidationError.single(
                "path", "format", "path is a path under the provider's API, starting with one '/'"
            )
        if urlsplit(self.connection.url(path)).netloc != base.netloc:  # what is dialled is the provider
            raise ValidationError.single("path", "foreign_host", "that path leaves the provider's host")
        return path

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> ProxyResponse:
        """One call to the provider with the Integration's auth; a 4xx/5xx raises its typed error."""
        verb = method.upper() if isinstance(method, str) else ""
        if verb not in METHODS:
            raise ValidationError.single("method", "enum", f"method is one of {', '.join(sorted(METHODS))}")
        if query is not None and not isinstance(query, Mapping):
            raise ValidationError.single("query", "type", "query is an object of parameters")
        if body is not None and not isinstance(body, Mapping):
            raise ValidationError.single("body", "type", "body is a JSON object")
        resp = await self.connection.send(verb, self._path(path), params=query, body=body)
        headers = {k: resp.headers[k] for k in FORWARDED_HEADERS if k in resp.headers}
        if not resp.content:
            return ProxyResponse(resp.status_code, headers, None)
        try:
            content: Any = resp.json()
        except ValueError:
            content = resp.text
        return ProxyResponse(resp.status_code, headers, content)

    def resource(self, name: str) -> Resource:
        found = self.provider.direct_resource(self.connection, name)
        if found is None:
            raise ValidationError.single(
                "resource", "unknown", f"{self.provider.slug} has no resource {name!r}", provider=self.provider.slug
            )
        return found

    async def create(self, resource: str, fields: Mapping[str, Any]) -> Any:
        """Create a record at the provider (the resource's ``create`` endpoint); the provider's answer."""
        r = self.resource(resource)
        if r.create is None:
            raise self._no("create", r)
        return await self.connection.call(r.create, body=_object(fields))

    async def get(self, resource: str, remote_id: str) -> Any:
        r = self.resource(resource)
        if r.get is None:
            raise self._no("get", r)
        return await self.connection.call(r.get, remote_id=_remote_id(remote_id))

    async def update(self, resource: str, remote_id: str, fields: Mapping[str, Any]) -> Any:
        """Update a record; the provider's answer, or (a provider answering 204) the record read back."""
        r = self.resource(resource)
        if r.update is None:
            raise self._no("update", r)
        rid = _remote_id(remote_id)
        answer = await self.connection.call(r.update, remote_id=rid, body=_object(fields))
        if answer is None and r.get is not None:
            answer = await self.connection.call(r.get, remote_id=rid)
        return answer

    async def list(self, resource: str, *, limit: int = LIST_LIMIT, **params: Any) -> list[dict[str, Any]]:
        """Up to ``limit`` records of a resource, following its pagination; ``params`` go on the query."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError.single("limit", "range", "limit is a positive integer")
        r = self.resource(resource)
        if r.list is None:
            raise self._no("list", r)
        out: list[dict[str, Any]] = []
        async for records, _ in self.connection.pages(r, params):
            out += records[: limit - len(out)]
            if len(out) >= limit:
                break
        return out

    def _no(self, what: str, r: Resource) -> ProviderInvalidRequest:
        return ProviderInvalidRequest(
            f"{self.provider.slug}'s {r.name} has no {what} endpoint", provider=self.provider.slug, code="unsupported"
        )


def _object(fields: Any) -> dict[str, Any]:
    if not isinstance(fields, Mapping):
        raise ValidationError.single("fields", "type", "fields is an object")
    return dict(fields)


def _remote_id(remote_id: Any) -> str:
    rid = str(remote_id) if isinstance(remote_id, str | int) and not isinstance(remote_id, bool) else ""
    if not rid or "/" in rid or "?" in rid or "#" in rid or rid in (".", ".."):
        raise ValidationError.single("id", "format", "id is the provider's id of the record")
    return rid
