"""Applying verified webhooks in batches: the records of many webhooks, a page per transaction.

One webhook at a time costs a transaction (and a job) each: about 150-200 per second on SQLite,
below what the receiver takes in. So the ``inbound.apply`` job hands :func:`apply_hooks` every
webhook of an Integration waiting in the inbox (up to a bound, in the order received), and:

1. maps each to its records with :meth:`Provider.webhook_records` (a provider without them has
   :meth:`Provider.on_webhook` apply it alone, in its place in the order);
2. makes pages of the records, as the sync does: one resource per page, the provider's resources in
   the order its sync pulls them (parents first, so the relations of a page resolve to what the
   pages before it stored); within a resource, the first change of each object in the first pages,
   its second change in the pages after them, and so on, each layer in the order received: a page
   never holds one object twice, so every webhook's change is its own entity event, in order, and
   the order rules of
   :func:`~hubwire.sync.upsert.apply_page` (an older record never moves an entity back, tombstones,
   the field merge and its conflicts, echoes of Hubwire's own pushes) hold between them as between
   any two pages;
3. writes each page with :func:`~hubwire.sync.upsert.plan_page` / ``write_page``: its entities,
   events, outbound webhook jobs, refs and conflicts, and (``record``) the inbox status of each
   webhook whose last record it holds, in ONE transaction. A webhook is thus marked applied with
   its last change: a batch killed half way is run again from the webhooks not marked, and each
   change is applied once. A page another writer (a sync) changed meanwhile is planned again.

Isolation: a record the plan refuses (a veto, an invalid value) fails its webhook only, the rest of
the page is written; a page whose transaction fails is written again webhook by webhook, so one bad
webhook fails alone. The statuses of the webhooks that no page wrote (ignored, failed, applied by
``on_webhook``) are the caller's to write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import structlog

from hubwire.connectors.runtime import SpecProvider
from hubwire.errors import HubwireError, ProviderInvalidRequest, VersionConflictError
from hubwire.net.redact import redact_text
from hubwire.nouns.verbs import acting_as
from hubwire.sync import transitions
from hubwire.sync.merge import Policies
from hubwire.sync.record import ATTEMPTS
from hubwire.sync.upsert import plan_page, write_page

if TYPE_CHECKING:
    from hubwire.connectors.registry import ProviderContext
    from hubwire.inbound.received import ApplyOutcome, ReceivedHook, WebhookRecord
    from hubwire.store.transaction import Tx

__all__ = ["PAGE", "Outcome", "Recorder", "apply_alone", "apply_hooks"]

log = structlog.get_logger("hubwire.inbound")
PAGE = 500  # records per page (and transaction) at most
_ERROR_LIMIT = 2000


@dataclass(frozen=True)
class Outcome:
    """What became of one webhook: ``applied``, ``ignored`` or ``failed`` (``error``, raised by ``exc``)."""

    status: str
    error: str | None = None
    exc: BaseException | None = None

    @property
    def retryable(self) -> bool:
        """Failed by an error that may pass (a provider's outage): worth another attempt later."""
        return isinstance(self.exc, HubwireError) and self.exc.retryable

    @classmethod
    def failure(cls, exc: BaseException) -> Outcome:
        message = exc.message if isinstance(exc, HubwireError) else f"{type(exc).__name__}: {exc}"
        return cls("failed", redact_text(message)[:_ERROR_LIMIT], exc)


# Writes the outcomes of webhooks (by hook id) in the transaction of the page that finished them.
Recorder = Callable[["Tx", dict[str, Outcome]], Awaitable[None]]


@dataclass(frozen=True)
class _Entry:
    hook: ReceivedHook
    record: WebhookRecord


async def apply_hooks(
    ctx: ProviderContext, hooks: Sequence[ReceivedHook], *, record: Recorder | None = None
) -> tuple[dict[str, Outcome], set[str]]:
    """Apply ``hooks`` (of ``ctx``'s Integration, in the order received); see the module.

    Returns the outcome of every hook by id, and the ids whose outcome ``record`` wrote.
    """
    # A context of the batch's own: what the provider memoises lasts this batch only (a running
    # job applies many batches with the Integration it read once).
    ctx = replace(ctx, memo={})
    batch = _Batch(ctx, record)
    mapped: list[tuple[ReceivedHook, list[WebhookRecord]]] = []
    provider = ctx.provider
    for hook in hooks:
        try:
            with acting_as(provider.slug):
                records = await provider.webhook_records(ctx, hook)
        except Exception as exc:
            batch.outcomes[hook.id] = Outcome.failure(exc)
            continue
        if records is None:  # the provider applies this one itself, after what came before it
            await batch.apply(mapped)
            mapped = []
            await batch.alone(hook)
        elif not records:
            batch.outcomes[hook.id] = Outcome("ignored")
        else:
            mapped.append((hook, records))
    await batch.apply(mapped)
    return batch.outcomes, batch.written


async def apply_alone(ctx: ProviderContext, hook: ReceivedHook) -> ApplyOutcome:
    """One webhook's :meth:`Provider.webhook_records` applied now, as a batch of one (the default
    :meth:`Provider.on_webhook`); raises what failed it."""
    with acting_as(ctx.provider.slug):
        records = await ctx.provider.webhook_records(ctx, hook)
    if not records:
        return "ignored"
    batch = _Batch(ctx, None)
    await batch.apply([(hook, records)])
    outcome = batch.outcomes[hook.id]
    if outcome.exc is not None:
        raise outcome.exc
    return "applied"


class _Batch:
    def __init__(self, ctx: ProviderContext, record: Recorder | None) -> None:
        self.ctx = ctx
        self.record = record
        self.outcomes: dict[str, Outcome] = {}
        self.written: set[str] = set()
        # As the sync merges: the Integration's conflict policies (checked when it took them).
        self.policies = Policies.parse(ctx.config.get("conflicts"))

    async def alone(self, hook: ReceivedHook) -> None:
        provider = self.ctx.provider
        try:
            with acting_as(provider.slug):
                status = await provider.on_webhook(self.ctx, hook)
        except Exception as exc:
            self.outcomes[hook.id] = Outcome.failure(exc)
            return
        if status in ("applied", "ignored"):
            self.outcomes[hook.id] = Outcome(status)
        else:
            self.outcomes[hook.id] = Outcome("failed", f"on_webhook returned {status!r}, not applied or ignored")

    async def apply(self, mapped: Sequence[tuple[ReceivedHook, list[WebhookRecord]]]) -> None:
        pages = self.pages(mapped)
        last: dict[str, int] = {}  # hook id -> the page holding its last record
        for n, page in enumerate(pages):
            for entry in page:
                last[entry.hook.id] = n
        for n, page in enumerate(pages):
            await self.write(page, {h for h, at in last.items() if at == n})

    def pages(self, mapped: Sequence[tuple[ReceivedHook, list[WebhookRecord]]]) -> list[list[_Entry]]:
        """The records in pages (see the module): by resource, in the sync's order; within a resource,
        the n-th change of each object in the n-th layer of pages, as received within a layer."""
        provider = self.ctx.provider
        order = {r.name: n for n, r in enumerate(provider.spec.resources)} if isinstance(provider, SpecProvider) else {}
        layers: dict[tuple[int, int], list[_Entry]] = {}  # (resource rank, layer) -> its records, as received
        seen: dict[tuple[str, str], int] = {}  # (resource, remote id) -> changes of it so far
        for hook, records in mapped:
            for rec in records:
                rank = order.setdefault(rec.resource, len(order))  # resources the spec does not name: as they came
                key = (rec.resource, rec.item.remote_id)
                layer = seen.get(key, 0)
                seen[key] = layer + 1
                layers.setdefault((rank, layer), []).append(_Entry(hook, rec))
        return [entries[i : i + PAGE] for _, entries in sorted(layers.items()) for i in range(0, len(entries), PAGE)]

    def recording(self, done: dict[str, Outcome]) -> Callable[[Tx], Awaitable[None]] | None:
        """What writes ``done`` in a page's transaction (nothing when there is nothing to write)."""
        record = self.record
        if record is None or not done:
            return None

        async def also(tx: Tx) -> None:
            await record(tx, done)

        return also

    async def write(self, page: list[_Entry], finishing: set[str]) -> None:
        """One page in one transaction, with the outcomes of the hooks it finishes; isolated on failure."""
        ctx, provider = self.ctx, self.ctx.provider
        hub, iid = ctx.hub, str(ctx.integration.id)
        first = page[0].record
        items = [e.record.item for e in page]
        by_remote = {e.record.item.remote_id: e.hook for e in page}
        try:
            with acting_as(provider.slug):
                for attempt in range(1, ATTEMPTS + 1):
                    before = (
                        await transitions.statuses_before(hub, iid, first.resource, items) if first.verb_for else {}
                    )
                    plan = await plan_page(
                        hub,
                        integration_id=iid,
                        resource=first.resource,
                        noun=first.noun,
                        items=items,
                        source=provider.slug,
                        policies=self.policies,
                        pushable=provider.pushable(first.resource),
                    )
                    for rid, message in plan.result.failures.items():
                        hook = by_remote[rid]
                        self.outcomes[hook.id] = Outcome.failure(
                            ProviderInvalidRequest(
                                f"{provider.name} webhook {hook.event_id or hook.id} could not be applied: "
                                f"{first.resource} {rid}: {message}",
                                provider=provider.slug,
                                retryable=False,
                            )
                        )
                    done = {h: self.outcomes.get(h, Outcome("applied")) for h in finishing}
                    try:
                        await write_page(hub, plan, also=self.recording(done))
                    except VersionConflictError:
                        if attempt == ATTEMPTS:
                            raise
                        continue  # another writer (a sync) changed what the plan read: plan again
                    break
        except Exception as exc:
            hooks = list(dict.fromkeys(e.hook.id for e in page))
            if len(hooks) > 1:  # isolate the bad one: each webhook's records of this page on their own
                for hook_id in hooks:
                    await self.write([e for e in page if e.hook.id == hook_id], finishing & {hook_id})
                return
            self.outcomes[hooks[0]] = Outcome.failure(exc)
            return
        for hook_id in finishing:
            self.outcomes.setdefault(hook_id, Outcome("applied"))
        if self.record is not None:
            self.written |= finishing
        if first.verb_for is not None:  # the page is stored: its status moves are announced as verbs
            try:
                with acting_as(provider.slug):
                    await transitions.announce(hub, first.noun, items, before, provider.slug, first.verb_for)
            except Exception as exc:  # the changes are committed; a failed announcement must not hide that
                log.error("inbound.announce_failed", integration=iid, resource=first.resource, error=str(exc)[:300])
