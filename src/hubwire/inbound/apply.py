"""Applying received webhooks: the ``inbound.apply`` job kind, the inbox's upkeep, and hook URLs.

The job loads its inbox row and the Integration, builds the :class:`ReceivedHook` and calls the
provider's ``on_webhook`` as the provider (``acting_as``: the verbs it runs have the provider as
their source). Its outcome is recorded on the row:

- ``applied`` / ``ignored``: written with the job's completion (the kind's ``finish`` writer: no
  transaction of its own); at least once, like every job: a worker that dies in between runs the
  hook again, and ``on_webhook`` must take a duplicate (the provider's event ids make that easy);
- a retryable error (``HubwireError.retryable``, a provider's outage): the attempt and the error
  are recorded, the row stays ``received``, and the queue retries on the kind's backoff; once the
  attempts are spent, ``failed``;
- any other error, or an Integration no longer connected: ``failed`` with the error, at once.

Importing this module registers the job kind, the retention upkeep of every Hub, and the
before-hooks that give an Integration of a provider taking webhooks its ``hook_url``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from hubwire.connectors.registry import ProviderContext
from hubwire.domains.platform import Integration
from hubwire.errors import HubwireError, NotFoundError
from hubwire.extensions import on_hub
from hubwire.inbound.inbox import APPLY_JOB, get_received, prune
from hubwire.inbound.ingest import ACTIVE, parse_payload
from hubwire.inbound.received import ReceivedHook
from hubwire.jobs.kinds import Backoff, Job, job_kind
from hubwire.net.redact import redact_text
from hubwire.nouns.entity import Entity
from hubwire.nouns.hooks import Context
from hubwire.nouns.verbs import acting_as
from hubwire.store.statements import Statement
from hubwire.store.tables import inbound_hooks
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["apply_hook", "outcome_statements"]

log = structlog.get_logger("hubwire.inbound")
_ERROR_LIMIT = 2000


async def apply_hook(hub: Hub, hook_id: str, *, attempt: int = 1, last_attempt: bool = True) -> str:
    """Apply one received webhook now; returns its new status. Retryable errors are raised (after
    recording the attempt) unless this is the ``last_attempt``, which marks the row ``failed``."""
    try:
        row = await get_received(hub, hook_id)
    except NotFoundError:
        return "gone"  # pruned, or never committed: nothing to apply
    try:
        entity = await Integration.load(hub, row.integration_id)
        if entity.get("status") not in ACTIVE:
            raise HubwireError(f"{row.integration_id} is {entity.get('status')}: reconnect it, then replay")
        provider = hub.providers.get(row.provider)
        credentials = await load_credentials(hub, row.integration_id)
        ctx = ProviderContext(hub, provider, entity, credentials, dict(entity.get("config") or {}))
        hook = ReceivedHook(
            id=row.id,
            integration_id=row.integration_id,
            provider=row.provider,
            event_id=row.event_id,
            event_type=row.event_type,
            payload=parse_payload(row.headers, row.body),
            headers=row.headers,
            received_at=row.received_at,
        )
        with acting_as(provider.slug):
            outcome = await provider.on_webhook(ctx, hook)
    except Exception as exc:
        message = redact_text(exc.message if isinstance(exc, HubwireError) else f"{type(exc).__name__}: {exc}")
        retry = isinstance(exc, HubwireError) and exc.retryable and not last_attempt
        await _record(hub, hook_id, "received" if retry else "failed", message[:_ERROR_LIMIT])
        log.warning("inbound.apply_failed", hook=hook_id, attempt=attempt, retrying=retry, error=message[:300])
        if retry:
            raise
        return "failed"
    if outcome not in ("applied", "ignored"):
        await _record(hub, hook_id, "failed", f"on_webhook returned {outcome!r}, not applied or ignored")
        return "failed"
    return str(outcome)


async def _record(hub: Hub, hook_id: str, status: str, error: str) -> None:
    now = hub.clock()
    async with hub.transaction() as tx:
        await tx.conn.execute(
            inbound_hooks.update()
            .where(inbound_hooks.c.id == hook_id)
            .values(
                status=status,
                error=error,
                attempts=inbound_hooks.c.attempts + 1,
                applied_at=now if status == "failed" else None,
            )
        )


_DONE = "UPDATE inbound_hooks SET status = {0}, error = NULL, attempts = attempts + 1, applied_at = {1} WHERE id = {2}"
_PG_DONE = _DONE.format("%(status)s", "%(at)s", "%(id)s")
_SQLITE_DONE = _DONE.format("?", "?", "?")


def outcome_statements(hub: Hub, outcomes: Sequence[tuple[str, str, float]]) -> list[Statement]:
    """The writes of a batch of applied or ignored hooks ((id, status, at) each), run with their jobs' completion."""
    if hub.dialect == "postgresql":
        return [Statement(_PG_DONE, [{"id": i, "status": s, "at": at} for i, s, at in outcomes], many=True)]
    return [Statement(_SQLITE_DONE, [(s, at, i) for i, s, at in outcomes], many=True)]


@job_kind(
    APPLY_JOB,
    max_attempts=8,
    backoff=Backoff(base=5.0, factor=3.0, max=3600.0),
    timeout=300.0,
    finish=outcome_statements,
    keep_done=False,  # the inbox row is the history
)
async def _apply_job(job: Job, hub: Hub) -> tuple[str, str, float] | None:
    hook_id = str(job.payload["hook"])
    status = await apply_hook(hub, hook_id, attempt=job.attempts, last_attempt=job.attempts >= job.max_attempts)
    return (hook_id, status, hub.clock()) if status in ("applied", "ignored") else None


# hook URLs ---------------------------------------------------------------------------------


def _set_hook_url(entity: Entity, ctx: Context) -> None:
    """An Integration of a provider that takes webhooks shows where they go (``Settings.hook_url``), set
    when it is created or connected: the URL a provider is given at connect."""
    hub = ctx.hub
    slug = str(entity.get("provider") or "")
    if slug in hub.providers and hub.providers.get(slug).webhook_support:
        entity["hook_url"] = hub.settings.hook_url(entity.id)


async def _keep_hook_url(entity: Entity, ctx: Context) -> None:
    """Only connecting sets ``hook_url``: an update (``PATCH``) cannot make it say something else."""
    entity["hook_url"] = (await Integration.load(ctx.hub, entity.id)).get("hook_url")


Integration.before("create", _set_hook_url)
Integration.before("connect", _set_hook_url)
Integration.before("update", _keep_hook_url)


@on_hub
def _install(hub: Hub) -> None:
    if prune not in hub.maintenance:
        hub.maintenance.append(prune)
