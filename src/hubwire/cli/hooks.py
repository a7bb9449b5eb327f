"""``hubwire hooks``: the inbox of provider webhooks received (list, show, replay) and the counters.

A provider sends an Integration's webhooks to ``POST /v1/hooks/<integration id>`` (its ``hook_url``).
"""

from __future__ import annotations

import typer

from hubwire import inbound
from hubwire.cli.output import UsageError, print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.hub import Hub

__all__ = ["hooks_app"]

hooks_app = typer.Typer(help="Provider webhooks received: list, show, replay, count.", no_args_is_help=True)


@hooks_app.command("received")
def received(
    integration: str = typer.Option(None, "--integration", help="Only this Integration's."),
    status: str = typer.Option(None, "--status", help="received | applied | ignored | failed"),
    event_type: str = typer.Option(None, "--event-type", help="Only this event type (customer.updated)."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most N, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List received webhooks, newest first."""
    if status is not None and status not in inbound.STATUSES:
        raise UsageError(f"--status must be one of: {', '.join(inbound.STATUSES)}", option="status")

    async def go(hub: Hub) -> None:
        rows = await inbound.list_received(
            hub, integration_id=integration, status=status, event_type=event_type, limit=limit
        )
        if as_json:
            print_json([r.to_dict(body=False) for r in rows])
            return
        if not rows:
            say("no webhooks received", err=True)
            return
        print_table(
            ["id", "integration", "event", "event id", "status", "attempts", "received", "error"],
            (
                [r.id, r.integration_id, r.event_type, r.event_id, r.status, r.attempts, d["received_at"], r.error]
                for r, d in ((r, r.to_dict(body=False)) for r in rows)
            ),
        )

    with_hub(go)


@hooks_app.command("show")
def show(
    hook_id: str = typer.Argument(..., help="A received webhook's id (hook_...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one received webhook: its status, headers and body."""

    async def go(hub: Hub) -> None:
        data = (await inbound.get_received(hub, hook_id)).to_dict()
        if as_json:
            print_json(data)
            return
        say(
            f"{data['id']} {data['event_type'] or '-'} ({data['event_id'] or 'no event id'}) "
            f"for {data['integration_id']}: {data['status']} after {data['attempts']} attempt(s)"
        )
        if data["error"]:
            say(f"error: {data['error']}")
        print_table(["header", "value"], sorted(data["headers"].items()))
        say(data["body"] if data["body_encoding"] == "utf-8" else f"(base64) {data['body']}")

    with_hub(go)


@hooks_app.command("replay")
def replay(hook_id: str = typer.Argument(..., help="A received webhook's id (hook_...).")) -> None:
    """Apply a received webhook again (its status back to received, a new apply job)."""

    async def go(hub: Hub) -> None:
        row = await inbound.replay(hub, hook_id)
        say(f"replaying {row.id} ({row.event_type or 'no event type'} for {row.integration_id})")

    with_hub(go)


# The receiver's answers that took a webhook, first; its refusals (their error codes) follow.
TAKEN = ("received", "duplicate")


@hooks_app.command("stats")
def stats(
    integration: str = typer.Option(None, "--integration", help="Only this Integration's."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Count the webhooks received, duplicate and refused (by reason) per Integration, every process's."""

    async def go(hub: Hub) -> None:
        rows = await inbound.stats(hub, integration)
        if as_json:
            print_json(rows)
            return
        if not rows:
            say("no webhooks counted", err=True)
            return
        outcomes = [*TAKEN, *sorted({r["outcome"] for r in rows} - set(TAKEN))]
        counts: dict[str | None, dict[str, int]] = {}
        for r in rows:
            counts.setdefault(r["integration_id"], {})[r["outcome"]] = r["count"]
        print_table(
            ["integration", *outcomes],
            ([iid or "(no receiver)", *(n.get(o, 0) for o in outcomes)] for iid, n in counts.items()),
        )

    with_hub(go)
