"""``hubwire mappings fields|show|set|versions``: an Integration's field mappings (:mod:`hubwire.mappings`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from hubwire.cli.output import UsageError, print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.hub import Hub
from hubwire.mappings.edit import get_mappings, list_mapping_versions, remote_fields, set_mappings

__all__ = ["mappings_app"]

mappings_app = typer.Typer(help="List a connection's remote fields and set its field mappings.", no_args_is_help=True)
SAVED_BY = "cli"  # the version's saved_by: the CLI runs with the database's rights, not an API key's


@mappings_app.command("fields")
def fields(
    integration_id: str = typer.Argument(..., metavar="ID"),
    noun: str = typer.Option(..., "--noun", help="The Noun whose provider object to describe (Contact, Deal...)."),
    custom: bool = typer.Option(False, "--custom", help="Only custom fields."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The provider's fields (custom ones included) that can fill a Noun's fields."""

    async def go(hub: Hub) -> None:
        found = [f for f in await remote_fields(integration_id, noun, hub=hub) if f.custom or not custom]
        if as_json:
            print_json([f.to_json() for f in found])
            return
        print_table(
            ["name", "label", "type", "custom", "writable", "options"],
            (
                [f.name, f.label, f.type, "yes" if f.custom else "", "yes" if f.writable else "", _options(f.options)]
                for f in found
            ),
        )

    with_hub(go)


def _options(options: Any) -> str:
    shown = ", ".join(o.value if o.value == o.label else f"{o.value} ({o.label})" for o in options[:6])
    return shown + (", ..." if len(options) > 6 else "")


@mappings_app.command("show")
def show(
    integration_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The current mappings of every Noun."""

    async def go(hub: Hub) -> None:
        current = await get_mappings(integration_id, hub=hub)
        if as_json:
            print_json(current)
            return
        if not current:
            say("no field mappings: every field comes from the defaults", err=True)
            return
        print_table(
            ["noun", "field", "remote", "transform", "direction"],
            (
                [noun, m["field"], m["remote"], _transform(m.get("transform")), m.get("direction", "both")]
                for noun, listed in current.items()
                for m in listed
            ),
        )

    with_hub(go)


def _transform(t: Any) -> str:
    if not t:
        return "as is"
    if t.get("type") == "enum":
        return "enum " + ", ".join(f"{k}->{v}" for k, v in t.get("map", {}).items())
    return str(t.get("type"))


def _read(file: Path | None, inline: str | None) -> Any:
    if (file is None) == (inline is None):
        raise UsageError("give the mappings with --file PATH or as inline JSON (one of them)", option="file")
    text = file.read_text() if file is not None else inline
    try:
        data = json.loads(text or "")
    except ValueError as exc:
        raise UsageError(f"the mappings are not valid JSON: {exc}", option="file") from None
    return data.get("mappings") if isinstance(data, dict) and "mappings" in data else data


@mappings_app.command("set")
def set_(
    integration_id: str = typer.Argument(..., metavar="ID"),
    mappings: str = typer.Argument(None, metavar="[JSON]", help="The mappings as inline JSON (or --file)."),
    noun: str = typer.Option(..., "--noun", help="The Noun whose mappings to replace."),
    file: Path = typer.Option(None, "--file", exists=True, dir_okay=False, help="A JSON file: a list of mappings."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Replace a Noun's mappings (a JSON list of remote, field, transform, direction), checked: a new version."""
    listed = _read(file, mappings)

    async def go(hub: Hub) -> None:
        saved = await set_mappings(integration_id, noun, listed, by=SAVED_BY, hub=hub)
        if as_json:
            print_json(saved.to_dict())
            return
        count = len(saved.mappings.get(noun, []))
        say(f"saved version {saved.version} of {integration_id}'s mappings ({noun}: {count}); the next sync uses it")

    with_hub(go)


@mappings_app.command("versions")
def versions(
    integration_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every saved version of the mappings, newest first."""

    async def go(hub: Hub) -> None:
        found = await list_mapping_versions(integration_id, hub=hub)
        if as_json:
            print_json([v.to_dict() for v in found])
            return
        if not found:
            say("no versions: no mappings were ever saved", err=True)
            return
        print_table(
            ["version", "saved at", "saved by", "nouns"],
            (
                [
                    d["version"],
                    d["saved_at"],
                    d["saved_by"] or "connect",
                    ", ".join(f"{n} ({len(m)})" for n, m in v.mappings.items()),
                ]
                for v, d in ((v, v.to_dict()) for v in found)
            ),
        )

    with_hub(go)
