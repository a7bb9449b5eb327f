"""OAuth on the command line: ``hubwire oauth-apps set|list|delete`` and the loopback connect.

``hubwire Integration.connect --provider hubspot --oauth`` works as ``gh auth login`` does: it
listens on a loopback port (RFC 8252: ``http://127.0.0.1:PORT/callback``, register it with the
provider), prints the authorization URL (and opens a browser when there is a display), waits for
the provider to send the browser back, and finishes the connect with the code and state. The
client secret is entered once (``oauth-apps set``) and never printed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import webbrowser
from collections.abc import Mapping
from typing import Any

import typer
from aiohttp import web

from hubwire.cli.output import print_json, print_table, say
from hubwire.cli.runtime import with_hub
from hubwire.domains.platform import Integration
from hubwire.errors import ProviderAuthError, ValidationError
from hubwire.hub import Hub
from hubwire.nouns.entity import Entity
from hubwire.oauth import apps
from hubwire.oauth.states import STATE_TTL

__all__ = ["loopback_connect", "oauth_apps_app"]

oauth_apps_app = typer.Typer(help="Set, list and delete OAuth apps (client id and secret per provider).")

_DONE = """<!doctype html><title>Hubwire</title><p>{message}</p><p>You can close this window.</p>"""


@oauth_apps_app.command("set")
def set_(
    provider: str = typer.Argument(..., help="The provider's slug (hubspot, salesforce...)."),
    client_id: str | None = typer.Option(None, "--client-id", help="The OAuth app's client id."),
    client_secret: str | None = typer.Option(
        None, "--client-secret", help="The client secret (stored encrypted, never shown). Env: HUBWIRE_CLIENT_SECRET."
    ),
    scopes: str | None = typer.Option(None, "--scopes", help="Default scopes, space or comma separated."),
    authorize_url: str | None = typer.Option(None, "--authorize-url", help="Override (a sandbox, a simulator)."),
    token_url: str | None = typer.Option(None, "--token-url", help="Override (a sandbox, a simulator)."),
    no_pkce: bool = typer.Option(False, "--no-pkce", help="The provider does not support PKCE."),
    grant: str | None = typer.Option(
        None, "--grant", help="authorization_code or client_credentials (a Salesforce connected app's own account)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create or update a provider's OAuth app."""
    secret = client_secret or os.environ.get("HUBWIRE_CLIENT_SECRET") or None

    async def go(hub: Hub) -> None:
        app = await apps.set_app(
            hub,
            provider,
            client_id=client_id,
            client_secret=secret,
            scopes=scopes,
            authorize_url=authorize_url,
            token_url=token_url,
            extra={**({"pkce": False} if no_pkce else {}), **({"grant": grant} if grant else {})} or None,
        )
        if as_json:
            print_json(app.to_dict())
        else:
            say(f"OAuth app for {app.provider} saved (client id {app.client_id}; the secret is stored encrypted)")

    with_hub(go)


@oauth_apps_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List OAuth apps (never their secrets)."""

    async def go(hub: Hub) -> None:
        found = await apps.list_apps(hub)
        if as_json:
            print_json([a.to_dict() for a in found])
            return
        print_table(
            ["provider", "client id", "scopes", "token url"],
            ([a.provider, a.client_id, " ".join(a.scopes), a.token_url or "(provider's)"] for a in found),
        )

    with_hub(go)


@oauth_apps_app.command("delete")
def delete(provider: str = typer.Argument(..., help="The provider's slug.")) -> None:
    """Delete a provider's OAuth app."""

    async def go(hub: Hub) -> None:
        await apps.delete_app(hub, provider)
        say(f"OAuth app for {provider} deleted")

    with_hub(go)


def _has_browser() -> bool:
    # Without a display, webbrowser would start a text browser in this very terminal.
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def loopback_connect(
    integration_id: str | None,
    params: Mapping[str, Any],
    *,
    port: int = 0,
    open_browser: bool = True,
) -> Entity:
    """Authorize in a browser and connect: listen on 127.0.0.1, print the URL, wait for the callback."""
    options = dict(params)
    provider, scopes = options.pop("provider", None), options.pop("scopes", None)
    got: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        if not got.done() and "state" in request.query:
            got.set_result(dict(request.query))
        ok = "error" not in request.query
        return web.Response(
            text=_DONE.format(message="Authorized: Hubwire is finishing the connection." if ok else "Not authorized."),
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/callback", callback)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    bound = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        url = await Integration.authorize(
            integration_id, provider=provider, redirect_uri=f"http://127.0.0.1:{bound}/callback", scopes=scopes
        )
        say("Open this URL in a browser to authorize Hubwire:", err=True)
        say(url, err=True)
        if open_browser and _has_browser():
            webbrowser.open(url)
        say(f"Waiting for the provider on http://127.0.0.1:{bound}/callback ...", err=True)
        try:
            query = await asyncio.wait_for(got, STATE_TTL)
        except TimeoutError:
            raise ValidationError.single("state", "oauth_timeout", "no authorization came back in 10 minutes") from None
    finally:
        await runner.cleanup()
    if "error" in query or "code" not in query:
        raise ProviderAuthError(
            f"the provider did not authorize: {query.get('error', 'no code')} {query.get('error_description', '')}",
            provider=provider,
        )
    return await Integration.connect(integration_id, code=query["code"], state=query["state"], **options)
