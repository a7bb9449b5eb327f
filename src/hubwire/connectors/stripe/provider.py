"""The Stripe provider: checks the key, syncs billing Nouns (lists, then the events feed), applies
its webhooks and registers them (:mod:`hubwire.connectors.stripe.webhooks`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hubwire.connectors.registry import ProviderContext, SyncProgress, WebhookRegistration
from hubwire.connectors.runtime import Connection, SpecProvider
from hubwire.connectors.spec import ProviderSpec, Resource
from hubwire.connectors.stripe import webhooks
from hubwire.connectors.stripe.feed import FEED, events_stream, newest_event
from hubwire.connectors.stripe.spec import STRIPE, UPDATABLE
from hubwire.domains.billing import Subscription
from hubwire.sync import transitions
from hubwire.sync.engine import Stream, pull
from hubwire.sync.state import clear_cursors, load_cursor, save_cursor

if TYPE_CHECKING:
    from hubwire.inbound.received import ReceivedHook, WebhookRecord

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
    webhook_scheme = "stripe"
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
        # Subscriptions canceled at Stripe are announced as Subscription.Cancelled once the pull is stored.
        moves: transitions.Moves = []
        streams = [transitions.watched(hub, iid, s, "subscription", moves) for s in self.streams(ctx, conn)]
        seen = await pull(ctx, progress, streams)
        for items, before in moves:
            await transitions.announce(hub, Subscription, items, before, self.slug, webhooks.subscription_verb)
        return seen

    def streams(self, ctx: ProviderContext, conn: Connection) -> list[Stream]:
        return [*super().streams(ctx, conn), events_stream(self, conn)]

    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        kind = payload.get("type") if isinstance(payload, dict) else None
        return kind if isinstance(kind, str) and kind else None

    async def webhook_records(self, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord]:
        return await webhooks.records(self, ctx, hook)

    async def register_webhook(self, ctx: ProviderContext, url: str) -> WebhookRegistration:
        return await webhooks.register(self, ctx, url)

    async def unregister_webhook(self, ctx: ProviderContext) -> None:
        await webhooks.unregister(self, ctx)
