"""Pipedrive as a provider: its credentials, the check, and the sync of its spec with the user's field mappings.

The sync is the spec's (:mod:`hubwire.connectors.runtime`): organizations, persons and deals from
the v2 lists (cursor paging, ``updated_since``, oldest change first), leads from v1 (start/limit
while ``more_items_in_collection``). A 429 is waited out as its ``Retry-After`` says (the HTTP
layer), and the connection's own budget keeps bursts under Pipedrive's window.

Where the credential comes from is :func:`credentials_of`, the one place: an ``api_token`` sent as
the ``x-api-token`` header (never in the URL, where logs would keep it); an OAuth ``access_token``
(authorized through :mod:`hubwire.oauth`, refreshed by it) is sent as a Bearer token instead. An
OAuth connection's base URL is the token response's ``api_domain`` (the company's own domain, kept
in the config), not the Integration's ``api_base_url``.
Limits: Pipedrive charges each request tokens from a per-company budget, per 2-second window
(a 429 with ``Retry-After``: waited out, and the connection's own budget keeps bursts under the
smallest plan's window) and per day. A 429 with ``x-daily-requests-left: 0`` is the daily budget
spent: no wait within a sync helps, so it is raised at once (``ProviderRateLimited``, retry in an
hour: Pipedrive does not say when the company's day ends) instead of retried.
Records deleted in Pipedrive leave its lists, so a sync cannot see them; they are removed locally
by its webhooks (``delete`` actions), when registered (:mod:`hubwire.connectors.pipedrive.webhooks`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from hubwire.connectors.mappings import FIELD_MAPPINGS, parse_field_mappings
from hubwire.connectors.pipedrive import fields
from hubwire.connectors.pipedrive.spec import PIPEDRIVE, REMOTE_FIELD
from hubwire.connectors.pipedrive.webhooks import SCHEME, event_type, records
from hubwire.connectors.registry import ProviderContext
from hubwire.connectors.runtime import Connection, SpecProvider
from hubwire.connectors.spec import Auth, ProviderSpec, Resource
from hubwire.domains import crm
from hubwire.errors import ValidationError
from hubwire.mappings.model import RemoteField
from hubwire.net.http import rate_limit_wait
from hubwire.nouns.noun import Noun
from hubwire.oauth.spec import OAuthSpec
from hubwire.sync.engine import Stream

if TYPE_CHECKING:
    from hubwire.inbound.received import ReceivedHook, WebhookRecord

__all__ = ["DAILY_RETRY_AFTER", "Pipedrive", "PipedriveConnection", "credentials_of"]

_NOUNS: dict[str, Noun] = {n.name: n for n in (crm.Organization, crm.Contact, crm.Deal, crm.Lead)}
DAILY_LEFT = "x-daily-requests-left"
DAILY_RETRY_AFTER = 3600.0


class PipedriveConnection(Connection):
    """A :class:`Connection` that tells Pipedrive's spent daily budget from its 2-second window."""

    def rate_limit_wait(self, resp: httpx.Response) -> float | None:
        if resp.status_code == 429 and resp.headers.get(DAILY_LEFT) == "0":
            # Longer than any retry waits: the HTTP layer raises ProviderRateLimited with it, unretried.
            return DAILY_RETRY_AFTER
        return rate_limit_wait(resp)


def credentials_of(ctx: ProviderContext) -> tuple[Auth, dict[str, Any]]:
    """How requests authenticate, and with what: the one place the credential source is decided."""
    creds = ctx.credentials
    if creds.get("access_token"):
        # The OAuth keys too: they say the token is hubwire.oauth's to refresh (oauth.tokens.issued).
        kept = ("access_token", "refresh_token", "expires_at", "refresh_at")
        return Auth("bearer", credential="access_token"), {k: creds[k] for k in kept if k in creds}
    return PIPEDRIVE.auth, {"api_token": creds.get("api_token")}


class Pipedrive(SpecProvider):
    slug = "pipedrive"
    name = "Pipedrive"
    category = "CRM"
    auth_type = "OAuth2"
    description = "Persons, organizations, deals and leads as Contacts, Organizations, Deals and Leads, both ways."
    provider_url = "https://www.pipedrive.com"
    api_base_url = PIPEDRIVE.base_url
    webhook_support = True
    webhook_scheme = SCHEME  # HTTP Basic, the password a webhook secret (see connectors.pipedrive.webhooks)
    # An OAuth app's authorization (Pipedrive authenticates the client with HTTP Basic; the scopes
    # are the app's, chosen in Pipedrive's Developer Hub, so none is asked for here), or an API token.
    oauth = OAuthSpec(
        authorize_url="https://oauth.pipedrive.com/oauth/authorize",
        token_url="https://oauth.pipedrive.com/oauth/token",
        client_auth="client_secret_basic",
        token_config=("api_domain",),
    )
    credential_fields = ("api_token", "access_token", "webhook_secret")
    config_fields = (FIELD_MAPPINGS, "rate_limit", "write_creates")
    syncs = True
    spec: ClassVar[ProviderSpec] = PIPEDRIVE

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        if not creds.get("api_token") and not creds.get("access_token"):
            raise ValidationError.single(
                "api_token",
                "required",
                "pipedrive needs api_token (or an OAuth access_token) to connect",
                provider=self.slug,
            )
        if FIELD_MAPPINGS in config:
            config[FIELD_MAPPINGS] = parse_field_mappings(self.slug, config[FIELD_MAPPINGS], _NOUNS, REMOTE_FIELD)
        return creds, config

    def connection(self, ctx: ProviderContext) -> PipedriveConnection:
        auth, creds = credentials_of(ctx)
        authed = replace(ctx, credentials=creds)
        # An OAuth token is for its company's domain, which the token response named.
        domain = ctx.config.get("api_domain") if creds.get("access_token") else None
        return PipedriveConnection(authed, replace(PIPEDRIVE, auth=auth), base_url=domain or None)

    def noun(self, resource: Resource) -> Noun:
        # The CRM Nouns themselves, not whatever a program later declared under the same name.
        assert resource.mapping is not None
        return _NOUNS[resource.mapping.noun]

    def mapped(self, config: Mapping[str, Any], resource: Resource) -> Resource:
        """The resource with the Integration's field mappings applied (and ``remote_data``)."""
        return fields.mapped_resource(resource, config)

    def mapped_noun(self, noun: str) -> Noun | None:
        return _NOUNS.get(noun)

    async def remote_fields(self, ctx: ProviderContext, noun: str) -> list[RemoteField]:
        return await fields.list_fields(self.connection(ctx), noun)

    def account(self, body: Any) -> dict[str, Any] | None:
        return None

    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        return event_type(payload)

    async def webhook_records(self, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
        return await records(self, ctx, hook)

    def streams(self, ctx: ProviderContext, conn: Connection) -> list[Stream]:
        return [
            Stream(r.name, self.noun(r), self.resource_pages(conn, self.mapped(ctx.config, r)))
            for r in self.spec.resources
            if r.sync and r.list is not None and r.mapping is not None
        ]
