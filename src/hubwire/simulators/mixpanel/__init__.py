"""The Mixpanel simulator: ``server`` (ingestion: import and track, in memory) and ``spec`` (checks against
Mixpanel's OpenAPI description)."""

from __future__ import annotations

from hubwire.simulators.mixpanel.server import (
    DEFAULT_API_SECRET,
    DEFAULT_PROJECT_ID,
    DEFAULT_SERVICE_ACCOUNT,
    DEFAULT_TOKEN,
    MISMATCH,
    MixpanelSimulator,
    TrackedEvent,
)

__all__ = [
    "DEFAULT_API_SECRET",
    "DEFAULT_PROJECT_ID",
    "DEFAULT_SERVICE_ACCOUNT",
    "DEFAULT_TOKEN",
    "MISMATCH",
    "MixpanelSimulator",
    "TrackedEvent",
]
