"""The Integration Noun: an external service as an entity with a lifecycle.

Status moves (the seed's machine, plus reconnecting, which rotates credentials):

    Available -> Connected -> Synced -> Synced (re-sync)
    Connected | Synced -> Disconnected -> Available   (publish)
    Disconnected | Connected | Synced -> Connected   (reconnect with new credentials)
    ComingSoon -> Available (publish);  Available -> Deprecated (deprecate) | ComingSoon (announce)

OAuth 2.0 providers: ``authorize`` starts an authorization (the URL to send the user to) and
``connect(code=..., state=...)`` finishes it (:mod:`hubwire.oauth`): the code is exchanged for
tokens, which are then the credentials of an ordinary connect. A state started for an existing
Integration (a re-authorization after ``reauth_required``) connects that one again.

``connect`` checks the credentials with the provider, stores them encrypted and enqueues the
initial sync in the transaction that moves the status; a refused connect of a new integration
writes nothing. A failing verb on an existing integration leaves the status as it was, sets
``error`` and emits ``Integration.Errored`` (an event-only verb: hooks ``erroring``/``errored``).
A manual ``sync(wait=True)`` withdraws the sync still queued for the integration: it does that
work, and a worker starting later must not run it again as a stale duplicate.

Schedules: ``sync_frequency`` (``every 15m``, ``hourly``, a cron expression; unset or ``manual``:
no schedule) and ``reconcile_frequency`` (default ``daily``) are set at connect or by update; the
Integration's every change keeps its ``sync_schedules`` row in the same transaction (a writer,
:func:`_keep_schedule`), ``next_sync_at`` / ``next_reconcile_at`` say when. The workers claim the
ticks (:mod:`hubwire.sync.schedules`). A full sync is a reconciliation: what the provider no longer
lists is deleted, within the deletion guard (:mod:`hubwire.sync.reconcile`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from hubwire.connectors import registration
from hubwire.connectors.registry import Provider, ProviderContext, SyncProgress
from hubwire.errors import HubwireError, IllegalTransitionError, ValidationError
from hubwire.events.emit import emit
from hubwire.extensions import on_hub
from hubwire.hub import Hub, current_hub
from hubwire.jobs import queue
from hubwire.jobs.kinds import Backoff, Dead, Job, Retry, job_kind
from hubwire.net.redact import redact_text
from hubwire.nouns import verbs
from hubwire.nouns.entity import Entity
from hubwire.nouns.hooks import Context
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import camel_to_snake
from hubwire.nouns.verbs import VerbCall, acting_as
from hubwire.oauth import flow as oauth_flow
from hubwire.oauth import states as oauth_states
from hubwire.store.events import iso
from hubwire.store.transaction import Tx
from hubwire.sync import schedules
from hubwire.sync.frequency import MANUAL, Frequency, parse_frequency
from hubwire.sync.merge import Policies
from hubwire.sync.reconcile import DELETIONS_HELD, sweep
from hubwire.sync.runs import finish_run, running, start_run
from hubwire.vault.credentials import delete_credentials, load_credentials, save_credentials

if TYPE_CHECKING:
    from hubwire.connectors.direct import ProviderClient

__all__ = ["SYNC_JOB", "Integration", "IntegrationNoun", "run_sync", "sync_key"]

log = structlog.get_logger("hubwire.integration")
SYNC_JOB = "integration.sync"
ACTIVE = ("Connected", "Synced")
# Fields connect takes besides the provider's credentials and config.
SCHEDULE_FIELDS = ("sync_frequency", "reconcile_frequency", "delete_guard")

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
    # Where the provider's webhooks go (POST /v1/hooks/{id}), set at connect: hubwire.inbound.apply.
    "hookUrl": "string",
    "lastSyncAt": "datetime",
    "lastSyncCount": "integer",
    "error": "string",
    # Whether provider webhooks arrive (registered: <url>) or why it keeps polling (polling: <why>).
    "webhooks": "string",
    "config": "json",
    # Schedules (hubwire.sync.schedules): how often, how often a full reconciliation, when next; the
    # share of a resource a reconciliation may delete without a confirmation (else the setting's).
    "syncFrequency": "string",
    "reconcileFrequency": "string",
    "nextSyncAt": "datetime",
    "nextReconcileAt": "datetime",
    "deleteGuard": "number",
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
        scheduling = {k: params.pop(k) for k in SCHEDULE_FIELDS if k in params}
        state: oauth_states.AuthorizationState | None = None
        code: str | None = None
        known = provider or (integration_id and (await self.get(integration_id))["provider"])
        if ("code" in params or "state" in params) and (not known or hub.providers.get(known).oauth is not None):
            # Finishing an OAuth authorization: the state (single use, spent here) says for what.
            code = params.pop("code", None)
            given = params.pop("state", None)
            # An already consumed state (the REST callback reads it first, for where to go back to).
            state = (
                given if isinstance(given, oauth_states.AuthorizationState) else await oauth_states.consume(hub, given)
            )
            if provider and provider != state.provider:
                raise ValidationError.single("state", "mismatch", f"this OAuth state is for {state.provider}")
            if integration_id and state.integration_id and integration_id != state.integration_id:
                raise ValidationError.single("state", "mismatch", f"this OAuth state is for {state.integration_id}")
            provider, integration_id = state.provider, integration_id or state.integration_id
        current: Entity | None = await self.get(integration_id) if integration_id else None
        if current is None and not provider:
            raise ValidationError.single("provider", "required", "connect needs a provider or an integration id")
        prov = hub.providers.get(provider or current["provider"])  # type: ignore[index]
        if current is not None and provider and provider != current["provider"]:
            raise ValidationError.single(
                "provider", "mismatch", f"{current.id} is a {current['provider']} integration, not {provider}"
            )
        _check_schedule_fields(scheduling, prov)  # before the provider is asked anything
        scopes = params.pop("scopes", None) if prov.oauth is not None else None
        oauth = state is not None or await oauth_flow.wants_oauth(hub, prov, params)
        if oauth:
            # The token endpoint's answer is the credentials: the provider's prepare checks those it
            # declares (HubSpot's access_token, Salesforce's instance_url) as if they had been given.
            grant = await oauth_flow.obtain(hub, prov, code=code, state=state, scopes=scopes)
            issued = {**grant.config, **grant.credentials}
            creds, config = prov.prepare({**params, **{k: issued[k] for k in prov.credential_fields if k in issued}})
            creds, config = {**creds, **grant.credentials}, {**config, **grant.config}
        else:
            creds, config = prov.prepare(params)
        if "conflicts" in config:
            config["conflicts"] = _policies(config["conflicts"])
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
        changes.update(scheduling)
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
        ctx = ProviderContext(hub, prov, probe, creds, probe.get("config") or {}, checking=True)
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
            if isinstance(config.get("field_mappings"), dict):  # given at connect: a version of its mappings
                # Imported here: hubwire.mappings' SDK imports this module.
                from hubwire.mappings.history import record_version

                await record_version(tx, entity.id, config["field_mappings"], None)
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
        if hub.settings.hook_url(entity.id) is None:
            return entity  # the connect already said so
        status, stored = await registration.register(hub, prov, entity, creds)

        async def keep(tx: Tx, _: Entity) -> None:
            if stored != creds:
                await save_credentials(tx, entity.id, stored)

        return await verbs.run(self, ["update"], entity.id, {"webhooks": status}, in_tx=[keep])

    async def authorize(
        self,
        integration_id: str | None = None,
        /,
        *,
        provider: str | None = None,
        redirect_uri: str,
        scopes: list[str] | str | None = None,
        return_to: str | None = None,
        api_key_id: str | None = None,
    ) -> str:
        """Start an OAuth 2.0 authorization: the URL to send the user to.

        The provider sends the user back to ``redirect_uri`` with ``code`` and ``state``; pass both
        to :meth:`connect`. With an ``integration_id`` the authorization re-connects that Integration
        (after ``error="reauth_required"``). ``scopes`` add to the OAuth app's default scopes.
        """
        hub = await current_hub()
        if integration_id is not None:
            current = await self.get(integration_id)
            if provider and provider != current["provider"]:
                raise ValidationError.single(
                    "provider", "mismatch", f"{current.id} is a {current['provider']} integration, not {provider}"
                )
            provider = current["provider"]
        if not provider:
            raise ValidationError.single("provider", "required", "authorize needs a provider or an integration id")
        return await oauth_flow.authorize(
            hub,
            hub.providers.get(provider),
            redirect_uri=redirect_uri,
            scopes=scopes,
            return_to=return_to,
            api_key_id=api_key_id,
            integration_id=integration_id,
        )

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
        confirm_deletions: bool = False,
        progress: SyncProgress | None = None,
    ) -> Entity:
        """Start a sync: enqueue it (default), or run it here and return when done (``wait=True``).

        ``full``: list everything again and delete what the provider no longer has (a
        reconciliation, within the deletion guard); ``confirm_deletions``: a reconciliation that
        deletes past the guard (implies ``full``).
        """
        hub = await current_hub()
        current = await self.get(integration_id)
        self.machines["status"].check(self.name, current.id, current["status"], "Synced")
        full = bool(full or confirm_deletions)
        if wait:
            return await run_sync(hub, current.id, full=full, confirm_deletions=confirm_deletions, progress=progress)
        payload = {"integration_id": current.id, "full": full, "confirm_deletions": bool(confirm_deletions)}
        async with hub.transaction() as tx:
            await queue.enqueue(tx, SYNC_JOB, payload, key=sync_key(current.id))
        return current

    async def use(self, integration: str) -> ProviderClient:
        """Direct provider calls through one Integration: ``crm = await Integration.use("salesforce")``
        (the one connected Integration of that provider) or ``Integration.use(integration_id)``;
        then ``crm.request("GET", "/...")``, ``crm.create("Lead", {...})``... (:mod:`hubwire.connectors.direct`)."""
        from hubwire.connectors.direct import use  # the connectors build on this module

        return await use(await current_hub(), integration)

    async def schedule(self, integration_id: str | Mapping[str, Any]) -> schedules.Schedule | None:
        """The Integration's sync schedule as the workers see it (``None``: not scheduled)."""
        hub = await current_hub()
        current = await self.get(integration_id)
        return await schedules.get_schedule(hub, current.id)

    def provider_of(self, hub: Hub, entity: Entity) -> Provider:
        return hub.providers.get(entity["provider"])


