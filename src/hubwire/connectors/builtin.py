"""The providers that ship with Hubwire, loaded once on first use rather than on ``import hubwire``.

:func:`load_builtins` imports them: Stripe, GitHub, HubSpot, Salesforce and Pipedrive (which
load the CRM Nouns), the messaging providers (Slack, Teams, SendGrid, Twilio), the webhooks
subsystem (the ``webhook`` provider with its event fan-out, delivery job kind and upkeep), the
inbound webhooks' apply job and upkeep, the push outbox (its event sink, ``sync.push`` job kind
and ``Push.Failed`` event), the conflicts review queue (the ``Conflict.*`` events) and the
OAuth providers declared as data (``HUBWIRE_OAUTH_PROVIDERS``). The default provider registry
calls it before its first lookup, and every new Hub before it installs the extensions, so the
built-ins are there for every Hub without the user importing anything. Add a provider here with
one line in ``BUILTINS``.
"""

from __future__ import annotations

import importlib

__all__ = ["BUILTINS", "load_builtins"]

BUILTINS = (
    "hubwire.connectors.stripe",
    "hubwire.connectors.github",
    "hubwire.connectors.hubspot",
    "hubwire.connectors.salesforce",
    "hubwire.connectors.pipedrive",
    "hubwire.webhooks",
    "hubwire.connectors.messaging",
    "hubwire.inbound.apply",
    "hubwire.push.job",
    "hubwire.conflicts",
    "hubwire.oauth.custom",
    "hubwire.analytics",
    "hubwire.lakehouse",
)
_loaded = False


def load_builtins() -> None:
    """Import the built-in providers and subsystems (they register themselves); once per process."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # first, so that a built-in asking the registry while it loads does not recurse
    try:
        for name in BUILTINS:
            importlib.import_module(name)
    except BaseException:
        _loaded = False
        raise
