"""Helpers for the messaging simulators' tests (Slack, Teams, SendGrid, Twilio).

``checked_*`` start a simulator and fail the test when the block ends if it recorded requests that
break the provider's description (a test sending a wrong request on purpose clears
``sim.mismatches`` after asserting them). ``require_spec`` skips a test that needs a description
when the specs folder lacks it, and fails it under ``CI=true`` (CI must never pass unchecked).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

from hubwire.simulators.sendgrid import SendGridSimulator
from hubwire.simulators.slack import SlackSimulator
from hubwire.simulators.specs import locate_specs_dir
from hubwire.simulators.teams import TeamsSimulator
from hubwire.simulators.twilio import TwilioSimulator
from tests.conftest import IN_CI

__all__ = ["checked", "checked_sendgrid", "checked_slack", "checked_teams", "checked_twilio", "require_spec"]


class _Simulator(Protocol):
    mismatches: list[str]

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> None: ...


def require_spec(relative: str) -> Path:
    """The specs folder holding ``relative`` (``slack/slack_web_openapi_v2.json``); skip the test when
    it is absent, fail it under ``CI=true``."""
    found = locate_specs_dir()
    if found is None or not (found / relative).is_file():
        where = found or "the specs folder ($HUBWIRE_SPECS_DIR, or ../shared/specs beside the checkout)"
        reason = f"{relative} is absent from {where}: the provider's description is needed for this check"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return found


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
