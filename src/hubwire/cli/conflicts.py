"""``hubwire conflicts list|show|resolve``: the review queue of fields changed on both sides."""

from __future__ import annotations

import json
from typing import Any

import typer

from hubwire.cli.output import UsageError, print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.conflicts.review import STATUSES, get_conflict, list_conflicts, resolve_conflict
from hubwire.hub import Hub
from hubwire.sync.conflicts import Conflict

__all__ = ["conflicts_app"]

conflicts_app = typer.Typer(help="Review and resolve sync conflicts.", no_args_is_help=True)


@conflicts_app.command("list")
def list_(
    integration: str = typer.Option(None, "--integration", help="Only this integration's conflicts."),
    noun: str = typer.Option(None, "--noun", help="Only conflicts on this Noun (Customer, Contact...)."),
    status: str = typer.Option(None, "--status", help="open | resolved"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="At most N conflicts, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List conflicts, newest first."""
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status must be one of: {', '.join(STATUSES)}", option="status")

    async def go(hub: Hub) -> None:
        rows = await list_conflicts(integration_id=integration, noun=noun, status=status, limit=limit, hub=hub)
        if as_json:
            print_json([c.to_dict() for c in rows])
            return
        if not rows:
            say("no conflicts", err=True)
            return
        print_table(
            ["id", "status", "entity", "fields", "integration", "detected", "resolved by"],
            (
                [
                    c.id,
                    c.status,
                    f"{c.entity_type} {c.entity_id}",
                    ", ".join(c.fields),
                    c.integration_id,
                    d["created_at"],
                    c.resolved_by,
                ]
                for c, d in ((c, c.to_dict()) for c in rows)
            ),
        )

    with_hub(go)


def _show(conflict: Conflict, as_json: bool) -> None:
    if as_json:
        print_json(conflict.to_dict())
        return
    d = conflict.to_dict()
    say(
        f"conflict {conflict.id} ({conflict.status}): {conflict.entity_type} {conflict.entity_id} "
        f"at {conflict.integration_id} ({conflict.resource} {conflict.remote_id}), detected {d['created_at']}"
    )
    print_table(
        ["field", "base", "local", "remote", "policy", "outcome", "value"],
        (
            [
                f,
                _cell(v.get("base")),
                _cell(v.get("local")),
                _cell(v.get("remote")),
                v.get("policy"),
                v.get("outcome") or "open",
                _cell(v.get("value")),
            ]
            for f, v in conflict.fields.items()
        ),
    )
    if conflict.status == "resolved":
        say(
            f"resolved by {conflict.resolved_by} at {d['resolved_at']}"
            + (f": {conflict.reason}" if conflict.reason else "")
        )


def _cell(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


@conflicts_app.command("show")
def show(
    conflict_id: int = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One conflict: each field's base, local and remote values, policy and outcome."""

    async def go(hub: Hub) -> None:
        _show(await get_conflict(conflict_id, hub=hub), as_json)

    with_hub(go)


def _values(pairs: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` pairs; VALUE is JSON when it parses as JSON (``5``, ``true``, ``{...}``), else text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--value takes FIELD=VALUE, not {pair!r}", option="value")
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
    return out


@conflicts_app.command("resolve")
def resolve(
    conflict_id: int = typer.Argument(..., metavar="ID"),
    take: str = typer.Option(None, "--take", help="local | remote: the side every open field takes."),
    value: list[str] = typer.Option(
        [], "--value", help="FIELD=VALUE: the value a field takes on both sides; repeatable."
    ),
    reason: str = typer.Option(None, "--reason", help="Why (kept in the audit trail)."),
    by: str = typer.Option("cli", "--by", help="Who resolves it, for the audit trail."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Decide an open conflict: applied to the entity and written to the provider where local wins."""
    if take is not None and take not in ("local", "remote"):
        raise UsageError("--take must be local or remote", option="take")
    if take is None and not value:
        raise UsageError("give --take local|remote or --value FIELD=VALUE")
    values = _values(value)

    async def go(hub: Hub) -> None:
        _show(await resolve_conflict(conflict_id, take=take, values=values, reason=reason, by=by, hub=hub), as_json)

    with_hub(go)
