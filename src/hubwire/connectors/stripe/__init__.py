"""Stripe: the truth source for billing Nouns (sync, events feed, write-through)."""

from hubwire.connectors.registry import default_registry
from hubwire.connectors.stripe.provider import StripeProvider
from hubwire.connectors.stripe.spec import STRIPE
from hubwire.connectors.stripe.writers import install_writers

__all__ = ["STRIPE", "StripeProvider"]

default_registry.register(StripeProvider())
install_writers()
