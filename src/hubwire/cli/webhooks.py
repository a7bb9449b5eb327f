"""``hubwire webhooks``: deliveries and attempts, resend, recover, retry dead, test events, secret rotation.

Endpoints are Integrations: ``hubwire Integration.connect --provider webhook --url URL --events '*'``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from hubwire import webhooks
from hubwire.cli.output import UsageError, print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.hub import Hub
from hubwire.webhooks.attempts import STATUSES
from hubwire.webhooks.signing import ROTATION_GRACE

__all__ = ["app"]

app = typer.Typer(help="Outbound webhooks: deliveries, attempts, resend, recover, retry dead.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Webhook deliveries and their attempts.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")


def _time(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--{option} must be an ISO 8601 date-time, not {text!r}", option=option) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


@deliveries_app.command("list")
def list_(
    endpoint: str = typer.Option(None, "--endpoint", help="Only this endpoint (Integration id)."),
    event: str = typer.Option(None, "--event", help="Only deliveries of this event id."),
    status: str = typer.Option(None, "--status", help="pending | failed | succeeded | dead"),
    since: str = typer.Option(None, "--since", help="Created at or after this ISO time."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List deliveries, newest first."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status must be one of: {', '.join(STATUSES)}", option="status")
    since_ts = _time(since, "since")

    async def go(hub: Hub) -> None:
        rows = await webhooks.list_deliveries(
            hub, endpoint_id=endpoint, event_id=event, status=status, since=since_ts, limit=limit
        )
        if as_json:
            print_json([r.to_dict() for r in rows])
            return
        if not rows:
            say("no deliveries", err=True)
            return
        print_table(
            ["id", "endpoint", "event", "status", "attempts", "code", "next attempt", "last error"],
            (
                [
                    r.id,
                    r.endpoint_id,
                    r.event_type,
                    r.status,
                    r.attempts,
                    r.last_status_code,
                    d["next_attempt_at"],
                    r.last_error,
                ]
                for r, d in ((r, r.to_dict()) for r in rows)
            ),
        )

    with_hub(go)


@deliveries_app.command("show")
def show(
    delivery_id: str = typer.Argument(..., help="A delivery id (its webhook-id)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show one delivery and its attempts."""

    async def go(hub: Hub) -> None:
        row = await webhooks.get_delivery(hub, delivery_id)
        attempts = await webhooks.list_attempts(hub, delivery_id)
        if as_json:
            print_json({**row.to_dict(), "attempts": [a.to_dict() for a in attempts]})
            return
        say(f"{row.id} {row.event_type} -> {row.endpoint_id}: {row.status} after {row.attempts} attempt(s)")
        print_table(
            ["attempt", "started", "latency ms", "code", "error", "response"],
            (
                [
                    a.attempt,
                    d["started_at"],
                    None if a.latency_ms is None else round(a.latency_ms, 1),
                    a.status_code,
                    a.error,
                    a.response_body,
                ]
                for a, d in ((a, a.to_dict()) for a in attempts)
            ),
        )

    with_hub(go)


@deliveries_app.command("resend")
def resend(delivery_id: str = typer.Argument(..., help="A succeeded or dead delivery.")) -> None:
    """Send one delivery again, with the same webhook-id."""

    async def go(hub: Hub) -> None:
        row = await webhooks.resend(hub, delivery_id)
        say(f"requeued {row.id} ({row.event_type} -> {row.endpoint_id})")

    with_hub(go)


@deliveries_app.command("recover")
def recover(
    endpoint: str = typer.Argument(..., help="The endpoint (Integration id)."),
    since: str = typer.Option(..., "--since", help="Failed (last attempt) at or after this ISO time."),
) -> None:
    """Send again now every delivery of an endpoint that failed since a time (dead, or waiting for a retry)."""
    since_ts = _time(since, "since")
    assert since_ts is not None

    async def go(hub: Hub) -> None:
        n = await webhooks.recover(hub, endpoint, since_ts)
        say(f"sending {n} deliver{'ies' if n != 1 else 'y'} again now")

    with_hub(go)


@deliveries_app.command("retry")
def retry(
    dead: bool = typer.Option(False, "--dead", help="Requeue every dead delivery (with --endpoint/--since)."),
    endpoint: str = typer.Option(None, "--endpoint", help="Only this endpoint."),
    since: str = typer.Option(None, "--since", help="Dead-lettered at or after this ISO time."),
) -> None:
    """Requeue dead deliveries in bulk (as `hubwire jobs retry --dead` does for jobs)."""
    if not dead:
        raise typer.BadParameter("say --dead: dead deliveries are requeued in bulk (one delivery: `resend ID`)")
    since_ts = _time(since, "since")

    async def go(hub: Hub) -> None:
        n = await webhooks.retry_dead(hub, endpoint_id=endpoint, since=since_ts)
        say(f"requeued {n} dead deliver{'ies' if n != 1 else 'y'}")

    with_hub(go)


@deliveries_app.command("test")
def test(endpoint: str = typer.Argument(..., help="The endpoint (Integration id).")) -> None:
    """Send a webhook.test event to an endpoint."""

    async def go(hub: Hub) -> None:
        row = await webhooks.send_test(hub, endpoint)
        say(f"queued test delivery {row.id} to {endpoint}")

    with_hub(go)


@app.command("rotate-secret")
def rotate_secret(
    endpoint: str = typer.Argument(..., help="The endpoint (Integration id)."),
    grace: float = typer.Option(ROTATION_GRACE, "--grace", min=0, help="Seconds the old secret still signs."),
) -> None:
    """Rotate an endpoint's signing secret; prints the new secret once."""

    async def go(hub: Hub) -> None:
        secret = await webhooks.rotate_secret(hub, endpoint, grace=grace)
        say(secret)

    with_hub(go)