def _takes_webhooks(prov: Provider) -> bool:
    """Whether an Integration of ``prov`` says how its changes arrive (webhooks, or polling and why)."""
    return prov.syncs or prov.webhook_scheme is not None


def _policies(given: Any, name: str = "conflicts") -> dict[str, str]:
    """Conflict policies checked (a command line gives them as JSON text), as the config keeps them."""
    if isinstance(given, str):
        try:
            given = json.loads(given)
        except ValueError:
            raise ValidationError.single(name, "invalid_json", f"{name} must be a JSON object") from None
    return Policies.parse(given, name=name).to_dict()


def sync_key(integration_id: str) -> str:
    """The key of an integration's queued sync job: at most one is queued or running at a time."""
    return f"sync:{integration_id}"


Integration = IntegrationNoun()


async def _policies_checked(proposed: Entity, ctx: Context) -> None:
    """An update that changes ``config.conflicts`` gets the same check as a connect."""
    config = proposed.get("config")
    if not isinstance(config, dict) or "conflicts" not in config:
        return
    current = await Integration.get(proposed.id)
    if config["conflicts"] != (current.get("config") or {}).get("conflicts"):
        config["conflicts"] = _policies(config["conflicts"], "config.conflicts")


Integration.before("update", _policies_checked)


async def run_sync(
    hub: Hub,
    integration_id: str,
    *,
    full: bool = False,
    confirm_deletions: bool = False,
    progress: SyncProgress | None = None,
    job: Job | None = None,
    tick: float | None = None,
) -> Entity:
    """Run one sync of an integration: ``syncing`` hooks, the provider's pull, then Synced or Errored.

    A full run then reconciles (:func:`hubwire.sync.reconcile.sweep`): deletes what the provider no
    longer lists, unless more than the deletion guard would go and ``confirm_deletions`` is not set
    (the run finishes ``held``, and ``Sync.DeletionsHeld`` says so).
    """
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
    # ConflictError while another run is running
    run = await start_run(hub, integration_id, full=full, tick=tick)
    if job is None:
        await _withdraw_queued_sync(hub, integration_id, full=full, confirm=confirm_deletions)
    swept = None
    try:
        with acting_as(prov.slug), running(run):
            count = await prov.sync(ctx, tracker)
            if full:
                guard = entity.get("delete_guard")
                share = float(guard) if guard is not None else hub.settings.sync_delete_guard
                swept = await sweep(hub, run, source=prov.slug, guard=share, confirm=confirm_deletions)
    except BaseException as exc:
        msg = exc.message if isinstance(exc, HubwireError) else f"{type(exc).__name__}: {exc}"
        await finish_run(hub, run, error=msg)
        if isinstance(exc, Exception):
            await Integration.fail(integration_id, f"sync failed: {msg}")
        raise
    await finish_run(hub, run, records=int(count), held=swept.message if swept is not None else None)
    if swept is not None and swept.message is not None:
        resources = [
            {"resource": h.resource, "noun": h.noun, "would_delete": h.would_delete, "of": h.of} for h in swept.held
        ]
        data = {"integration_id": integration_id, "run_id": run.id, "guard": swept.guard, "resources": resources}
        await emit(DELETIONS_HELD, {**data, "message": swept.message}, entity_id=integration_id)
    changes: dict[str, Any] = {"last_sync_at": iso(hub.clock()), "last_sync_count": int(count), "error": None}
    sched = await schedules.get_schedule(hub, integration_id)
    if sched is not None:
        changes["next_sync_at"] = _iso_or_none(sched.next_run_at)
        changes["next_reconcile_at"] = _iso_or_none(sched.next_reconcile_at)
    # The syncing hooks ran before the pull; they are not run a second time for its write.
    return await verbs.run(Integration, ["sync"], integration_id, changes, run_before=False)


