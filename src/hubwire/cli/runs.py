"""``hubwire runs INTEGRATION_ID``: the recorded sync runs of an integration, with their counts."""

from __future__ import annotations

import typer

from hubwire.cli.output import print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.domains.platform import Integration
from hubwire.hub import Hub
from hubwire.sync.runs import COUNT_KINDS, list_runs

__all__ = ["runs"]


def runs(
    integration_id: str = typer.Argument(..., help="The integration (integration_...)."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="At most N runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the sync runs of an integration: status, counts per Noun, duration, error or why it held back."""

    async def go(hub: Hub) -> None:
        await Integration.get(integration_id)
        rows = [r.to_dict() for r in await list_runs(hub, integration_id, limit=limit)]
        if as_json:
            print_json(rows)
            return
        if not rows:
            say(f"no sync runs for {integration_id} yet", err=True)
            return
        print_table(
            ["run", "status", "full", "started", "duration s", *COUNT_KINDS, "error / summary"],
            (
                [
                    r["id"],
                    r["status"],
                    "yes" if r.get("full") else "",
                    r.get("started_at"),
                    None if r.get("duration") is None else round(r["duration"], 2),
                    *(sum(c.get(k, 0) for c in (r.get("counts") or {}).values()) for k in COUNT_KINDS),
                    r.get("error") or r.get("summary"),
                ]
                for r in rows
            ),
        )

    with_hub(go)
