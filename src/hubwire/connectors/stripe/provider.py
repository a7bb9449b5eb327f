"""The Stripe provider: checks the key, syncs billing Nouns (lists, then the events feed)."""

from __future__ import annotations

from typing import Any, ClassVar

from hubwire.connectors.registry import ProviderContext, SyncProgress
from hubwire.connectors.runtime import Connection, SpecProvider
from hubwire.connectors.spec import ProviderSpec, Resource
from hubwire.connectors.stripe.feed import FEED, events_stream, newest_event
from hubwire.connectors.stripe.spec import STRIPE, UPDATABLE
from hubwire.domains import billing  # noqa: F401  (the Nouns this provider fills)
from hubwire.sync.engine import Stream, pull
from hubwire.sync.state import clear_cursors, load_cursor, save_cursor

__all__ = ["StripeProvider"]


class StripeProvider(SpecProvider):
    slug = "stripe"
    name = "Stripe"
    category = "Payment"
    auth_type = "ApiKey"
    description = "Payments and subscriptions; the truth source for billing Nouns."
    provider_url = "https://stripe.com"
    api_base_url = "https://api.stripe.com"
    webhook_support = True
    credential_fields = ("api_key",)
    required_credentials = ("api_key",)
    config_fields = ("rate_limit",)
    syncs = True
    featured = True
    spec: ClassVar[ProviderSpec] = STRIPE

    def account(self, body: Any) -> dict[str, Any] | None:
        if isinstance(body, dict):
            return {"livemode": bool(body.get("livemode"))}
        return None

    def pushable(self, resource: str) -> frozenset[str]:
        """What Stripe's update endpoints accept (the rest is Stripe's: a push of it would be refused)."""
        try:
            mapping = STRIPE.resource(resource).mapping
        except KeyError:
            return frozenset()
        if mapping is None:
            return frozenset()
        return super().pushable(resource) & frozenset(UPDATABLE.get(mapping.noun, ()))

    def incremental_value(self, resource: Resource, since: Any) -> Any:
        return int(since)

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        conn = self.connection(ctx)
        hub, iid = ctx.hub, ctx.integration.id
        if ctx.config.get("full"):
            await clear_cursors(hub, iid)
            ctx.config = {**ctx.config, "full": False}  # cleared here: pull must keep the new watermark
        if "since" not in await load_cursor(hub, iid, FEED):
            # Watermark the events feed BEFORE listing, so changes made during the pull replay after it.
            mark = await newest_event(conn)
            async with hub.transaction() as tx:
                await save_cursor(tx, iid, FEED, {"since": mark})
        return await pull(ctx, progress, self.streams(ctx, conn))

    def streams(self, ctx: ProviderContext, conn: Connection) -> list[Stream]:
        return [*super().streams(ctx, conn), events_stream(self, conn)]
