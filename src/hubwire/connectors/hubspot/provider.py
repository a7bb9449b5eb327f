"""The HubSpot provider: checks the token, syncs companies, contacts, deals and leads, applies webhooks.

Sync, per resource (companies, then contacts, deals and leads, so relations resolve), each with its
own cursor:

- the first pass lists every object (``GET /crm/v3/objects/{type}``, ``after`` paging, the
  associations in the same answer);
- later passes ask the search API for the objects modified since the cursor (``lastmodifieddate``
  / ``hs_lastmodifieddate`` ``GTE``, oldest first) and their associations (v4 batch read). The
  search answers at most 10,000 results: at that depth the pass searches again from the last
  modification time it saw. The cursor a pass leaves is HubSpot's clock when the pass started
  (its ``Date`` header), or the newest modification seen if older: what changed while the pass ran
  is read again next time (and hashes unchanged when it was seen);
- archived objects (HubSpot's delete) are listed with ``archived=true``; those archived since the
  last pass delete their entities.

Deals whose stage moved to a won or lost stage (or back) are announced as ``Deal.Won`` /
``Deal.Lost`` / ``Deal.Reopened`` once stored (:mod:`hubwire.sync.transitions`), whether the move
came by sync or by webhook.

Webhooks (v3 signature, the app's client secret as ``webhook_secret``): a request is a batch of
``{subscriptionType, objectId, ...}`` events; :meth:`HubSpot.webhook_records` reads the objects they
name and gives them as records (``*.deletion`` deletes, ``*.merge`` deletes the merged ids), which
the inbox applies with those of the other requests waiting, a page per transaction
(:mod:`hubwire.inbound.batch`), with the Integration's conflict policies as a sync page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any, ClassVar

import httpx

from hubwire.connectors.hubspot import fields
from hubwire.connectors.hubspot.connection import SEARCH_CAP, HubSpotConnection
from hubwire.connectors.hubspot.spec import (
    ASSOCIATED,
    HUBSPOT,
    LOST_STAGES,
    MODIFIED,
    WON_STAGES,
    deal_status,
    with_links,
)
from hubwire.connectors.mappings import FIELD_MAPPINGS, parse_field_mappings
from hubwire.connectors.registry import ProviderContext, SyncProgress
from hubwire.connectors.runtime import SpecProvider, to_incoming
from hubwire.connectors.spec import ProviderSpec, Resource, dig
from hubwire.domains import crm  # noqa: F401  (the Nouns this provider fills)
from hubwire.errors import FieldError, ProviderInvalidRequest, ValidationError
from hubwire.inbound.received import ReceivedHook, WebhookRecord
from hubwire.mappings.model import RemoteField
from hubwire.nouns.noun import Noun
from hubwire.oauth.spec import OAuthSpec
from hubwire.sync import transitions
from hubwire.sync.engine import Batch, Stream, pull
from hubwire.sync.upsert import Incoming, to_epoch

__all__ = ["HubSpot", "deal_verb"]

# Some seconds of margin between HubSpot's Date header and the clocks that stamp its records.
_CLOCK_MARGIN_MS = 60_000
# Webhook subscription type prefixes -> resource.
_RESOURCE_OF = {"company": "company", "contact": "contact", "deal": "deal", "lead": "lead"}
_ORDER = ("company", "contact", "deal", "lead")
# What an OAuth install asks for: read and write of the objects synced ("oauth" every app must ask).
OAUTH_SCOPES = (
    "oauth",
    *(f"crm.objects.{kind}.{how}" for kind in ("contacts", "companies", "deals", "leads") for how in ("read", "write")),
)
# ``ctx.memo``'s key of the properties reads ask for, per resource (``HubSpot.reading``).
_PROPERTIES_MEMO = "hubspot.properties"
# A HubSpot property's internal name (what field_mappings name).
_PROPERTY_NAME = re.compile(r"[a-z0-9_]{1,100}")


def deal_verb(old: str | None, new: str | None) -> str | None:
    """The Deal verb a status move is: -> Won ``win``, -> Lost ``lose``, back to Open ``reopen``."""
    if old is None or new is None or old == new:
        return None
    return {"Won": "win", "Lost": "lose", "Open": "reopen"}.get(new)


def _ms(value: Any) -> int | None:
    epoch = to_epoch(value)
    return None if epoch is None else int(epoch * 1000)


class HubSpot(SpecProvider):
    slug = "hubspot"
    name = "HubSpot"
    category = "CRM"
    auth_type = "OAuth2"
    description = "Contacts, companies, deals and leads as Contacts, Organizations, Deals and Leads, both ways."
    provider_url = "https://www.hubspot.com"
    api_base_url = HUBSPOT.base_url
    webhook_support = True
    webhook_scheme = "hubspot"
    # An OAuth install (the public app's authorization code; HubSpot's tokens last 30 minutes and
    # its refresh token does not rotate), or a private app's access_token given at connect.
    oauth = OAuthSpec(
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/v1/token",
        scopes=OAUTH_SCOPES,
        client_auth="client_secret_post",
    )
    oauth_scopes = " ".join(OAUTH_SCOPES)
    # webhook_secret: the HubSpot app's client secret, which signs its webhooks (v3).
    credential_fields = ("access_token", "webhook_secret")
    required_credentials = ("access_token",)
    config_fields = ("rate_limit", "write_creates", "won_stages", "lost_stages", "open_stage", FIELD_MAPPINGS)
    syncs = True
    spec: ClassVar[ProviderSpec] = HUBSPOT

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        creds, config = super().prepare(params)
        for key in ("won_stages", "lost_stages"):
            value = config.get(key)
            if isinstance(value, str):
                value = [s.strip() for s in value.split(",") if s.strip()]
            if value is not None and (not isinstance(value, list) or not all(isinstance(s, str) for s in value)):
                raise ValidationError(
                    f"hubspot {key} must be a list of deal stage ids",
                    [FieldError(key, "type", f"{key} must be a list of deal stage ids")],
                    provider=self.slug,
                )
            if value is not None:
                config[key] = value
        if FIELD_MAPPINGS in config:
            nouns = {n: self.noun(self.spec.resource(r)) for n, r in fields.RESOURCE_OF_NOUN.items()}
            config[FIELD_MAPPINGS] = parse_field_mappings(self.slug, config[FIELD_MAPPINGS], nouns, _PROPERTY_NAME)
        return creds, config

    def connection(self, ctx: ProviderContext) -> HubSpotConnection:
        return HubSpotConnection(ctx, self.spec)

    async def reading(self, ctx: ProviderContext, resources: Collection[str] = _ORDER) -> HubSpotConnection:
        """A connection whose reads of ``resources`` ask for the mapped and custom properties too (one
        metadata call each per sync run or webhook batch: kept in ``ctx.memo``, see ``hubspot.fields``)."""
        conn = self.connection(ctx)
        known: dict[str, tuple[str, ...]] = ctx.memo.setdefault(_PROPERTIES_MEMO, {})
        missing = [r for r in resources if r not in known]
        if missing:
            known.update(await fields.wanted_properties(conn, missing))
        conn.extra = {r: known[r] for r in resources if r in known}
        return conn

    def mapped_noun(self, noun: str) -> Noun | None:
        name = fields.RESOURCE_OF_NOUN.get(noun)
        return self.noun(self.spec.resource(name)) if name else None

    async def remote_fields(self, ctx: ProviderContext, noun: str) -> list[RemoteField]:
        return await fields.list_properties(self.connection(ctx), fields.RESOURCE_OF_NOUN[noun])

    def deal_noun(self) -> Noun:
        return self.noun(self.spec.resource("deal"))

    # -- records --------------------------------------------------------------------------------

    def prepared(
        self, ctx: ProviderContext, resource: str, raw: dict[str, Any], associated: dict[str, list[str]] | None = None
    ) -> Incoming | None:
        """A HubSpot object as an :class:`Incoming` of its resource: links, deal status, archived."""
        rec = with_links(raw, resource, associated)
        if resource == "deal":
            won = ctx.config.get("won_stages") or WON_STAGES
            lost = ctx.config.get("lost_stages") or LOST_STAGES
            rec["_status"] = deal_status(dig(raw, "properties.dealstage"), won, lost)
        rec["deleted"] = bool(raw.get("archived"))
        return to_incoming(fields.mapped_resource(self.spec.resource(resource), ctx.config), rec)

    async def _linked(
        self, ctx: ProviderContext, conn: HubSpotConnection, resource: str, raws: list[dict[str, Any]]
    ) -> list[Incoming]:
        """Objects read without their associations (search, batch read), with them (v4 batch reads)."""
        ids = [str(r["id"]) for r in raws if r.get("id") is not None]
        found: dict[str, dict[str, list[str]]] = {i: {} for i in ids}
        for _, kind in ASSOCIATED[resource]:
            if ids:
                for rid, to in (await conn.associations(resource, kind, ids)).items():
                    found.setdefault(rid, {})[kind] = to
        out = []
        for raw in raws:
            inc = self.prepared(ctx, resource, raw, found.get(str(raw.get("id")), {}))
            if inc is not None:
                out.append(inc)
        return out

    # -- sync -----------------------------------------------------------------------------------

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        conn = await self.reading(ctx)
        moves: list[tuple[list[Incoming], dict[str, tuple[str, str]]]] = []
        seen = await pull(ctx, progress, self.streams_for(ctx, conn, moves))
        # After the pull, not in the page generator: the engine fetches a page ahead of storing the last.
        for items, before in moves:
            await transitions.announce(ctx.hub, self.deal_noun(), items, before, self.slug, deal_verb)
        return seen

    def streams_for(self, ctx: ProviderContext, conn: HubSpotConnection, moves: list[Any]) -> list[Stream]:
        out: list[Stream] = []
        for name in _ORDER:
            resource = self.spec.resource(name)
            noun = self.noun(resource)
            out.append(Stream(name, noun, self._changes(ctx, conn, name, moves if name == "deal" else None)))
            out.append(Stream(f"{name}:archived", noun, self._archived(ctx, conn, resource)))
        return out

    def _changes(self, ctx: ProviderContext, conn: HubSpotConnection, name: str, moves: list[Any] | None) -> Any:
        resource = self.spec.resource(name)
        hub, iid = ctx.hub, str(ctx.integration.id)

        async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
            resuming = "page" in state
            since = state.get("since")
            started = state.get("started") if resuming else None
            newest = state.get("max") if resuming else None
            position: dict[str, Any] = dict(state["page"]) if resuming else {}
            while True:
                if since is None:  # the first pass: the list, with associations
                    body, resp = await self._list_page(conn, resource, position.get("after"))
                    records = [r for r in body.get("results") or [] if isinstance(r, dict)]
                    token = dig(body, "paging.next.after")
                    nxt = {"after": token} if token else None
                    items = [i for i in (self.prepared(ctx, name, r) for r in records) if i is not None]
                else:
                    floor = int(position.get("floor", since))
                    body, resp = await conn.search(name, floor, position.get("after"))
                    records = [r for r in body.get("results") or [] if isinstance(r, dict)]
                    token = dig(body, "paging.next.after")
                    seen_to = int(position.get("after") or 0) + len(records)
                    capped = not token and int(body.get("total") or 0) > seen_to  # HubSpot ends at its cap
                    nxt = None
                    if capped or (token and int(token) + 100 > SEARCH_CAP):
                        # Beyond HubSpot's 10,000 results: search again from the last modification seen.
                        last = _ms(dig(records[-1], "updatedAt")) if records else None
                        if last is None or last <= floor:
                            raise ProviderInvalidRequest(
                                f"more than {SEARCH_CAP} HubSpot {name} records share one {MODIFIED[name]}; "
                                "the search API cannot page past them (run a full sync)",
                                provider=self.slug,
                            )
                        nxt = {"floor": last}
                    elif token:
                        nxt = {"floor": floor, "after": token}
                    items = await self._linked(ctx, conn, name, records)
                if started is None:
                    at = conn.server_time(resp)
                    started = int(at * 1000) - _CLOCK_MARGIN_MS if at is not None else None
                for raw in records:
                    mark = _ms(raw.get("updatedAt"))
                    if mark is not None and (newest is None or mark > newest):
                        newest = mark
                if moves is not None and items and since is not None:
                    # Read before this page is applied; announced once the whole pull is stored.
                    moves.append((items, await transitions.statuses_before(hub, iid, name, items)))
                if nxt is None:
                    marks = [m for m in (started, newest) if m is not None]
                    done = min(marks) if marks else since
                    if since is not None and done is not None:
                        done = max(done, int(since))
                    yield Batch(items, {"since": done} if done is not None else {})
                    return
                yield Batch(items, {"since": since, "started": started, "max": newest, "page": nxt})
                position = nxt

        return pages

    async def _list_page(
        self, conn: HubSpotConnection, resource: Resource, after: str | None, archived: bool = False
    ) -> tuple[dict[str, Any], httpx.Response]:
        """One page of a list (``archived``: of the archived objects) and its response."""
        assert resource.list is not None
        params: dict[str, Any] = {**dict(resource.list.params), "limit": 100}
        if after:
            params["after"] = after
        if archived:
            params["archived"] = "true"
        params["properties"] = ",".join(conn.properties(resource.name))
        resp = await conn.send("GET", resource.list.path, params=params)
        body = conn.json(resp, "GET", resource.list.path)
        return body if isinstance(body, dict) else {}, resp

    def _archived(self, ctx: ProviderContext, conn: HubSpotConnection, resource: Resource) -> Any:
        """Pages of the objects archived since the last pass, as deletions."""

        async def pages(state: dict[str, Any]) -> AsyncIterator[Batch]:
            since = state.get("since")
            after = None
            started: int | None = None
            while True:
                body, resp = await self._list_page(conn, resource, after, archived=True)
                records = [r for r in body.get("results") or [] if isinstance(r, dict)]
                if started is None:
                    at = conn.server_time(resp)
                    started = int(at * 1000) - _CLOCK_MARGIN_MS if at is not None else None
                fresh = [r for r in records if since is None or (_ms(r.get("archivedAt")) or 0) >= int(since)]
                items = [i for i in (self.prepared(ctx, resource.name, r) for r in fresh) if i is not None]
                token = dig(body, "paging.next.after")
                if not token:
                    done = started if started is not None else since
                    yield Batch(items, {"since": done} if done is not None else {}, resource=resource.name)
                    return
                yield Batch(items, dict(state), resource=resource.name)
                after = token

        return pages

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        """The batch's subscription types (``contact.propertyChange``), comma-separated when several."""
        events = payload if isinstance(payload, list) else [payload]
        kinds = [str(e["subscriptionType"]) for e in events if isinstance(e, dict) and e.get("subscriptionType")]
        return ",".join(dict.fromkeys(kinds)) or None

    async def webhook_records(self, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
        """The records of a request's events: the objects they name, read from HubSpot (with their
        associations) as a sync reads them, and deletions (``*.deletion``; ``*.merge`` deletes the
        merged ids and reads the primary one). Deals carry their stage moves (``deal_verb``)."""
        events = hook.payload if isinstance(hook.payload, list) else [hook.payload]
        fetch: dict[str, list[str]] = {name: [] for name in _ORDER}
        gone: dict[str, list[str]] = {name: [] for name in _ORDER}
        for ev in events:
            if not isinstance(ev, dict):
                continue
            kind, _, change = str(ev.get("subscriptionType") or "").partition(".")
            name = _RESOURCE_OF.get(kind)
            if name is None or ev.get("objectId") is None:
                continue
            ident = str(ev["objectId"])
            if change == "deletion":
                gone[name].append(ident)
            elif change == "merge":
                primary = str(ev.get("primaryObjectId") or ident)
                fetch[name].append(primary)
                gone[name] += [str(m) for m in ev.get("mergedObjectIds") or [] if str(m) != primary]
            else:  # creation, propertyChange, associationChange, restore
                fetch[name].append(ident)
        if not any(fetch.values()) and not any(gone.values()):
            return []
        conn = await self.reading(ctx, [name for name in _ORDER if fetch[name]])
        out: list[WebhookRecord] = []
        for name in _ORDER:
            removed = set(gone[name])
            items = [Incoming(i, {}, deleted=True) for i in dict.fromkeys(gone[name])]
            wanted = [i for i in dict.fromkeys(fetch[name]) if i not in removed]
            if wanted:
                items += await self._linked(ctx, conn, name, await conn.read(name, wanted))
            noun = self.noun(self.spec.resource(name))
            verb_for = deal_verb if name == "deal" else None
            out += [WebhookRecord(name, noun, item, verb_for) for item in items]
        return out
