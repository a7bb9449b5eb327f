"""The provider interface every connector implements, and the registry of providers.

A provider is a class with catalog data (name, category, auth type, logo, url) and up to five
behaviours: ``prepare`` (split connect parameters into credentials and config, validate them),
``check`` (ask the provider whether the credentials work), ``sync`` (pull its data into Nouns),
``push`` (send one local change: of a Noun it pushes, ``push_directions``, of local values a
sync's field merge kept, ``pushable``, or of a conflict resolution), ``updating`` (refuse or
normalise an update of the Integration) and ``disconnect``. Everything but ``slug`` and ``name``
has a default. A provider that takes user field mappings (:mod:`hubwire.mappings`) also lists its
fields (``remote_fields``) and says which Nouns it maps (``mapped_noun``).

A syncing provider takes one more config key, ``conflicts``: the Integration's conflict policies
(:class:`hubwire.sync.merge.Policies`), checked by the Integration's connect and update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hubwire.connectors.builtin import load_builtins
from hubwire.errors import ConfigurationError, FieldError, ValidationError
from hubwire.net.ssrf import AddressPolicy

if TYPE_CHECKING:
    from hubwire.connectors.spec import Direction
    from hubwire.hub import Hub
    from hubwire.inbound.received import ApplyOutcome, ReceivedHook, WebhookRecord
    from hubwire.mappings.model import RemoteField
    from hubwire.nouns.entity import Entity
    from hubwire.nouns.noun import Noun
    from hubwire.oauth.spec import OAuthSpec
    from hubwire.sync.upsert import Incoming

__all__ = [
    "Provider",
    "ProviderContext",
    "ProviderRegistry",
    "PushCall",
    "Pushed",
    "SyncProgress",
    "WebhookRegistration",
    "default_registry",
    "provider",
]


@dataclass
class ProviderContext:
    """What a provider's behaviours get: the hub, the Integration, its credentials and config."""

    hub: Hub
    provider: Provider
    integration: Entity
    credentials: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    # A connect's check: ``credentials`` are the ones being checked, not (yet) the stored ones.
    checking: bool = False
    # What the provider read once and reuses for the length of one sync run or one webhook batch
    # (metadata such as a CRM's field list): each run and each batch starts with an empty one, so
    # a change at the provider is seen by the next.
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        url = self.integration.get("api_base_url") or self.provider.api_base_url or ""
        return str(url).rstrip("/")

    @property
    def policy(self) -> AddressPolicy:
        """What the hub may dial (the SSRF guard), from its settings."""
        return AddressPolicy.from_settings(self.hub.settings)


ProgressFn = Callable[[str, int, int | None], None]


@dataclass
class SyncProgress:
    """Progress of a sync, reported by providers (``noun, done, total``) to a CLI or a run record."""

    callback: ProgressFn | None = None
    count: int = 0

    def advance(self, noun: str, n: int = 1, total: int | None = None) -> None:
        self.count += n
        if self.callback is not None:
            self.callback(noun, self.count, total)


@dataclass(frozen=True)
class WebhookRegistration:
    """What registering Hubwire's hook URL at a provider left: the signing ``secret`` (the provider's
    or one Hubwire generated), what removing it needs (``keep``: ids under keys named ``webhook_*``,
    stored encrypted with the credentials) and a ``note`` for the Integration (e.g. the repositories
    it could not cover)."""

    secret: str
    keep: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass
class PushCall:
    """One local change for :meth:`Provider.push` to send (made by the push outbox, hubwire.push).

    ``verb`` is what to do at the provider, decided from the state, not from the local verb:
    ``create`` (no remote object linked yet: ``fields`` are all the entity's set fields),
    ``update`` (``fields`` are those changed since the provider last had the entity) or
    ``delete`` (``entity`` is ``None``). ``idempotency_key`` is derived from the entity id (and
    version, for an update): a retried push sends the same key, so the provider replays it.
    """

    noun: Noun
    verb: str
    entity_id: str
    entity: Entity | None
    fields: dict[str, Any]
    remote_id: str | None
    idempotency_key: str


@dataclass
class Pushed:
    """What a create or update left at the provider: its object mapped as a sync maps it, so the
    ref can record the hash the next sync will compute (and see Hubwire's own write as unchanged)."""

    resource: str
    record: Incoming


