"""The Sentry simulator: ``server`` (envelope and store ingestion, in memory)."""

from __future__ import annotations

from hubwire.simulators.sentry.server import DEFAULT_PROJECT, DEFAULT_PUBLIC_KEY, EnvelopeItem, SentrySimulator

__all__ = ["DEFAULT_PROJECT", "DEFAULT_PUBLIC_KEY", "EnvelopeItem", "SentrySimulator"]
