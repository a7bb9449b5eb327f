"""Helpers for the analytics simulators' tests (PostHog, Mixpanel, Segment).

``checked_*`` start a simulator and fail the test when the block ends if it recorded requests that
break the provider's description (see ``checked`` in messaging_fixtures.py); ``require_spec`` skips a
test that needs a description when the specs folder lacks it, and fails it under ``CI=true``.
"""

from __future__ import annotations

from typing import Any

from hubwire.simulators.mixpanel import MixpanelSimulator
from hubwire.simulators.posthog import PostHogSimulator
from hubwire.simulators.segment import SegmentSimulator
from tests.simulators.messaging_fixtures import checked
from tests.simulators.required_specs import require_spec

__all__ = ["checked_mixpanel", "checked_posthog", "checked_segment", "require_spec"]


def checked_posthog(**options: Any) -> Any:
    return checked(PostHogSimulator(**options), "PostHog")


def checked_mixpanel(**options: Any) -> Any:
    return checked(MixpanelSimulator(**options), "Mixpanel")


def checked_segment(**options: Any) -> Any:
    return checked(SegmentSimulator(**options), "Segment")