class Provider:
    slug: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[str] = "Other"
    auth_type: ClassVar[str] = "ApiKey"
    description: ClassVar[str] = ""
    provider_url: ClassVar[str | None] = None
    provider_logo: ClassVar[str | None] = None
    api_base_url: ClassVar[str | None] = None
    webhook_support: ClassVar[bool] = False
    # The inbound signature scheme (see hubwire.inbound.received for the whole contract).
    webhook_scheme: ClassVar[str | None] = None
    oauth_scopes: ClassVar[str | None] = None
    # How the provider does OAuth 2.0 (hubwire.oauth): tokens then come from hubwire.oauth.access_token.
    oauth: ClassVar[OAuthSpec | None] = None
    featured: ClassVar[bool] = False
    # Connect keywords that are secrets (encrypted, never shown) and those required.
    credential_fields: ClassVar[tuple[str, ...]] = ()
    required_credentials: ClassVar[tuple[str, ...]] = ()
    # Non-secret connect keywords accepted into the Integration's config.
    config_fields: ClassVar[tuple[str, ...]] = ()
    # Does connecting start an initial sync?
    syncs: ClassVar[bool] = False

    def slug_for(self, config: Mapping[str, Any]) -> str | None:
        """The Integration slug a connection uses; ``None`` means a new one per connection."""
        return self.slug

    def prepare(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split ``connect`` keywords into (credentials, config); raise ValidationError on bad ones."""
        creds: dict[str, Any] = {}
        config: dict[str, Any] = {}
        errors: list[FieldError] = []
        for key, value in params.items():
            if value is None:
                continue
            if key == "directions":  # every provider's: which way each Noun syncs (hubwire.push)
                config[key] = _check_directions(self, value)
            elif key in self.credential_fields:
                creds[key] = value
            elif key in self.config_fields or (key == "conflicts" and self.syncs):
                config[key] = value
            else:
                names = (*self.credential_fields, *self.config_fields, *(("conflicts",) if self.syncs else ()))
                accepted = ", ".join(names) or "none"
                errors.append(
                    FieldError(key, "unknown_parameter", f"{self.slug} does not take {key!r} (accepted: {accepted})")
                )
        for key in self.required_credentials:
            if not creds.get(key):
                errors.append(FieldError(key, "required", f"{self.slug} needs {key} to connect"))
        if errors:
            raise ValidationError(
                f"cannot connect {self.slug}: " + "; ".join(e.message for e in errors),
                errors,
                provider=self.slug,
            )
        return creds, config

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        """Verify the credentials with the provider; raise ProviderAuthError when refused."""
        return None

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        """Pull the provider's data into Nouns; return how many records were seen."""
        return 0

    def push_directions(self) -> dict[str, Direction]:
        """The Nouns this provider can push (local -> provider), each with its default direction."""
        return {}

    async def push(self, ctx: ProviderContext, call: PushCall) -> Pushed | None:
        """Send one local change to the provider (the push outbox calls it from a durable job).

        Raise the typed provider errors (a retryable one is retried with backoff); return the
        object the provider answered for a create or update, ``None`` for a delete.
        """
        raise ConfigurationError(f"{self.slug} cannot push {call.noun.name}", provider=self.slug)

    async def updating(self, hub: Hub, current: Entity, proposed: Entity) -> None:
        """Refuse (raise) or normalise (change ``proposed``) an update of one of this provider's Integrations.

        Where credentials are sent is decided when they are entered: an update that changes
        ``api_base_url`` would send the stored credentials to a new place, so it is refused and
        the change goes through ``connect`` with the credentials (which checks the URL too).
        The config's ``directions`` are checked as at connect.
        """
        config = proposed.get("config")
        before = (current.get("config") or {}).get("directions")
        if isinstance(config, dict) and "directions" in config and config["directions"] != before:
            config["directions"] = _check_directions(self, config["directions"])
        if (proposed.get("api_base_url") or None) != (current.get("api_base_url") or None):
            raise ValidationError.single(
                "api_base_url",
                "reconnect_required",
                f"api_base_url decides where {current.id}'s credentials are sent: change it by reconnecting "
                f"with the credentials (Integration.connect({current.id!r}, <credentials>, api_base_url=...), "
                f"POST /v1/integrations/{current.id}/connect), not by an update",
                integration_id=current.id,
            )

    def pushable(self, resource: str) -> frozenset[str]:
        """The Noun fields of ``resource`` an update through :meth:`push` can write (none by default).

        Whatever the Noun's direction: a sync's field merge that keeps local values the provider
        lacks queues a push of these fields only (:func:`hubwire.push.outbox.owe`), and a conflict
        resolution writes only these. A field outside it stays local (the provider owns it).
        """
        return frozenset()

    def mapped_noun(self, noun: str) -> Noun | None:
        """The Noun of that name this provider fills and takes user field mappings for (none by default)."""
        return None

    async def remote_fields(self, ctx: ProviderContext, noun: str) -> list[RemoteField]:
        """The provider's fields (custom ones included) of the object type that fills ``noun``, from its
        field metadata (:mod:`hubwire.mappings`); a provider without field mappings has none to list."""
        raise ValidationError.single(
            "noun", "no_field_mappings", f"{self.slug} takes no field mappings (it lists no fields of {noun})"
        )

    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        """The name of a verified inbound webhook's event (``customer.updated``), for the inbox."""
        return None

    async def webhook_records(self, ctx: ProviderContext, hook: ReceivedHook) -> list[WebhookRecord] | None:
        """The records a verified inbound webhook changes, mapped as the sync maps them (empty: none,
        the hook is ``ignored``), for the inbox to apply with those of other webhooks, a page per
        transaction; ``None`` (the default): :meth:`on_webhook` applies it (see hubwire.inbound.received)."""
        return None

    async def on_webhook(self, ctx: ProviderContext, hook: ReceivedHook) -> ApplyOutcome:
        """Apply a verified inbound webhook to the local Nouns (see hubwire.inbound.received).

        By default, its :meth:`webhook_records` applied as a batch of one; ``ignored`` without any.
        """
        from hubwire.inbound.batch import apply_alone

        return await apply_alone(ctx, hook)

    async def register_webhook(self, ctx: ProviderContext, url: str) -> WebhookRegistration | None:
        """Register ``url`` (Hubwire's hook URL of this Integration) at the provider, for the events
        ``on_webhook`` applies; ``None`` when the provider has no registration API. Raise a
        HubwireError when the provider refuses (the Integration then keeps polling and says why)."""
        return None

    async def unregister_webhook(self, ctx: ProviderContext) -> None:
        """Remove what :meth:`register_webhook` registered (its ``keep`` is in ``ctx.credentials``)."""

    def reveal(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Values returned once, in the connect result only (e.g. a generated signing secret)."""
        return {}

    async def disconnect(self, ctx: ProviderContext) -> None:
        """Undo what connect set up at the provider (webhooks...). Best effort."""

    def catalog(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "slug": self.slug,
            "provider": self.slug,
            "description": self.description or None,
            "provider_url": self.provider_url,
            "provider_logo": self.provider_logo,
            "category": self.category,
            "auth_type": self.auth_type,
            "oauth_scopes": self.oauth_scopes,
            "api_base_url": self.api_base_url,
            "webhook_support": self.webhook_support,
            "featured": self.featured,
        }


def _check_directions(prov: Provider, value: Any) -> dict[str, Direction]:
    # Imported here: ``import hubwire`` loads this module, and must load no more of connectors.
    from hubwire.connectors.directions import check_directions

    return check_directions(prov.slug, prov.push_directions(), value)


class ProviderRegistry:
    """Providers by slug. ``load`` runs once, before the first lookup (the default registry's built-ins)."""

    def __init__(self, load: Callable[[], None] | None = None) -> None:
        self._providers: dict[str, Provider] = {}
        self._load = load

    @property
    def _loaded(self) -> dict[str, Provider]:
        if self._load is not None:
            load, self._load = self._load, None
            load()
        return self._providers

    def register(self, p: Provider) -> Provider:
        self._providers[p.slug] = p
        return p

    def unregister(self, slug: str) -> None:
        self._loaded.pop(slug, None)

    def get(self, slug: str) -> Provider:
        providers = self._loaded
        p = providers.get(slug)
        if p is None:
            known = ", ".join(sorted(providers)) or "none registered"
            raise ValidationError.single("provider", "unknown_provider", f"unknown provider {slug!r} (known: {known})")
        return p

    def all(self) -> list[Provider]:
        providers = self._loaded
        return [providers[k] for k in sorted(providers)]

    def __contains__(self, slug: object) -> bool:
        return slug in self._loaded


default_registry = ProviderRegistry(load=load_builtins)


def provider(cls: type[Provider]) -> type[Provider]:
    """Class decorator: register an instance of the provider in the default registry."""
    default_registry.register(cls())
    return cls
