"""``hubwire providers``: the provider catalog (built-in connectors and those of imported modules)."""

from __future__ import annotations

import typer

from hubwire.cli.output import print_json, print_table, say
from hubwire.connectors.registry import default_registry

__all__ = ["providers"]


def providers(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the providers you can connect (`hubwire Integration.connect --provider SLUG ...`)."""
    catalog = default_registry.all()
    if as_json:
        print_json(
            [
                {**p.catalog(), "syncs": p.syncs, "connect_params": [*p.credential_fields, *p.config_fields]}
                for p in catalog
            ]
        )
        return
    if not catalog:
        say("no providers registered (import yours with --import MODULE)", err=True)
        return
    print_table(
        ["slug", "name", "category", "auth", "connect with", "syncs", "webhooks"],
        (
            [
                p.slug,
                p.name,
                p.category,
                p.auth_type,
                " ".join("--" + c.replace("_", "-") for c in p.credential_fields),
                p.syncs,
                p.webhook_support,
            ]
            for p in catalog
        ),
    )
