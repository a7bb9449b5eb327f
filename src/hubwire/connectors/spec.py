"""A provider declared as data: where its API is, how to authenticate, page and map it.

A :class:`ProviderSpec` is a small tree of frozen dataclasses; :mod:`hubwire.connectors.runtime`
executes it. Anything the data cannot say is a Python hook on the provider class (a transform
in a field map, ``SpecProvider.account``, ``SpecProvider.changes``...). This module only
describes; it never sends a request or touches the database.

Example, a provider with one resource mapped to a Noun (paths are relative to the base URL,
which an Integration's ``api_base_url`` overrides, e.g. to point at a simulator)::

    Widget = Noun("Widget", {"name": "string!", "size": "integer", "owner": "-> Contact"})

    WIDGETS = ProviderSpec(
        base_url="https://api.widgets.example",
        auth=Auth("bearer", credential="token"),
        check=Endpoint("GET", "/me"),
        pagination=Pagination("page", page_size=50),
        rate_limit=RateLimit(10),
        resources=(
            Resource(
                "widget",
                list=Endpoint("GET", "/widgets"),
                create=Endpoint("POST", "/widgets"),
                record_path="items",
                updated_field="updated_at",
                incremental_param="since",
                mapping=FieldMap(
                    "Widget",
                    fields={"name": "title", "size": lambda r: int(r["dimensions"]["w"])},
                    relations={"owner": Relation("owner.id", "contact")},
                ),
            ),
        ),
        truth_for=("Widget",),
    )

    @provider
    class Widgets(SpecProvider):
        slug, name, category = "widgets", "Widgets", "Other"
        credential_fields = required_credentials = ("token",)
        syncs = True
        spec = WIDGETS
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Auth",
    "Direction",
    "Endpoint",
    "FieldMap",
    "FieldSource",
    "Pagination",
    "ProviderSpec",
    "RateLimit",
    "Relation",
    "Resource",
    "dig",
]

AuthMode = Literal["none", "header", "bearer", "basic", "query"]
PageStyle = Literal["none", "cursor", "link", "page", "offset", "next_token"]
# Which way a Noun syncs with one Integration: provider -> local, local -> provider, or both.
Direction = Literal["pull", "push", "both"]
# A field's source: a dotted path into the provider record, or a function of the record.
FieldSource = str | Callable[[dict[str, Any]], Any]


def dig(record: Any, path: str) -> Any:
    """``dig({"a": {"b": 1}}, "a.b") == 1``; a missing step gives ``None``."""
    if isinstance(record, dict) and "." not in path:
        return record.get(path)  # most mapped fields are top-level keys: several per record of a sync
    value = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


@dataclass(frozen=True)
class Auth:
    """How credentials go on a request.

    ``header``: ``{header}: {prefix}{credential}`` · ``bearer``: ``Authorization: Bearer {credential}`` ·
    ``basic``: HTTP basic with ``credential`` as user and ``password`` (a credential name, may be empty) ·
    ``query``: ``?{param}={credential}``.
    """

    mode: AuthMode = "bearer"
    credential: str = "api_key"
    header: str = "Authorization"
    prefix: str = ""
    password: str | None = None
    param: str = "api_key"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # may hold ``{id}`` for the remote object's id
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pagination:
    """How a list endpoint pages.

    ``cursor``: Stripe style, ``{cursor_param}=<last id>`` while ``{has_more_path}`` is true ·
    ``link``: follow ``Link: <...>; rel="next"`` (GitHub) · ``page``: ``{page_param}=1,2,...`` until a short page ·
    ``offset``: ``{offset_param}=0,n,2n...`` while ``{has_more_path}`` is true, or (a body without it) until a
    short page · ``next_token``: ``{cursor_param}=<{token_path} of the body>``.
    """

    style: PageStyle = "cursor"
    page_size: int = 100
    limit_param: str = "limit"
    cursor_param: str = "starting_after"
    has_more_path: str = "has_more"
    token_path: str = "next"
    page_param: str = "page"
    offset_param: str = "offset"


@dataclass(frozen=True)
class RateLimit:
    """The provider's limit per connection; the HTTP layer never starts more than this."""

    requests: int
    period: float = 1.0


@dataclass(frozen=True)
class Relation:
    """A Noun relation filled from another synced resource: ``source`` holds the remote id (or object)."""

    source: str
    resource: str


@dataclass(frozen=True)
class FieldMap:
    """A resource's records as a Noun: ``fields`` maps Noun field -> source; ``relations`` by external ref."""

    noun: str
    fields: dict[str, FieldSource] = field(default_factory=dict)
    relations: dict[str, Relation] = field(default_factory=dict)

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """The Noun fields of a record, relations excluded (they need the refs table)."""
        out: dict[str, Any] = {}
        for name, src in self.fields.items():
            out[name] = src(record) if callable(src) else dig(record, src)
        return out


@dataclass(frozen=True)
class Resource:
    """One kind of remote object and its endpoints."""

    name: str
    list: Endpoint | None = None
    get: Endpoint | None = None
    create: Endpoint | None = None
    update: Endpoint | None = None
    delete: Endpoint | None = None
    mapping: FieldMap | None = None
    record_path: str = "data"  # where a list response keeps its records ("" = the body is the list)
    id_field: str = "id"
    updated_field: str | None = None  # remote last-modified (epoch seconds or ISO), for conflicts
    incremental_param: str | None = None  # e.g. "created[gte]" or "since": list only newer records
    incremental_field: str | None = None  # the record field whose max is the next ``since``
    pagination: Pagination | None = None  # overrides the provider's
    sync: bool = True  # pulled by sync (False: write-only or fetched by hooks)
    # Set: local changes of the mapped Noun can be pushed through create/update/delete (the push
    # outbox, hubwire.push), and this is the default direction; an Integration's config
    # ``directions`` chooses another. None: pull only (a Noun the provider is the truth for).
    direction: Direction | None = None


@dataclass(frozen=True)
class ProviderSpec:
    base_url: str
    auth: Auth = field(default_factory=Auth)
    check: Endpoint | None = None
    pagination: Pagination = field(default_factory=Pagination)
    rate_limit: RateLimit | None = None
    resources: tuple[Resource, ...] = ()
    truth_for: tuple[str, ...] = ()  # the Nouns this provider is the source of truth for
    idempotency_header: str | None = "Idempotency-Key"
    body: Literal["form", "json"] = "json"  # how writes encode their bodies
    headers: tuple[tuple[str, str], ...] = ()

    def resource(self, name: str) -> Resource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)
