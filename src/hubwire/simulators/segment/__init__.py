"""The Segment simulator: ``server`` (the tracking API: batch, track, identify, in memory)."""

from __future__ import annotations

from hubwire.simulators.segment.server import DEFAULT_WRITE_KEY, SegmentMessage, SegmentSimulator

__all__ = ["DEFAULT_WRITE_KEY", "SegmentMessage", "SegmentSimulator"]
