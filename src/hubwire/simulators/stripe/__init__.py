"""The Stripe simulator: ``server`` (the HTTP face), ``state`` (the account's data and its changes),
``objects`` (Stripe's object shapes and ids) and ``spec`` (form encoding, checks against Stripe's
OpenAPI description)."""

from __future__ import annotations

from hubwire.simulators.stripe.server import Fault, RecordedRequest, StripeSimulator

__all__ = ["Fault", "RecordedRequest", "StripeSimulator"]
