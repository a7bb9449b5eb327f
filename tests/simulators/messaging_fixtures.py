"""Helpers for the messaging simulators' tests (Slack, Teams, SendGrid, Twilio).

``checked_*`` start a simulator and fail the test when the block ends if it recorded requests that
break the provider's description (a test sending a wrong request on purpose clears
``sim.mismatches`` after asserting them). ``require_spec`` (tests/simulators/required_specs.py)
skips a test that needs a description when the specs folder lacks it, and fails it under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pytest

from hubwire.simulators.sendgrid import SendGridSimulator
from hubwire.simulators.slack import SlackSimulator
from hubwire.simulators.teams import TeamsSimulator
from hubwire.simulators.twilio import TwilioSimulator
from tests.simulators.required_specs import require_spec

__all__ = ["checked", "checked_sendgrid", "checked_slack", "checked_teams", "checked_twilio", "require_spec"]


class _Simulator(Protocol):
    mismatches: list[str]

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> None: ...


@asynccontextmanager
async def checked(sim: _Simulator, provider: str) -> AsyncIterator[Any]:
    """Run ``sim``; its recorded spec mismatches fail the test when the block ends."""
    async with sim as started:
        yield started
    if sim.mismatches:
        pytest.fail(f"requests did not match {provider}'s description:\n" + "\n".join(sim.mismatches[:10]))


def checked_slack(**options: Any) -> Any:
    return checked(SlackSimulator(**options), "Slack")


def checked_sendgrid(**options: Any) -> Any:
    return checked(SendGridSimulator(**options), "SendGrid")


def checked_twilio(**options: Any) -> Any:
    return checked(TwilioSimulator(**options), "Twilio")


def checked_teams(**options: Any) -> Any:
    return checked(TeamsSimulator(**options), "Teams")