async def _withdraw_queued_sync(hub: Hub, integration_id: str, *, full: bool, confirm: bool = False) -> None:
    """A sync run here does the work of the one queued for this integration (unless that one does
    more: full, or confirming deletions, and this one not): withdraw it, so that a worker starting
    later does not run it again."""

    def does_more(p: dict[str, Any]) -> bool:
        return (bool(p.get("full")) and not full) or (bool(p.get("confirm_deletions")) and not confirm)

    async with hub.transaction() as tx:
        job_id = await queue.withdraw(tx, sync_key(integration_id), unless=does_more)
    if job_id is not None:
        log.info("sync.superseded", integration=integration_id, job=job_id)


@job_kind(SYNC_JOB, max_attempts=3, backoff=Backoff(base=30.0, factor=4.0, max=3600.0))
async def _sync_job(job: Job, hub: Hub) -> None:
    p = job.payload
    tick = p.get("tick")
    try:
        await run_sync(
            hub,
            p["integration_id"],
            full=bool(p.get("full")),
            confirm_deletions=bool(p.get("confirm_deletions")),
            job=job,
            tick=float(tick) if tick is not None else None,
        )
    except HubwireError as exc:
        if not exc.retryable:
            raise Dead(exc.message) from exc  # a refused credential or an illegal move will not fix itself
        if exc.retry_after is not None:
            raise Retry(exc.retry_after, exc.message) from exc  # another run still going, a provider's limit
        raise  # an outage: the job kind's backoff


