"""The Microsoft Teams simulator: ``server`` (incoming and Workflows webhooks, in memory) and ``spec``
(the envelope checked by hand, each card against the Adaptive Cards 1.5 schema)."""

from __future__ import annotations

from hubwire.simulators.teams.server import MAX_BYTES, MISMATCH, RATE_LIMIT, TeamsSimulator

__all__ = ["MAX_BYTES", "MISMATCH", "RATE_LIMIT", "TeamsSimulator"]
