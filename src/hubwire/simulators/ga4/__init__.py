"""The Google Analytics 4 simulator: ``server`` (Measurement Protocol collection and validation, in memory)."""

from __future__ import annotations

from hubwire.simulators.ga4.server import DEFAULT_API_SECRET, DEFAULT_MEASUREMENT_ID, GA4Event, GA4Simulator

__all__ = ["DEFAULT_API_SECRET", "DEFAULT_MEASUREMENT_ID", "GA4Event", "GA4Simulator"]
