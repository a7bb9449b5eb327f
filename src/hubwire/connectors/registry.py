"""The provider interface every connector implements, and the registry of providers.

A provider is a class with catalog data (name, category, auth type, logo, url) and up to five
behaviours: ``prepare`` (split connect parameters into credentials and config, validate them),
``check`` (ask the provider whether the credentials work), ``sync`` (pull its data into Nouns),
``push`` (write local field values to a remote object: what a sync merge or a conflict
resolution sends back), ``updating`` (refuse or normalise an update of the Integration) and
``disconnect``. Everything but ``slug`` and ``name`` has a default.

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
    from hubwire.hub import Hub
    from hubwire.inbound.received import ApplyOutcome, ReceivedHook
    from hubwire.nouns.entity import Entity

__all__ = ["Provider", "ProviderContext", "ProviderRegistry", "SyncProgress", "default_registry", "provider"]


@dataclass
class ProviderContext:
    """What a provider's behaviours get: the hub, the Integration, its credentials and config."""

    hub: Hub
    provider: Provider
    integration: Entity
    credentials: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

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
            if key in self.credential_fields:
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

    async def updating(self, hub: Hub, current: Entity, proposed: Entity) -> None:
        """Refuse (raise) or normalise (change ``proposed``) an update of one of this provider's Integrations.

        Where credentials are sent is decided when they are entered: an update that changes
        ``api_base_url`` would send the stored credentials to a new place, so it is refused and
        the change goes through ``connect`` with the credentials (which checks the URL too).
        """
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
        """The Noun fields of ``resource`` that :meth:`push` can write (none by default)."""
        return frozenset()

    async def push(
        self, ctx: ProviderContext, resource: str, remote_id: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write ``values`` (Noun field -> value, all :meth:`pushable`) to the remote object.

        Returns the object's mapped fields as the provider answered (relations left out): the new
        base of the ref. Raises a ProviderError when refused (nothing is recorded then).
        """
        raise ConfigurationError(f"{self.slug} cannot write {resource} objects", provider=self.slug)

    def webhook_event_type(self, headers: Mapping[str, str], payload: Any) -> str | None:
        """The name of a verified inbound webhook's event (``customer.updated``), for the inbox."""
        return None

    async def on_webhook(self, ctx: ProviderContext, hook: ReceivedHook) -> ApplyOutcome:
        """Apply a verified inbound webhook to the local Nouns (see hubwire.inbound.received)."""
        return "ignored"

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
