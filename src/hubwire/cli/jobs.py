"""``hubwire jobs list|retry``: the durable job queue, its dead letters and their retry."""

from __future__ import annotations

from datetime import datetime

import typer

from hubwire.cli.output import UsageError, print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.hub import Hub
from hubwire.jobs.queue import STATUSES, list_jobs, retry_dead, retry_job

__all__ = ["jobs_app"]

jobs_app = typer.Typer(help="Inspect the job queue and retry dead jobs.", no_args_is_help=True)


@jobs_app.command("list")
def list_(
    status: str = typer.Option(None, "--status", help="queued | running | done | dead"),
    kind: str = typer.Option(None, "--kind", help="Only jobs of this kind."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most N jobs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List jobs, newest first."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status must be one of: {', '.join(STATUSES)}", option="status")

    async def go(hub: Hub) -> None:
        rows = await list_jobs(hub, status=status, kind=kind, limit=limit)
        if as_json:
            print_json([r.to_dict() for r in rows])
            return
        if not rows:
            say("no jobs", err=True)
            return
        print_table(
            ["id", "kind", "status", "attempts", "run at", "last error"],
            (
                [r.id, r.kind, r.status, f"{r.attempts}/{r.max_attempts}", d["run_at"], r.last_error]
                for r, d in ((r, r.to_dict()) for r in rows)
            ),
        )

    with_hub(go)


@jobs_app.command("retry")
def retry(
    job_id: int = typer.Argument(None, metavar="[ID]", help="Requeue this dead or done job."),
    dead: bool = typer.Option(False, "--dead", help="Requeue every dead job (with --kind/--since)."),
    kind: str = typer.Option(None, "--kind", help="With --dead: only this kind."),
    since: str = typer.Option(None, "--since", help="With --dead: dead-lettered at or after this ISO time."),
) -> None:
    """Requeue one job by id, or every dead job with --dead."""
    if (job_id is None) == (not dead):
        raise UsageError("give a job ID or --dead (not both)")
    if job_id is not None and (kind or since):
        raise UsageError("--kind and --since go with --dead")
    since_ts = _timestamp(since) if since else None

    async def go(hub: Hub) -> None:
        if job_id is not None:
            row = await retry_job(hub, job_id)
            say(f"requeued job {row.id} ({row.kind})")
        else:
            n = await retry_dead(hub, kind=kind, since=since_ts)
            say(f"requeued {n} dead job{'s' if n != 1 else ''}")

    with_hub(go)


def _timestamp(text: str) -> float:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since must be an ISO 8601 date-time, not {text!r}", option="since") from None
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
