"""Hubwire: external services as typed entities with verbs, events and a lifecycle.

The public face: re-exports only, nothing registered on import (the built-in providers load on
first use, see :mod:`hubwire.connectors.builtin`). Everything importable from here is supported;
the rest is private. ``tests/test_public_api.py`` holds ``__all__`` to what this module exposes.
"""

from hubwire import events as events  # the event registry: hubwire.events.register / emit / event_types
from hubwire.connectors.registry import Provider, ProviderContext, SyncProgress, provider
from hubwire.domains import Event, Integration, Metric
from hubwire.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    FieldError,
    HubwireError,
    IllegalTransitionError,
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

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "Backoff",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "Dead",
    "Entity",
    "Event",
    "FieldError",
    "Hub",
    "HubwireError",
    "IllegalTransitionError",
    "Integration",
    "Job",
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
