"""Hubwire: external services as typed entities with verbs, events and a lifecycle.

The public face. Everything importable from here is supported; the rest is private.
"""

from hubwire.connectors.registry import Provider, ProviderContext, SyncProgress, provider
from hubwire.domains import Event, Integration, Metric
from hubwire.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DeliveryError,
    FieldError,
    HubwireError,
    IllegalTransitionError,
    JobError,
    NotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
    SchemaError,
    ValidationError,
    VetoError,
)
from hubwire.hub import Hub, configure, current_hub
from hubwire.jobs import Backoff, Dead, Job, Retry, Worker, job_kind
from hubwire.nouns import Context, Entity, Noun, Page, acting_as, on
from hubwire.settings import Settings
from hubwire.webhooks import subscriptions as _webhook_subscriptions  # noqa: F401  (registers the webhook provider)

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "Backoff",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "Dead",
    "DeliveryError",
    "Entity",
    "Event",
    "FieldError",
    "Hub",
    "HubwireError",
    "IllegalTransitionError",
    "Integration",
    "Job",
    "JobError",
    "Metric",
    "NotFoundError",
    "Noun",
    "Page",
    "Provider",
    "ProviderAuthError",
    "ProviderContext",
    "ProviderError",
    "ProviderInvalidRequest",
    "ProviderNotFound",
    "ProviderRateLimited",
    "ProviderUnavailable",
    "Retry",
    "SchemaError",
    "Settings",
    "SyncProgress",
    "ValidationError",
    "VetoError",
    "Worker",
    "__version__",
    "acting_as",
    "configure",
    "current_hub",
    "job_kind",
    "on",
    "provider",
]

# Registers the providers that ship with Hubwire (Stripe...) in the default registry.
import hubwire.connectors.builtin  # noqa: F401