def _iso_or_none(t: float | None) -> Any:
    """A time as a datetime field stores it (a writer's values skip the validation input gets)."""
    if t is None:
        return None
    value, _ = Integration.fields["next_sync_at"].check(iso(t))
    return value


def _check_schedule_fields(values: Mapping[str, Any], provider: Provider | None) -> tuple[Frequency, Frequency]:
    """The frequencies of ``values`` (unset: manual, and daily reconciliation); a ValidationError on
    a bad one, on one for a ``provider`` that does not sync, or on a ``delete_guard`` that is not a
    share from 0 to 1."""
    sync = values.get("sync_frequency")
    reconcile = values.get("reconcile_frequency")
    frequency = parse_frequency(sync) if sync is not None else Frequency(MANUAL)
    if not frequency.manual and provider is not None and not provider.syncs:
        raise ValidationError.single("sync_frequency", "no_sync", f"a {provider.slug} integration does not sync")
    cadence = parse_frequency(
        reconcile if reconcile is not None else schedules.DEFAULT_RECONCILE, field="reconcile_frequency"
    )
    guard = values.get("delete_guard")
    if guard is not None and (isinstance(guard, bool) or not isinstance(guard, int | float) or not 0 <= guard <= 1):
        raise ValidationError.single("delete_guard", "range", "delete_guard must be a share from 0 to 1 (0.2: 20%)")
    return frequency, cadence


