"""Applying received webhooks: the ``inbound.apply`` job kind, the inbox's upkeep, and hook URLs.

An ``inbound.apply`` job has one of two payloads:

- ``{"integration": id}``, keyed per Integration (:func:`~hubwire.inbound.inbox.apply_key`), made
  with the webhooks by the inbox when no such job is queued or running: it takes the Integration's
  webhooks waiting for their first apply, :data:`BATCH` at a time in the order received, applies
  each batch together (:mod:`hubwire.inbound.batch`: a page of records per transaction) and goes
  on until none is left and none came for :data:`LINGER` seconds (it looks every :data:`LOOK`
  seconds: a steady stream is applied by the one running job, with no new job to claim, which a
  worker in another process would see only at its poll interval on SQLite); then it gives its key
  up (:func:`~hubwire.jobs.queue.release_key`: a webhook stored meanwhile is either seen, or makes
  a new job). However many webhooks arrive while it runs, they cost no further job. After
  :data:`HANDOVER` webhooks it hands the rest over to a new job (a steady stream does not keep one
  job past its timeout). It reads the Integration and its credentials again every
  :data:`CONTEXT_TTL` seconds (a disconnect is seen that late at most);
- ``{"hook": id}``: one webhook tried before: a replay, or a retry after a retryable failure.

Each webhook is applied as the provider of its Integration (``acting_as``: the verbs have the
provider as their source), and its outcome is recorded on its row:

- ``applied`` / ``ignored``: for a webhook applied as records, written in the transaction of the
  page that stored its last record (applied exactly once: a batch killed half way is run again
  from the webhooks not marked); for one applied by ``on_webhook`` (or ignored), written after it,
  with the rest of the batch: at least once, like every job: a worker that dies in between runs it
  again, and ``on_webhook`` must take a duplicate (the provider's event ids make that easy);
- a retryable error (``HubwireError.retryable``, a provider's outage): the attempt and the error
  are recorded, the row stays ``received``, and it is retried on the kind's backoff (by a
  ``{"hook": id}`` job of its own, so that its batch-mates do not wait); on the last attempt of the
  job that ran it, ``failed``;
- any other error, or an Integration no longer connected: ``failed`` with the error, at once.

Importing this module registers the job kind, the retention upkeep of every Hub, and the
before-hooks that give an Integration of a provider taking webhooks its ``hook_url``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog

from hubwire.connectors.registry import ProviderContext
from hubwire.domains.platform import Integration
from hubwire.errors import HubwireError, NotFoundError
from hubwire.extensions import on_hub
from hubwire.inbound import inbox
from hubwire.inbound.batch import Outcome, apply_hooks
from hubwire.inbound.inbox import APPLY_JOB, HookRow, get_received, prune
from hubwire.inbound.ingest import ACTIVE, parse_payload
from hubwire.inbound.received import ReceivedHook
from hubwire.jobs import queue
from hubwire.jobs.kinds import Backoff, Job, get_kind, job_kind
from hubwire.nouns.entity import Entity
from hubwire.nouns.hooks import Context
from hubwire.store.tables import inbound_hooks
from hubwire.vault.credentials import load_credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = ["BATCH", "CONTEXT_TTL", "HANDOVER", "LINGER", "LOOK", "apply_hook", "apply_rows", "provider_context"]

log = structlog.get_logger("hubwire.inbound")
BATCH = 500  # webhooks applied together at most
HANDOVER = 10_000  # webhooks one job applies before it hands the rest over to a new one
CONTEXT_TTL = 5.0  # seconds a running job applies with the Integration (and credentials) it read
LINGER = 0.5  # seconds a job with nothing left waits for more before it gives its key up
LOOK = 0.02  # seconds between its looks at the inbox meanwhile


async def apply_hook(hub: Hub, hook_id: str, *, last_attempt: bool = True) -> str:
    """Apply one received webhook now (whatever its status); returns its new status. A retryable
    error is raised (after recording the attempt) unless this is the ``last_attempt``."""
    try:
        row = await get_received(hub, hook_id)
    except NotFoundError:
        return "gone"  # pruned, or never committed: nothing to apply
    return (await apply_rows(hub, [row], last_attempt=last_attempt, retry_here=True))[hook_id]


async def provider_context(hub: Hub, integration_id: str, provider: str) -> ProviderContext:
    """What applying the webhooks of ``integration_id`` takes; raises if it is no longer connected."""
    entity = await Integration.load(hub, integration_id)
    if entity.get("status") not in ACTIVE:
        raise HubwireError(f"{integration_id} is {entity.get('status')}: reconnect it, then replay")
    credentials = await load_credentials(hub, integration_id)
    return ProviderContext(hub, hub.providers.get(provider), entity, credentials, dict(entity.get("config") or {}))


async def apply_rows(
    hub: Hub,
    rows: Sequence[HookRow],
    *,
    last_attempt: bool = True,
    retry_here: bool = False,
    ctx: ProviderContext | None = None,
) -> dict[str, str]:
    """Apply ``rows`` (received webhooks of one Integration, in the order received) together and
    record their outcomes; their new statuses by id. A retryable failure is retried later by a job
    of its own, or (``retry_here``, one row) raised for the running job to retry. ``ctx``: the
    Integration's :func:`provider_context`, if the caller has it at hand (else it is read)."""
    if not rows:
        return {}
    integration_id = rows[0].integration_id
    assert all(r.integration_id == integration_id for r in rows), "one Integration's webhooks"
    hooks = [_received(r) for r in rows]
    try:
        if ctx is None:
            ctx = await provider_context(hub, integration_id, rows[0].provider)
    except Exception as exc:
        failed = Outcome.failure(exc)
        outcomes, written = {h.id: failed for h in hooks}, set[str]()
    else:

        async def record(tx: Tx, done: dict[str, Outcome]) -> None:
            await _write(tx, {h: _status(o, last_attempt=True) for h, o in done.items()}, done)

        outcomes, written = await apply_hooks(ctx, hooks, record=record)
    rest = {h.id: outcomes[h.id] for h in hooks if h.id not in written}
    statuses = {h: _status(o, last_attempt=last_attempt) for h, o in rest.items()}
    retry = [h for h, s in statuses.items() if s == "received"]
    if rest:
        async with hub.transaction() as tx:
            await _write(tx, statuses, rest)
            if retry and not retry_here:
                kind = get_kind(APPLY_JOB)
                for hook_id in retry:
                    await queue.enqueue(
                        tx,
                        APPLY_JOB,
                        {"hook": hook_id},
                        delay=kind.backoff.delay(1),
                        max_attempts=max(1, kind.max_attempts - 1),
                    )
    for hook_id, outcome in rest.items():
        if outcome.status == "failed":
            log.warning(
                "inbound.apply_failed", hook=hook_id, retrying=hook_id in retry, error=(outcome.error or "")[:300]
            )
    if retry and retry_here:
        cause = rest[retry[0]].exc
        assert cause is not None
        raise cause
    return {h.id: (statuses[h.id] if h.id in statuses else outcomes[h.id].status) for h in hooks}


