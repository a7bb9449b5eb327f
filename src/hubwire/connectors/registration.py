"""Registering an Integration's hook URL at its provider when it connects (inbound webhooks), and removing it after.

``{HUBWIRE_PUBLIC_URL}/v1/hooks/{integration id}`` is what providers post to. :func:`register`
asks the provider to send its events there (``Provider.register_webhook``) and says, as the
Integration's ``webhooks`` field, whether webhooks arrive or why the Integration keeps polling
(no public URL, no registration API at the provider, a refusal). The secret and what removing the
registration needs go into the Integration's credentials (encrypted): ``webhook_secret`` is what
the ingest verifies with (:func:`hubwire.inbound.received.webhook_secrets`).

The public URL is handed to the provider as it is, loopback or private included: the SSRF guard
applies to what Hubwire dials (the provider's API, guarded as every request is), not to the
address Hubwire gives out. Nothing here stores anything: the Integration's verbs do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from hubwire.connectors.registry import ProviderContext
from hubwire.errors import HubwireError
from hubwire.net.redact import redact_text

if TYPE_CHECKING:
    from hubwire.connectors.registry import Provider
    from hubwire.hub import Hub
    from hubwire.nouns.entity import Entity

__all__ = ["NO_PUBLIC_URL", "REGISTRATION_KEYS", "register", "unregister"]

log = structlog.get_logger("hubwire.inbound")

NO_PUBLIC_URL = "polling: HUBWIRE_PUBLIC_URL is not set"
# Credential keys a registration adds (besides what a provider's ``keep`` names): dropped on removal.
REGISTRATION_KEYS = ("webhook_secret", "previous_webhook_secrets")


def _context(hub: Hub, provider: Provider, integration: Entity, credentials: Mapping[str, Any]) -> ProviderContext:
    return ProviderContext(hub, provider, integration, dict(credentials), dict(integration.get("config") or {}))


async def register(
    hub: Hub, provider: Provider, integration: Entity, credentials: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Register the hook URL; return the Integration's ``webhooks`` status and its credentials with
    the registration added (unchanged when nothing was registered)."""
    url = hub.settings.hook_url(integration.id)
    if url is None:
        return NO_PUBLIC_URL, dict(credentials)
    try:
        done = await provider.register_webhook(_context(hub, provider, integration, credentials), url)
    except HubwireError as exc:
        why = redact_text(exc.message, also=[v for v in credentials.values() if isinstance(v, str)])
        log.warning("inbound.registration_refused", integration_id=integration.id, error=why)
        return f"polling: {provider.name} refused the webhook registration: {why}", dict(credentials)
    if done is None:
        return f"polling: {provider.name} has no webhook registration API", dict(credentials)
    status = f"registered: {url}" + (f" ({done.note})" if done.note else "")
    return status, {**credentials, **done.keep, "webhook_secret": done.secret}


async def unregister(
    hub: Hub, provider: Provider, integration: Entity, credentials: Mapping[str, Any]
) -> dict[str, Any]:
    """Remove a registration (best effort: a failure is logged); return the credentials without it."""
    if not credentials.get("webhook_secret"):
        return dict(credentials)
    try:
        await provider.unregister_webhook(_context(hub, provider, integration, credentials))
    except Exception as exc:  # the provider may be gone or the key revoked: the local side goes on
        log.warning("inbound.unregister_failed", integration_id=integration.id, error=redact_text(str(exc)))
    return {k: v for k, v in credentials.items() if k not in REGISTRATION_KEYS and not k.startswith("webhook_")}
