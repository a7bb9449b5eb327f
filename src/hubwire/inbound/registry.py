"""Scheme names to verifiers: a provider declares ``webhook_scheme = "stripe"`` and the ingest route
asks :func:`verifier_for` for the verifier. Custom providers register a configured
:class:`~hubwire.inbound.generic.HmacVerifier` (or their own :class:`Verifier`) under a name of theirs.
"""

from __future__ import annotations

from hubwire.errors import ConfigurationError
from hubwire.inbound.schemes import (
    GITHUB,
    SHOPIFY,
    SLACK,
    HubSpotVerifier,
    StandardWebhooksVerifier,
    StripeVerifier,
    TwilioVerifier,
)
from hubwire.inbound.verifiers import Verifier

__all__ = ["register_scheme", "scheme_names", "verifier_for"]

_SCHEMES: dict[str, Verifier] = {
    v.scheme: v
    for v in (
        StripeVerifier(),
        GITHUB,
        SLACK,
        HubSpotVerifier(),
        SHOPIFY,
        TwilioVerifier(),
        StandardWebhooksVerifier(),
    )
}


def verifier_for(scheme: str | Verifier) -> Verifier:
    """The verifier of a scheme name (a Verifier is returned as is); ConfigurationError if unknown."""
    if isinstance(scheme, Verifier):
        return scheme
    try:
        return _SCHEMES[scheme]
    except KeyError:
        raise ConfigurationError(
            f"unknown webhook scheme {scheme!r} (known: {', '.join(scheme_names())})",
            code="unknown_webhook_scheme",
            scheme=scheme,
        ) from None


def register_scheme(name: str, verifier: Verifier) -> None:
    """Make ``name`` mean ``verifier``; registering the same again is a no-op, another one under a
    taken name is refused."""
    current = _SCHEMES.get(name)
    if current is not None and current != verifier:
        raise ConfigurationError(f"webhook scheme {name!r} is already registered", code="webhook_scheme_taken")
    _SCHEMES[name] = verifier


def scheme_names() -> tuple[str, ...]:
    return tuple(sorted(_SCHEMES))
