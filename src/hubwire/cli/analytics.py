"""``hubwire analytics``: the forwarding log per destination, and the lakehouse (query, export, upkeep).

Destinations are an Integration: ``hubwire Integration.connect --provider analytics --destinations '{...}'``.
``query``, ``export``, ``lakehouse`` and ``compact`` read and keep up :mod:`hubwire.lakehouse`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from hubwire import analytics, lakehouse
from hubwire.cli.output import UsageError, print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.hub import Hub

__all__ = ["analytics_app"]

analytics_app = typer.Typer(
    help="Analytics forwarding (the delivery log per destination) and the lakehouse (query, export).",
    no_args_is_help=True,
)


@analytics_app.command("deliveries")
def deliveries(
    integration: str = typer.Option(None, "--integration", help="Only this analytics Integration."),
    destination: str = typer.Option(None, "--destination", help="ga | posthog | sentry | mixpanel | segment"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The batches sent to each destination, newest first, and the events still pending or dead."""

    async def go(hub: Hub) -> None:
        rows = await analytics.list_batches(hub, integration_id=integration, destination=destination, limit=limit)
        outbox = await analytics.pending_counts(hub, integration)
        if as_json:
            print_json({"data": [r.to_dict() for r in rows], "outbox": outbox})
            return
        if rows:
            print_table(
                ["id", "integration", "destination", "events", "status", "code", "started", "latency ms", "error"],
                (
                    [
                        r.id,
                        r.integration_id,
                        r.destination,
                        r.events,
                        r.status,
                        r.status_code,
                        d["started_at"],
                        None if r.latency_ms is None else round(r.latency_ms, 1),
                        r.error,
                    ]
                    for r, d in ((r, r.to_dict()) for r in rows)
                ),
            )
        else:
            say("no deliveries", err=True)
        for dest, counts in sorted(outbox.items()):
            say(f"{dest}: {counts['pending']} pending, {counts['dead']} dead", err=True)

    with_hub(go)


@analytics_app.command("query")
def query(
    sql: str = typer.Argument(
        ..., help='One SELECT over the view "events", e.g. "select event, count(*) from events group by 1".'
    ),
    timeout: float = typer.Option(
        None, "--timeout", min=0.001, help="Seconds before it is stopped (default: the setting)."
    ),
    max_rows: int = typer.Option(None, "--max-rows", min=1, help="Rows returned at most (default: the setting)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: columns, types, rows, truncated."),
) -> None:
    """Run a read-only SQL query (DuckDB) over the lakehouse's events."""

    async def go(hub: Hub) -> None:
        result = await lakehouse.query(hub, sql, timeout=timeout, max_rows=max_rows)
        if as_json:
            print_json(result.to_dict())
            return
        print_table(result.columns, result.rows)
        if result.truncated:
            say(f"only the first {len(result.rows)} rows (--max-rows)", err=True)

    with_hub(go)


@analytics_app.command("export")
def export(
    out: Path = typer.Option(..., "--out", help="The file to write."),
    fmt: str = typer.Option("parquet", "--format", help="parquet | csv"),
    since: str = typer.Option(None, "--since", help="First day (YYYY-MM-DD), included."),
    until: str = typer.Option(None, "--until", help="Last day (YYYY-MM-DD), excluded."),
) -> None:
    """Write the lakehouse's events (of the days chosen) to a Parquet or CSV file."""
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format must be parquet or csv, not {fmt!r}", option="--format")

    async def go(hub: Hub) -> None:
        n = await lakehouse.export(hub, out, format="csv" if fmt == "csv" else "parquet", since=since, until=until)
        say(f"{n} events written to {out}", err=True)

    with_hub(go)


@analytics_app.command("lakehouse")
def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The lakehouse table: events, data files (per day) and events waiting to be appended."""

    async def go(hub: Hub) -> None:
        info = await lakehouse.stats(hub)
        if as_json:
            print_json(info)
            return
        say(f"{info['rows']} events in {info['files']} files, {info['pending']} waiting to be appended")
        if info["days"]:
            print_table(["day", "files"], sorted(info["days"].items()))

    with_hub(go)


@analytics_app.command("compact")
def compact(
    flush: bool = typer.Option(True, "--flush/--no-flush", help="Append the events waiting first."),
) -> None:
    """Append what waits, apply the retention, rewrite each day's files into one, drop old snapshots."""

    async def go(hub: Hub) -> None:
        appended = await lakehouse.append_pending(hub) if flush else 0
        dropped = await lakehouse.drop_expired(hub)
        days = await lakehouse.compact(hub)
        files = await lakehouse.expire_snapshots(hub)
        say(
            f"{appended} events appended, {dropped} dropped by retention, {len(days)} days compacted "
            f"({sum(days.values())} files into {len(days)}), {files} unused files deleted",
            err=True,
        )

    with_hub(go)
