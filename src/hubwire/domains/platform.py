"""The Integration Noun: an external service as an entity with a lifecycle.

Status moves (the seed's machine, plus reconnecting, which rotates credentials):

    Available -> Connected -> Synced -> Synced (re-sync)
    Connected | Synced -> Disconnected -> Available   (publish)
    Disconnected | Connected | Synced -> Connected   (reconnect with new credentials)
    ComingSoon -> Available (publish);  Available -> Deprecated (deprecate) | ComingSoon (announce)

``connect`` checks the credentials with the provider, stores them encrypted and enqueues the
initial sync in the transaction that moves the status; a refused connect of a new integration
writes nothing. A failing verb on an existing integration leaves the status as it was, sets
``error`` and emits ``Integration.Errored`` (an event-only verb: hooks ``erroring``/``errored``).
A manual ``sync(wait=True)`` withdraws the sync still queued for the integration: it does that
work, and a worker starting later must not run it again as a stale duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from hubwire.connectors import registration
from hubwire.connectors.registry import Provider, ProviderContext, SyncProgress
from hubwire.errors import HubwireError, IllegalTransitionError, ValidationError
from hubwire.hub import Hub, current_hub
from hubwire.jobs import queue
from hubwire.jobs.kinds import Backoff, Dead, Job, Retry, job_kind
from hubwire.net.redact import redact_text
from hubwire.nouns import verbs
from hubwire.nouns.entity import Entity
from hubwire.nouns.hooks import Context
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import camel_to_snake
from hubwire.nouns.verbs import acting_as
from hubwire.store.events import iso
from hubwire.store.transaction import Tx
from hubwire.sync.runs import finish_run, running, start_run
from hubwire.vault.credentials import delete_credentials, load_credentials, save_credentials

__all__ = ["SYNC_JOB", "Integration", "IntegrationNoun", "run_sync", "sync_key"]

log = structlog.get_logger("hubwire.integration")
SYNC_JOB = "integration.sync"
ACTIVE = ("Connected", "Synced")

SCHEMA = {
    "name": "string!",
    "slug": "string##",
    "description": "string",
    "provider": "string!#",
    "providerUrl": "string",
    "providerLogo": "string",
    "category": "Payment | CRM | Marketing | Analytics | Communication | Storage | AI | Other",
    "authType": "OAuth2 | ApiKey | Basic | Custom",
    "oauthScopes": "string",
    "configSchema": "string",
    "status": "Available | Connected | Disconnected | Synced | ComingSoon | Deprecated",
    "featured": "boolean",
    "apiBaseUrl": "string",
    "webhookSupport": "boolean",
    "lastSyncAt": "datetime",
    "lastSyncCount": "integer",
    "error": "string",
    # Whether provider webhooks arrive (registered: <url>) or why it keeps polling (polling: <why>).
    "webhooks": "string",
    "config": "json",
    "connect": "Connected",
    "disconnect": "Disconnected",
    "sync": "Synced",
    # The marketplace moves (a catalog entry, not a connection): to Available, ComingSoon, Deprecated.
    "publish": "Published",
    "announce": "Announced",
    "deprecate": "Deprecated",
}

STATES = {
    "status": {
        "Available": ["Connected", "Deprecated", "ComingSoon"],
        "Connected": ["Synced", "Disconnected", "Connected"],
        "Synced": ["Synced", "Disconnected", "Connected"],
        "Disconnected": ["Available", "Connected"],
        "ComingSoon": ["Available"],
        "Deprecated": [],
    }
}


class IntegrationNoun(Noun):
    """The Integration Noun with its provider-aware verbs."""

    def __init__(self) -> None:
        super().__init__(
            "Integration",
            SCHEMA,
            defaults={"status": "Available", "featured": False, "webhook_support": False},
            states=STATES,
            aliases={"status": {"Active": list(ACTIVE)}},
            verb_states={"publish": "Available", "announce": "ComingSoon"},
            # Errored is an event, not a status: a failed verb records it and leaves the status alone.
            events={"error": "Errored"},
            description="An external service connected to Hubwire.",
        )

    # connect -----------------------------------------------------------------------
    async def connect(
        self,
        integration_id: str | Mapping[str, Any] | None = None,
        /,
        *,
        provider: str | None = None,
        slug: str | None = None,
        name: str | None = None,
        api_base_url: str | None = None,
        **params: Any,
    ) -> Entity:
        """Connect a provider: check credentials, store them encrypted, move to Connected, start the sync.

        ``Integration.connect(provider="stripe", api_key=...)`` creates the integration when none
        exists for that provider and slug; ``Integration.connect("integration_x", api_key=...)``
        connects an existing one.
        """
        hub = await current_hub()
        await self.ensure_indexes(hub)
        if isinstance(integration_id, Mapping):  # the seed's object form: connect({"id": ..., ...})
            integration_id, more = self.target(integration_id)
            params = {**more, **params}
        # The seed's camelCase spellings (apiKey, apiBaseUrl) are the same keywords.
        params = {camel_to_snake(k): v for k, v in params.items()}
        provider, slug, name = params.pop("provider", provider), params.pop("slug", slug), params.pop("name", name)
        api_base_url = params.pop("api_base_url", api_base_url)
        current: Entity | None = await self.get(integration_id) if integration_id else None
        if current is None and not provider:
            raise ValidationError.single("provider", "required", "connect needs a provider or an integration id")
        prov = hub.providers.get(provider or current["provider"])  # type: ignore[index]
        if current is not None and provider and provider != current["provider"]:
            raise ValidationError.single(
                "provider", "mismatch", f"{current.id} is a {current['provider']} integration, not {provider}"
            )
        creds, config = prov.prepare(params)
        if current is None:
            wanted = slug or prov.slug_for(config)
            if wanted:
                found = await self.find({"slug": wanted}, limit=1)
                current = found[0] if found else None
                if current is not None and current["provider"] != prov.slug:
                    raise ValidationError.single(
                        "slug", "taken", f"slug {wanted!r} belongs to a {current['provider']} integration"
                    )
        # A reconnect replaces the credentials: the registration they hold is removed once it is done.
        previous = await load_credentials(hub, current.id) if current is not None else {}
        changes: dict[str, Any] = {"error": None}
        hooks = _takes_webhooks(prov)
        if hooks and not hub.settings.public_url:
            changes["webhooks"] = registration.NO_PUBLIC_URL
        if config or current is None:
            changes["config"] = {**((current.get("config") if current else None) or {}), **config}
        if api_base_url is not None:
            changes["api_base_url"] = api_base_url
        if name is not None:
            changes["name"] = name
        if current is None:
            base = {k: v for k, v in prov.catalog().items() if v is not None}
            base.update(changes)
            if slug is not None:
                base["slug"] = slug
            elif (own_slug := prov.slug_for(config)) is None:
                base.pop("slug", None)
            else:
                base["slug"] = own_slug  # the slug it was looked up by (the catalogue's by default)
            changes = {k: v for k, v in base.items() if k in self.fields}
        # What the provider checks against: the Integration this connect would leave (not yet its id
        # when new); an illegal move is refused here, before the provider is asked anything.
        verbs_ = ["connect"] if current is not None else ["create"]
        probe = verbs.propose(
            self,
            verbs_,
            current,
            self.validate(changes, partial=True),
            eid=current.id if current is not None else "",
            now_iso=iso(hub.clock()),
        ).entity
        ctx = ProviderContext(hub, prov, probe, creds, probe.get("config") or {})
        try:
            account = await prov.check(ctx)
        except HubwireError as exc:
            # A provider may quote the refused credential back: it reaches no message, row or event.
            exc.message = redact_text(exc.message, also=creds.values())
            exc.args = (exc.message,)
            if current is not None:  # a new integration refused is not made at all
                await self._record_error(current.id, exc.message)
            raise
        if account:
            changes["config"] = {**(changes.get("config") or probe.get("config") or {}), "account": account}

        async def store_and_enqueue(tx: Tx, entity: Entity) -> None:
            if creds:
                await save_credentials(tx, entity.id, creds)
            if prov.syncs:
                await queue.enqueue(
                    tx, SYNC_JOB, {"integration_id": entity.id, "initial": True}, key=sync_key(entity.id)
                )

        if current is None:
            result = await verbs.run(self, ["create", "connect"], None, changes, in_tx=[store_and_enqueue])
        else:
            result = await verbs.run(self, ["connect"], current.id, changes, in_tx=[store_and_enqueue])
        if hooks:
            result = await self._register_webhooks(hub, prov, result, creds, previous)
        # Shown once, never stored in the entity: e.g. a signing secret the provider generated.
        result.update(prov.reveal(creds))
        return result

    async def _register_webhooks(
        self, hub: Hub, prov: Provider, entity: Entity, creds: dict[str, Any], previous: dict[str, Any]
    ) -> Entity:
        """After the connect committed (a new Integration's id is its hook URL): replace the previous
        registration, if any, by a new one, and record the outcome in ``webhooks``."""
        await registration.unregister(hub, prov, entity, previous)
        if registration.hook_url(hub.settings, entity.id) is None:
            return entity  # the connect already said so
        status, stored = await registration.register(hub, prov, entity, creds)

        async def keep(tx: Tx, _: Entity) -> None:
            if stored != creds:
                await save_credentials(tx, entity.id, stored)

        return await verbs.run(self, ["update"], entity.id, {"webhooks": status}, in_tx=[keep])

    async def _record_error(self, integration_id: str, message: str) -> None:
        try:
            await self.fail(integration_id, message)
        except HubwireError as record_exc:  # never mask the provider's error with the bookkeeping's
            log.error("integration.record_error_failed", error=str(record_exc))

    async def fail(self, integration_id: str, error: str) -> Entity:
        """Record a failure: ``error`` set, ``Integration.Errored`` emitted, status unchanged."""
        return await verbs.run(self, ["error"], integration_id, {"error": redact_text(error)})

    async def disable(self, integration_id: str, error: str) -> Entity:
        """Disconnect on Hubwire's own initiative (a webhook endpoint gone): ``error`` set, and both
        ``Integration.Disconnected`` and ``Integration.Errored`` emitted; credentials are kept."""
        return await verbs.run(self, ["disconnect", "error"], integration_id, {"error": redact_text(error)})

    # disconnect ------------------------------------------------------------------------
    async def disconnect(self, integration_id: str | Mapping[str, Any]) -> Entity:
        hub = await current_hub()
        current = await self.get(integration_id)
        self.machines["status"].check(self.name, current.id, current["status"], "Disconnected")
        prov = hub.providers.get(current["provider"]) if current["provider"] in hub.providers else None
        if prov is not None:
            try:
                creds = await load_credentials(hub, current.id)
                await registration.unregister(hub, prov, current, creds)
                await prov.disconnect(ProviderContext(hub, prov, current, creds, current.get("config") or {}))
            except Exception as exc:  # the local disconnect must not depend on the provider answering
                log.warning("integration.provider_disconnect_failed", id=current.id, error=redact_text(str(exc)))

        async def forget(tx: Tx, entity: Entity) -> None:
            await delete_credentials(tx, entity.id)

        changes = {"webhooks": None} if current.get("webhooks") else {}
        return await verbs.run(self, ["disconnect"], current.id, changes, in_tx=[forget])

    # sync --------------------------------------------------------------------------------
    async def sync(
        self,
        integration_id: str | Mapping[str, Any],
        /,
        *,
        wait: bool = False,
        full: bool = False,
        progress: SyncProgress | None = None,
    ) -> Entity:
        """Start a sync: enqueue it (default), or run it here and return when done (``wait=True``)."""
        hub = await current_hub()
        current = await self.get(integration_id)
        self.machines["status"].check(self.name, current.id, current["status"], "Synced")
        if wait:
            return await run_sync(hub, current.id, full=full, progress=progress)
        async with hub.transaction() as tx:
            await queue.enqueue(tx, SYNC_JOB, {"integration_id": current.id, "full": full}, key=sync_key(current.id))
        return current

    def provider_of(self, hub: Hub, entity: Entity) -> Provider:
        return hub.providers.get(entity["provider"])


def _takes_webhooks(prov: Provider) -> bool:
    """Whether an Integration of ``prov`` says how its changes arrive (webhooks, or polling and why)."""
    return prov.syncs or prov.webhook_scheme is not None


def sync_key(integration_id: str) -> str:
    """The key of an integration's queued sync job: at most one is queued or running at a time."""
    return f"sync:{integration_id}"


Integration = IntegrationNoun()


async def run_sync(
    hub: Hub,
    integration_id: str,
    *,
    full: bool = False,
    progress: SyncProgress | None = None,
    job: Job | None = None,
) -> Entity:
    """Run one sync of an integration: ``syncing`` hooks, the provider's pull, then Synced or Errored."""
    entity = await Integration.get(integration_id)
    if entity["status"] not in ACTIVE:
        raise IllegalTransitionError(
            f"Integration {integration_id} is {entity['status']}; connect it before syncing",
            id=integration_id,
            from_state=entity["status"],
            to_state="Synced",
        )
    prov = hub.providers.get(entity["provider"])
    await verbs.before(Integration, "sync", entity, Context(hub))
    creds = await load_credentials(hub, integration_id)
    ctx = ProviderContext(hub, prov, entity, creds, dict(entity.get("config") or {}))
    ctx.config["full"] = full
    tracker = progress or SyncProgress()
    run = await start_run(hub, integration_id, full=full)  # ConflictError while another run is running
    if job is None:
        await _withdraw_queued_sync(hub, integration_id, full=full)
    try:
        with acting_as(prov.slug), running(run):
            count = await prov.sync(ctx, tracker)
    except BaseException as exc:
        msg = exc.message if isinstance(exc, HubwireError) else f"{type(exc).__name__}: {exc}"
        await finish_run(hub, run, error=msg)
        if isinstance(exc, Exception):
            await Integration.fail(integration_id, f"sync failed: {msg}")
        raise
    await finish_run(hub, run, records=int(count))
    changes = {"last_sync_at": iso(hub.clock()), "last_sync_count": int(count), "error": None}
    # The syncing hooks ran before the pull; they are not run a second time for its write.
    return await verbs.run(Integration, ["sync"], integration_id, changes, run_before=False)


async def _withdraw_queued_sync(hub: Hub, integration_id: str, *, full: bool) -> None:
    """A sync run here does the work of the one queued for this integration (unless that one is full
    and this one is not): withdraw it, so that a worker starting later does not run it again."""
    async with hub.transaction() as tx:
        job_id = await queue.withdraw(tx, sync_key(integration_id), unless=lambda p: bool(p.get("full")) and not full)
    if job_id is not None:
        log.info("sync.superseded", integration=integration_id, job=job_id)


@job_kind(SYNC_JOB, max_attempts=3, backoff=Backoff(base=30.0, factor=4.0, max=3600.0))
async def _sync_job(job: Job, hub: Hub) -> None:
    try:
        await run_sync(hub, job.payload["integration_id"], full=bool(job.payload.get("full")), job=job)
    except HubwireError as exc:
        if not exc.retryable:
            raise Dead(exc.message) from exc  # a refused credential or an illegal move will not fix itself
        if exc.retry_after is not None:
            raise Retry(exc.retry_after, exc.message) from exc  # another run still going, a provider's limit
        raise  # an outage: the job kind's backoff


def catalog_entities(providers: list[Provider]) -> list[Mapping[str, Any]]:
    return [p.catalog() for p in providers]
