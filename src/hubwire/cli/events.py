"""``hubwire events tail``: read the event log after a sequence number, and follow it; ``hubwire events types``.

Without ``--after`` it starts with the last ``--limit`` events. ``--follow`` polls until Ctrl-C;
``--json`` prints one JSON object per line (JSON Lines), for piping. ``types`` prints the event
catalogue (:mod:`hubwire.events`): a table, or with ``--json`` every entry with its schema and example.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence

import sqlalchemy as sa
import typer

from hubwire.cli.output import cell, out_console, print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.events import event_types
from hubwire.hub import Hub
from hubwire.net.redact import redact
from hubwire.nouns.entity import META
from hubwire.store.events import EventRecord, read_after
from hubwire.store.tables import events

__all__ = ["events_app", "tail_events"]

events_app = typer.Typer(help="Read and follow the event log; list the event types.", no_args_is_help=True)


@events_app.command("types")
def types_(
    category: str = typer.Option(None, "--category", help="Only this category (any case), e.g. Deal."),
    prefix: str = typer.Option(None, "--prefix", help="Only names starting with this, e.g. Integration."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: every entry with its schema and example."),
) -> None:
    """List the events Hubwire can emit (each Noun's, and those code registered) and endpoints may subscribe to."""
    found = event_types(category=category, prefix=prefix)
    if as_json:
        print_json([t.to_dict() for t in found])
        return
    if not found:
        say("no event types match", err=True)
        return
    print_table(
        ["name", "display name", "category", "source", "description"],
        ([t.name, t.display_name, t.category, "noun" if t.noun else "registered", t.description] for t in found),
    )


@events_app.command("tail")
def tail(
    after: int = typer.Option(None, "--after", min=0, help="Events after this sequence number."),
    types: str = typer.Option(None, "--types", help="Comma list of types; `Deal.*` matches a prefix."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events until Ctrl-C."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="Without --after: the last N events."),
    interval: float = typer.Option(0.5, "--interval", min=0.05, help="Seconds between polls with --follow."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Print events (the last ones, or those after --after), optionally following new ones."""
    type_list = [t.strip() for t in (types or "").split(",") if t.strip()]
    emit = _json_line if as_json else _text_line

    async def go(hub: Hub) -> None:
        await tail_events(hub, emit, after=after, types=type_list, limit=limit, follow=follow, interval=interval)

    try:
        with_hub(go)
    except KeyboardInterrupt:
        return


async def tail_events(
    hub: Hub,
    emit: Callable[[EventRecord], None],
    *,
    after: int | None = None,
    types: Sequence[str] = (),
    limit: int = 20,
    follow: bool = False,
    interval: float = 0.5,
    stop: asyncio.Event | None = None,
) -> int:
    """Emit events in order; with ``follow``, poll until ``stop`` is set (or cancelled). Returns the last seq."""
    if after is None:
        async with hub.read() as conn:
            last = (await conn.execute(sa.select(sa.func.max(events.c.seq)))).scalar()
        after = max(0, int(last or 0) - limit)
    while True:
        async with hub.read() as conn:
            batch = await read_after(conn, after, limit=500 if follow else limit, types=types)
        for ev in batch:
            emit(ev)
            after = ev.seq
        if not follow:
            return after
        if batch and len(batch) == 500:
            continue
        if stop is not None:
            try:
                await asyncio.wait_for(stop.wait(), interval)
                return after
            except TimeoutError:
                continue
        await asyncio.sleep(interval)


def _json_line(ev: EventRecord) -> None:
    sys.stdout.write(json.dumps(redact(ev.to_dict()), default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _text_line(ev: EventRecord) -> None:
    summary = cell({k: v for k, v in ev.data.items() if k not in META and k != "$type" and v is not None}, 80)
    out_console().print(
        f"{ev.seq:>6}  {ev.timestamp}  {ev.type:<28} {ev.entity_id:<24} {ev.source:<8} {summary}",
        markup=False,
        overflow="ignore",
        crop=False,
    )