async def _keep_schedule(call: VerbCall) -> None:
    """Every Integration change keeps its schedule row in its own transaction (a repeatable writer:
    it may refuse, before anything is written, and add to the transaction; it calls out to nothing).

    The row exists while ``sync_frequency`` is set and not ``manual``; it is due only while the
    Integration is connected. Each frequency is stored as normalised (``Every 15 M`` -> ``every 15m``).
    """
    if call.verb == "delete":

        async def drop(tx: Tx, entity: Entity) -> None:
            await schedules.drop_schedule(tx, entity.id)

        call.in_tx.append(drop)
        return
    proposed, current = call.proposed, call.current
    keys = ("sync_frequency", "reconcile_frequency", "delete_guard")
    # Connected -> Synced changes nothing here (and must not: the sync verb's write could move a
    # tick that fell due while the sync ran); connecting and disconnecting do.
    if (
        current is not None
        and all(proposed.get(k) == current.get(k) for k in keys)
        and (proposed.get("status") in ACTIVE) == (current.get("status") in ACTIVE)
    ):
        return
    slug = str(proposed.get("provider") or "")
    frequency, cadence = _check_schedule_fields(
        proposed, call.hub.providers.get(slug) if slug in call.hub.providers else None
    )
    if proposed.get("sync_frequency") is not None:
        proposed["sync_frequency"] = frequency.text
    if proposed.get("reconcile_frequency") is not None:
        proposed["reconcile_frequency"] = cadence.text
    if frequency.manual:
        proposed["next_sync_at"] = proposed["next_reconcile_at"] = None

        async def unschedule(tx: Tx, entity: Entity) -> None:
            await schedules.drop_schedule(tx, entity.id)

        call.in_tx.append(unschedule)
        return
    active = proposed.get("status") in ACTIVE
    now = schedules.scheduler_now(call.hub)
    next_run, next_reconcile = schedules.next_times(frequency, cadence, call.id, now) if active else (None, None)
    proposed["next_sync_at"] = _iso_or_none(next_run)
    proposed["next_reconcile_at"] = _iso_or_none(next_reconcile)

    async def save(tx: Tx, entity: Entity) -> None:
        await schedules.save_schedule(tx, entity.id, frequency, cadence, next_run, next_reconcile)

    call.in_tx.append(save)


Integration.add_writer(verbs.repeatable(_keep_schedule))


async def _enqueue_tick(tx: Tx, integration_id: str, full: bool, tick: float) -> bool:
    payload = {"integration_id": integration_id, "full": full, "tick": tick}
    return await queue.enqueue(tx, SYNC_JOB, payload, key=sync_key(integration_id)) is not None


async def _run_schedules(hub: Hub) -> int:
    return await schedules.claim_due(hub, _enqueue_tick)


@on_hub
def _scheduled_by_workers(hub: Hub) -> None:
    """Every worker of every hub looks for due schedules (``Worker``'s periodic work)."""
    hub.periodic.append(_run_schedules)


def catalog_entities(providers: list[Provider]) -> list[Mapping[str, Any]]:
    return [p.catalog() for p in providers]
