"""The CRMs' limits on every path, not only the sync's: Pipedrive's spent daily token budget is raised
at once (not retried), and Salesforce's spent daily allowance is a rate limit for direct calls and
writes too (HubSpot's 10 per second and daily quota: tests/connectors/test_hubspot.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hubwire.connectors.pipedrive import provider as pipedrive_provider
from hubwire.domains.crm import Organization
from hubwire.domains.platform import Integration, run_sync
from hubwire.errors import ProviderRateLimited
from hubwire.hub import Hub
from hubwire.net.http import HttpClient, RetryPolicy, use_http_client
from hubwire.simulators.pipedrive import DEFAULT_API_TOKEN, PipedriveSimulator
from hubwire.simulators.salesforce import API_VERSION, DEFAULT_SESSION, SalesforceSimulator
from tests.connectors.loopback import LOOPBACK
from tests.fakes import FakeClock
from tests.simulators.crm_fixtures import Clock, assert_no_mismatches, require_salesforce_collection

http_time = FakeClock()
slept: list[float] = []


async def no_sleep(seconds: float) -> None:
    slept.append(seconds)
    http_time.advance(seconds)


@pytest.fixture(autouse=True)
def fast_retries(hub: Hub) -> None:
    slept.clear()
    use_http_client(hub, HttpClient(policy=LOOPBACK, clock=http_time, sleep=no_sleep, retry=RetryPolicy(attempts=3)))


@pytest.fixture
async def sf() -> AsyncIterator[SalesforceSimulator]:
    require_salesforce_collection()
    async with SalesforceSimulator(now=Clock()) as s:
        yield s
    assert_no_mismatches(s)


async def test_pipedrives_spent_daily_budget_stops_the_sync_unretried(hub: Hub) -> None:
    # Each v2 list costs 10 tokens: the check and two lists fit in 30, the third list does not.
    async with PipedriveSimulator(daily_tokens=30) as sim:
        sim.seed("organizations", name="Acme")
        integ = await Integration.connect(provider="pipedrive", api_token=DEFAULT_API_TOKEN, api_base_url=sim.url)
        with pytest.raises(ProviderRateLimited) as err:
            await run_sync(hub, integ.id)
        assert err.value.retry_after == pipedrive_provider.DAILY_RETRY_AFTER and err.value.provider_status == 429
        refused = [r for r in sim.requests if r.status == 429]
        assert len(refused) == 1 and refused[0] is sim.requests[-1]  # not retried: no wait within a sync helps
        assert pipedrive_provider.DAILY_RETRY_AFTER not in slept
        assert [o["name"] for o in await Organization.find({})] == ["Acme"]  # what fitted was stored
        # A burst (the 2-second window) is still waited out as Retry-After says.
        sim.daily_tokens = 10_000
        sim.fail_next(1, status=429, retry_after=2)
        await run_sync(hub, integ.id)
        assert 2.0 in slept
    assert_no_mismatches(sim)


async def test_salesforces_spent_allowance_is_a_rate_limit_for_direct_calls(hub: Hub, sf: SalesforceSimulator) -> None:
    await Integration.connect(provider="salesforce", access_token=DEFAULT_SESSION, instance_url=sf.url)
    crm = await Integration.use("salesforce")
    described = await crm.request("GET", f"/services/data/v{API_VERSION}/sobjects/Account/describe")
    assert described.headers["sforce-limit-info"].startswith("api-usage=")
    sf.api_usage = sf.daily_limit  # other clients of the org spent it: 403 REQUEST_LIMIT_EXCEEDED
    with pytest.raises(ProviderRateLimited) as direct:
        await crm.request("GET", f"/services/data/v{API_VERSION}/sobjects/Account/describe")
    assert direct.value.retry_after == 3600 and direct.value.provider_status == 403
    with pytest.raises(ProviderRateLimited):
        await crm.create("Lead", {"LastName": "Lovelace", "Company": "Acme"})
