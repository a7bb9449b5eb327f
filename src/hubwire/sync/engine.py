"""The pull loop: for each stream of a provider, pages -> apply -> cursor, resumable.

A :class:`Stream` yields :class:`Batch` es: mapped records plus the cursor state that is true
once they are stored. :func:`pull` applies each batch as :func:`hubwire.sync.upsert.apply_page`
does (plan, then write), saving that cursor in the page's transaction, so a crash between pages
loses nothing and repeats nothing. ``full=True`` forgets the cursors first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from hubwire.net.redact import redact_text
from hubwire.sync.runs import current_run
from hubwire.sync.state import clear_cursors, load_cursor
from hubwire.sync.upsert import Incoming, PagePlan, PageResult, plan_page, write_page

if TYPE_CHECKING:
    from hubwire.connectors.registry import ProviderContext, SyncProgress
    from hubwire.nouns.noun import Noun

__all__ = ["Batch", "Stream", "pull"]

log = structlog.get_logger("hubwire.sync")


@dataclass
class Batch:
    items: list[Incoming]
    state: dict[str, Any]
    noun: Noun | None = None  # when a stream carries several Nouns (an events feed)
    resource: str | None = None  # the resource the items' refs belong to, when not the stream's


@dataclass
class Stream:
    """``pages(state)`` yields batches, starting from the saved cursor ``state`` of ``name``."""

    name: str
    noun: Noun | None
    pages: Callable[[dict[str, Any]], AsyncIterator[Batch]]


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


async def pull(ctx: ProviderContext, progress: SyncProgress, streams: Sequence[Stream]) -> int:
    """Run every stream in order (related resources first); return how many records were seen.

    Three pages are in flight at most: the next one fetched (:func:`_one_ahead`), the current one
    planned (:func:`plan_page`: reads, checks, ids) while the previous one is written
    (:func:`write_page`), each transaction with its cursor, in page order. A plan that read a record
    the previous page writes is made again once that page committed; with before-hooks, whose
    reads must see the previous page, the next page is planned only after it committed.
    """
    hub = ctx.hub
    integration_id = ctx.integration.id
    if ctx.config.get("full"):
        await clear_cursors(hub, integration_id)
    run = current_run()
    seen = 0

    async def plan(stream: Stream, batch: Batch) -> PagePlan:
        noun = batch.noun or stream.noun
        assert noun is not None, f"stream {stream.name} yielded a batch without a Noun"
        return await plan_page(
            hub,
            integration_id=integration_id,
            resource=batch.resource or stream.name,
            noun=noun,
            items=batch.items,
            source=ctx.provider.slug,
            cursor=batch.state,
            cursor_resource=stream.name,
            run=run,
        )

    async def finish(writing: asyncio.Future[PageResult], written: PagePlan, count: int) -> None:
        result = await writing
        if count:
            progress.advance(written.noun.name, count)
        for err in result.errors[:5]:
            log.warning("sync.record_failed", integration_id=integration_id, error=redact_text(err))

    for stream in streams:
        state = await load_cursor(hub, integration_id, stream.name)
        # The page being written: its transaction, its plan, how many records its batch had.
        writing: tuple[asyncio.Future[PageResult], PagePlan, int] | None = None
        try:
            async for batch in _one_ahead(stream.pages(state)):
                seen += len(batch.items)
                noun = batch.noun or stream.noun
                if writing is not None and noun is not None and any(noun._before[v] for v in ("create", "update")):
                    await finish(*writing)
                    writing = None
                page = await plan(stream, batch)
                if writing is not None:
                    await finish(*writing)
                    if page.reads(writing[1]):
                        page = await plan(stream, batch)
                    writing = None
                writing = (asyncio.ensure_future(write_page(hub, page)), page, len(batch.items))
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
