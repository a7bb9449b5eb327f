"""The PostHog simulator: ``server`` (event capture, in memory)."""

from __future__ import annotations

from hubwire.simulators.posthog.server import DEFAULT_PROJECT_KEY, CapturedEvent, PostHogSimulator

__all__ = ["DEFAULT_PROJECT_KEY", "CapturedEvent", "PostHogSimulator"]
