"""Pytest fixtures for the CRM simulators (HubSpot, Salesforce, Pipedrive).

Each ``*_sim`` fixture yields a started simulator on 127.0.0.1 (ephemeral port) and fails the test
at teardown if the simulator recorded requests that break the provider's description; a test that
provokes a mismatch on purpose clears ``sim.mismatches`` after asserting on it. The ``*_served``
fixtures serve from a background thread for the providers' synchronous Python clients.
``require_salesforce_collection`` skips (fails under ``CI=true``) when Salesforce's Postman
collection is absent. The test modules import the fixtures they use from here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hubwire.simulators.hubspot import HubSpotSimulator
from hubwire.simulators.loopback import LoopbackSimulator
from hubwire.simulators.salesforce import SalesforceSimulator
from hubwire.simulators.tls import LoopbackTLS, self_signed
from tests.simulators.required_specs import require_spec

__all__ = [
    "Clock",
    "LoopbackTLS",
    "assert_no_mismatches",
    "hubspot_served",
    "hubspot_sim",
    "loopback_tls",
    "require_salesforce_collection",
    "salesforce_served",
    "salesforce_sim",
]

IN_CI = os.environ.get("CI", "").lower() == "true"


class Clock:
    """A settable clock for simulators (epoch seconds): ``clock()`` reads it, ``clock.advance(s)`` moves it."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> float:
        self.value += seconds
        return self.value


def assert_no_mismatches(sim: LoopbackSimulator) -> None:
    if sim.mismatches:
        pytest.fail(f"requests did not match the {sim.name} description:\n" + "\n".join(sim.mismatches[:10]))


def require_salesforce_collection() -> Path:
    """The folder of Salesforce's Postman collection; skip the test when absent, fail under CI=true."""
    index = "salesforce/postman/collections/salesforce_apis/index.json"
    return require_spec(index) / "salesforce" / "postman" / "collections" / "salesforce_apis"


@pytest.fixture
async def hubspot_sim() -> AsyncIterator[HubSpotSimulator]:
    """A HubSpot simulator with HubSpot's 10-per-second limit and a private-app token (``DEFAULT_TOKEN``)."""
    async with HubSpotSimulator() as sim:
        yield sim
    assert_no_mismatches(sim)


@pytest.fixture
def hubspot_served() -> Iterator[HubSpotSimulator]:
    """A HubSpot simulator served from a thread (no rate limit) for the synchronous ``hubspot-api-client``."""
    sim = HubSpotSimulator(rate_limit=None)
    with sim.serving_in_thread():
        yield sim
    assert_no_mismatches(sim)


@pytest.fixture(scope="session")
def loopback_tls(tmp_path_factory: pytest.TempPathFactory) -> LoopbackTLS:
    """A self-signed certificate for 127.0.0.1: ``server`` serves with it, ``ca_file`` makes clients trust it."""
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def salesforce_sim() -> AsyncIterator[SalesforceSimulator]:
    """A Salesforce simulator on plain HTTP; every request checked against the Postman collection."""
    require_salesforce_collection()
    async with SalesforceSimulator() as sim:
        yield sim
    assert_no_mismatches(sim)


@pytest.fixture
def salesforce_served(loopback_tls: LoopbackTLS) -> Iterator[SalesforceSimulator]:
    """A Salesforce simulator on HTTPS (``simple-salesforce`` speaks nothing else) served from a thread."""
    require_salesforce_collection()
    sim = SalesforceSimulator(ssl=loopback_tls.server)
    with sim.serving_in_thread():
        yield sim
    assert_no_mismatches(sim)
