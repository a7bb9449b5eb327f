"""``hubwire apikey create|list|revoke``: keys for the REST API (the key itself is shown once).

``create`` makes an admin key unless ``--scope`` says otherwise: the operator at this prompt holds
the database and can do everything anyway, the quick start's key connects integrations, and every
key made before scopes was one. Hand out ``read`` and ``write`` keys to what needs less.
"""

from __future__ import annotations

import typer

from hubwire.api.keys import create_api_key, list_api_keys, revoke_api_key
from hubwire.api.scopes import Scope
from hubwire.cli.output import print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.hub import Hub

__all__ = ["apikey_app"]

apikey_app = typer.Typer(help="Create, list and revoke API keys for the REST API.", no_args_is_help=True)


@apikey_app.command("create")
def create(
    name: str = typer.Option("default", "--name", help="A name to tell keys apart."),
    scope: Scope = typer.Option(
        Scope.ADMIN,
        "--scope",
        help="read: GET only; write: Nouns and their verbs; admin: everything, keys and credentials too; "
        "collect: POST /v1/collect only.",
        case_sensitive=False,
    ),
    collect_only: bool = typer.Option(
        False,
        "--collect-only",
        help="A publishable pk_ key for web pages and servers sending events: POST /v1/collect and nothing else.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an API key and print it once."""

    if collect_only:
        scope = Scope.COLLECT

    async def go(hub: Hub) -> None:
        record, key = await create_api_key(hub, name, scope)
        if as_json:
            # The key is the answer: printed unredacted, this once.
            print_json({**record.to_dict(), "key": key}, raw=True)
            return
        say(key)
        say(
            f"API key {record.id} ({record.name}, scope {record.scope.value}). It will not be shown again: "
            "store it now. "
            + (
                'Use it in pages as <script src=".../v1/collect.js" data-key="<key>">, or POST /v1/collect?key=<key>.'
                if record.scope is Scope.COLLECT
                else "Send it as `Authorization: Bearer <key>`."
            ),
            err=True,
        )

    with_hub(go)


@apikey_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List API keys (never the keys themselves)."""

    async def go(hub: Hub) -> None:
        keys = await list_api_keys(hub)
        if as_json:
            print_json([k.to_dict() for k in keys])
            return
        if not keys:
            say("no API keys: create one with `hubwire apikey create`", err=True)
            return
        rows = [
            [d["id"], d["name"], d["scope"], f"hw_{d['prefix']}_…", d["created_at"], d["last_used_at"], d["revoked_at"]]
            for d in (k.to_dict() for k in keys)
        ]
        print_table(["id", "name", "scope", "key", "created", "last used", "revoked"], rows)

    with_hub(go)


@apikey_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., metavar="ID", help="The key's id (key_...).")) -> None:
    """Revoke an API key: requests with it are refused from now on."""

    async def go(hub: Hub) -> None:
        await revoke_api_key(hub, key_id)
        say(f"revoked {key_id}")

    with_hub(go)
