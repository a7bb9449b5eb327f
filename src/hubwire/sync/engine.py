"""The pull loop: for each stream of a provider, pages -> apply -> cursor, resumable.

A :class:`Stream` yields :class:`Batch` es: mapped records plus the cursor state that is true
once they are stored. :func:`pull` applies each batch as :func:`hubwire.sync.upsert.apply_page`
does (plan, then write), saving that cursor in the page's transaction, so a crash between pages
loses nothing and repeats nothing. ``full=True`` forgets the cursors first.

During a full run (a reconciliation, :mod:`hubwire.sync.reconcile`) the run notes the remote id
of every record a *listing* stream yields, and that the stream's resource was listed; the refs
of a listed resource that were not seen are what the reconciliation's sweep deletes. A stream that is a feed of
changes (Stripe's events) is not a listing: what it does not mention still exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from hubwire.errors import VersionConflictError
from hubwire.net.redact import redact_text
from hubwire.sync.merge import Policies
from hubwire.sync.runs import current_run
from hubwire.sync.state import clear_cursors, load_cursor
from hubwire.sync.upsert import Incoming, PagePlan, PageResult, plan_page, write_page

if TYPE_CHECKING:
    from hubwire.connectors.registry import ProviderContext, SyncProgress
    from hubwire.nouns.noun import Noun

__all__ = ["Batch", "Stream", "pull"]

log = structlog.get_logger("hubwire.sync")
# Records stored per transaction at most: consecutive pages are joined up to this (see _grouped).
GROUP_RECORDS = 500
# How many times a page is planned and written when another writer keeps changing its records.
WRITE_ATTEMPTS = 5


# Syncs of this process running inside _collector_spares_old_objects, and whether the first froze.
_sparing = 0
_froze = False


@contextlib.contextmanager
def _collector_spares_old_objects() -> Iterator[None]:
    """Keep the objects that exist before a sync out of the cyclic collector's passes while it runs.

    A sync allocates many short-lived objects (decoded pages, plans, statement parameters), so the
    collector runs often, and each of its full passes traverses every object of the process: the
    modules, SQLAlchemy's and the Nouns' structures made at start-up. ``gc.freeze`` moves the objects
    that exist now to a generation no pass traverses; ``gc.unfreeze`` gives them back when the last
    sync of the process ends, so cyclic garbage made before the sync is still collected, afterwards.
    A process that froze objects itself (``gc.get_freeze_count()``) is left as it is.
    """
    global _sparing, _froze
    if _sparing == 0:
        _froze = gc.get_freeze_count() == 0
        if _froze:
            gc.freeze()
    _sparing += 1
    try:
        yield
    finally:
        _sparing -= 1
        if _sparing == 0 and _froze:
            _froze = False
            gc.unfreeze()


@dataclass
class Batch:
    items: list[Incoming]
    state: dict[str, Any]
    noun: Noun | None = None  # when a stream carries several Nouns (an events feed)
    resource: str | None = None  # the resource the items' refs belong to, when not the stream's
    pages: int = 1  # the provider's pages it holds (_grouped joins several)


@dataclass
class Stream:
    """``pages(state)`` yields batches, starting from the saved cursor ``state`` of ``name``.

    ``listing``: a pass from an empty cursor yields every remote object of its resources (a list
    endpoint), so a reconciliation may delete what it did not yield; False for a feed of changes.
    """

    name: str
    noun: Noun | None
    pages: Callable[[dict[str, Any]], AsyncIterator[Batch]]
    listing: bool = True


async def _one_ahead(batches: AsyncIterator[Batch]) -> AsyncIterator[Batch]:
    """Fetch the next page while the current one is being stored (order and cursors unchanged)."""
    it = aiter(batches)
    task: asyncio.Future[Batch] = asyncio.ensure_future(anext(it))
    try:
        while True:
            try:
                batch = await task
            except StopAsyncIteration:
                return
            task = asyncio.ensure_future(anext(it))
            yield batch
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


def _hooked(noun: Noun | None) -> bool:
    """Whether ``noun`` has before-hooks on create or update (they must see earlier pages committed)."""
    return noun is not None and any(noun.hooks.before[v] for v in ("create", "update"))


def _joinable(group: Batch, batch: Batch, limit: int, noun: Noun | None) -> bool:
    """Whether ``batch`` can share ``group``'s transaction: same Noun and resource, room left, no
    before-hooks, and no record of it (nor one it links to) already in the group, so that the result
    is that of one page after the other."""
    if (batch.noun, batch.resource) != (group.noun, group.resource) or len(group.items) + len(batch.items) > limit:
        return False
    if _hooked(batch.noun or noun):
        return False
    ids = {it.remote_id for it in group.items}
    return not any(it.remote_id in ids or any(rid in ids for _, rid in it.links.values()) for it in batch.items)


async def _grouped(batches: AsyncIterator[Batch], limit: int, noun: Noun | None) -> AsyncIterator[Batch]:
    """Consecutive pages joined into one batch of at most ``limit`` records, with the last page's cursor.

    One transaction then stores several pages: its fixed cost (statements, round trips, commit) is
    paid once per group. The cursor still moves only with the pages it covers; when fetching a page
    fails, the pages fetched before it are still handed on (and stored) before the error.
    """
    group: Batch | None = None
    try:
        async for batch in batches:
            if group is not None and _joinable(group, batch, limit, noun):
                group = Batch(
                    group.items + batch.items, batch.state, batch.noun, batch.resource, group.pages + batch.pages
                )
                continue
            if group is not None:
                yield group
            group = batch
    except Exception:
        if group is not None:
            yield group
        raise
    if group is not None:
        yield group


async def pull(ctx: ProviderContext, progress: SyncProgress, streams: Sequence[Stream]) -> int:
    """Run every stream in order (related resources first); return how many records were seen.

    Consecutive pages are joined into groups of up to :data:`GROUP_RECORDS` records (:func:`_grouped`),
    one transaction each. Three groups are in flight at most: the next pages fetched
    (:func:`_one_ahead`), a group planned (:func:`plan_page`: reads, checks, ids) while the previous
    one is written (:func:`write_page`), each transaction with its cursor, in page order. A plan that
    read a record the group being written touches is made again once that group committed; with
    before-hooks, whose reads must see earlier pages, pages are neither joined nor planned ahead.
    """
    hub = ctx.hub
    integration_id = ctx.integration.id
    if ctx.config.get("full"):
        await clear_cursors(hub, integration_id)
    run = current_run()
    seen = 0
    policies = Policies.parse(ctx.config.get("conflicts"))  # checked when the Integration took them

    async def plan(stream: Stream, batch: Batch) -> PagePlan:
        noun = batch.noun or stream.noun
        assert noun is not None, f"stream {stream.name} yielded a batch without a Noun"
        resource = batch.resource or stream.name
        return await plan_page(
            hub,
            integration_id=integration_id,
            resource=resource,
            noun=noun,
            items=batch.items,
            source=ctx.provider.slug,
            cursor=batch.state,
            cursor_resource=stream.name,
            run=run,
            policies=policies,
            pushable=ctx.provider.pushable(resource),
        )

    async def write(stream: Stream, batch: Batch, page: PagePlan) -> PageResult:
        # Another writer (a webhook's apply) changed or linked a record of the page after its plan
        # was made: plan it again from what is stored now, a few times.
        if run is not None:
            run.pages += batch.pages  # saved with the counts, in the page's transaction (heartbeat)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return await write_page(hub, page)
            except VersionConflictError:
                if attempt == WRITE_ATTEMPTS:
                    raise
                page = await plan(stream, batch)
        raise AssertionError("unreachable")  # pragma: no cover

    async def finish(writing: asyncio.Future[PageResult], written: PagePlan, count: int) -> None:
        result = await writing
        if count:
            progress.advance(written.noun.name, count)
        for err in result.errors[:5]:
            log.warning("sync.record_failed", integration_id=integration_id, error=redact_text(err))

    with _collector_spares_old_objects():
        for stream in streams:
            state = await load_cursor(hub, integration_id, stream.name)
            # The page being written: its transaction, its plan, how many records its batch had.
            writing: tuple[asyncio.Future[PageResult], PagePlan, int] | None = None
            listing = run is not None and run.full and stream.listing
            try:
                async for batch in _grouped(_one_ahead(stream.pages(state)), GROUP_RECORDS, stream.noun):
                    seen += len(batch.items)
                    noun = batch.noun or stream.noun
                    if writing is not None and _hooked(noun):
                        await finish(*writing)
                        writing = None
                    page = await plan(stream, batch)
                    if writing is not None:
                        await finish(*writing)
                        if page.reads(writing[1]):
                            page = await plan(stream, batch)
                        writing = None
                    if listing:
                        assert run is not None
                        run.saw(page.resource, (it.remote_id for it in batch.items if not it.deleted))
                    writing = (asyncio.ensure_future(write(stream, batch, page)), page, len(batch.items))
                if writing is not None:
                    await finish(*writing)
                    writing = None
            finally:
                # A page being written when something else failed still commits (with its cursor); its
                # own failure, if any, gives way to the one already being raised.
                if writing is not None:
                    with contextlib.suppress(Exception):
                        await writing[0]
    return seen
