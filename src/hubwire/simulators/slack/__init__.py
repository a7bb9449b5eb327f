"""The Slack simulator: ``server`` (incoming webhooks and the Web API, in memory) and ``spec``
(checks against Slack's description, used as a parameter table)."""

from __future__ import annotations

from hubwire.simulators.slack.server import DEFAULT_TOKEN, MISMATCH, TIER_LIMITS, SlackSimulator

__all__ = ["DEFAULT_TOKEN", "MISMATCH", "TIER_LIMITS", "SlackSimulator"]
