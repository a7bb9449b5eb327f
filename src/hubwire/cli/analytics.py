"""``hubwire analytics deliveries``: the forwarding log per destination, and what is still pending.

Destinations are an Integration: ``hubwire Integration.connect --provider analytics --destinations '{...}'``.
"""

from __future__ import annotations

import typer

from hubwire import analytics
from hubwire.cli.output import print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.hub import Hub

__all__ = ["analytics_app"]

analytics_app = typer.Typer(help="Analytics forwarding: the delivery log per destination.", no_args_is_help=True)


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