def _received(row: HookRow) -> ReceivedHook:
    return ReceivedHook(
        id=row.id,
        integration_id=row.integration_id,
        provider=row.provider,
        event_id=row.event_id,
        event_type=row.event_type,
        payload=parse_payload(row.headers, row.body),
        headers=row.headers,
        received_at=row.received_at,
    )


def _status(outcome: Outcome, *, last_attempt: bool) -> str:
    """The row's status for ``outcome``: a retryable failure leaves it ``received`` for another attempt."""
    if outcome.status == "failed" and outcome.retryable and not last_attempt:
        return "received"
    return outcome.status


async def _write(tx: Tx, statuses: dict[str, str], outcomes: dict[str, Outcome]) -> None:
    """The rows' new statuses, each with its error and one more attempt."""
    now = tx.hub.clock()
    h = inbound_hooks.c
    params: list[dict[str, Any]] = [
        {
            "b_id": hook_id,
            "b_status": status,
            "b_error": outcomes[hook_id].error if status in ("failed", "received") else None,
            "b_at": None if status == "received" else now,
        }
        for hook_id, status in statuses.items()
    ]
    if not params:
        return
    stmt = (
        inbound_hooks.update()
        .where(h.id == sa.bindparam("b_id"))
        .values(
            status=sa.bindparam("b_status"),
            error=sa.bindparam("b_error"),
            attempts=h.attempts + 1,
            applied_at=sa.bindparam("b_at"),
        )
    )
    await tx.conn.execute(stmt, params)


async def _apply_waiting(hub: Hub, job: Job, integration_id: str) -> None:
    """The job of an Integration's waiting webhooks (see the module)."""
    last = job.attempts >= job.max_attempts
    done = 0
    ctx: ProviderContext | None = None
    read_at = 0.0
    idle_since: float | None = None
    while True:
        rows = await inbox.waiting(hub, integration_id, BATCH)
        if not rows:
            now = time.monotonic()
            idle_since = idle_since or now
            if now - idle_since < LINGER:
                await asyncio.sleep(LOOK)
                continue
            if await queue.release_key(hub, job, unless=lambda tx: inbox.any_waiting(tx, integration_id)):
                return
            continue  # stored while it looked: apply them too
        idle_since = None
        if ctx is None or time.monotonic() - read_at > CONTEXT_TTL:
            read_at = time.monotonic()
            try:
                ctx = await provider_context(hub, integration_id, rows[0].provider)
            except Exception:
                ctx = None  # apply_rows reads it again, and records why it cannot apply them
        await apply_rows(hub, rows, last_attempt=last, ctx=ctx)
        done += len(rows)
        if done >= HANDOVER:

            async def successor(tx: Tx) -> None:
                key = inbox.apply_key(integration_id)
                await queue.enqueue(tx, APPLY_JOB, {"integration": integration_id}, key=key, touch=True)

            await queue.release_key(hub, job, then=successor)
            return


@job_kind(
    APPLY_JOB,
    max_attempts=8,
    backoff=Backoff(base=5.0, factor=3.0, max=3600.0),
    timeout=300.0,
    keep_done=False,  # the inbox row is the history
)
async def _apply_job(job: Job, hub: Hub) -> None:
    if "integration" in job.payload:
        await _apply_waiting(hub, job, str(job.payload["integration"]))
    else:
        await apply_hook(hub, str(job.payload["hook"]), last_attempt=job.attempts >= job.max_attempts)


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
