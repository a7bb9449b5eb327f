"""The outbound HTTP layer against a loopback API: retries, rate limits, budget, redaction, errors."""

from __future__ import annotations

import asyncio
import time

import pytest

from hubwire.errors import (
    ProviderAuthError,
    ProviderInvalidRequest,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderUnavailable,
)
from hubwire.net.http import Budget, HttpClient, RetryPolicy
from tests.connectors.loopback import LOOPBACK, TOKEN, LoopbackAPI

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def client_and_sleep() -> tuple[HttpClient, FakeSleep]:
    sleep = FakeSleep()
    return HttpClient(policy=LOOPBACK, timeout=2.0, sleep=sleep, seed=1), sleep


async def test_retries_5xx_with_growing_jittered_backoff(api: LoopbackAPI) -> None:
    sleep = FakeSleep()
    client = HttpClient(policy=LOOPBACK, sleep=sleep, retry=RetryPolicy(attempts=4, base=1.0, factor=2.0), seed=3)
    api.fail_next(3, 503)
    resp = await client.request("GET", f"{api.url}/me", headers=AUTH)
    await client.close()
    assert resp.json()["login"] == "octo"
    assert len(api.requests) == 4
    assert len(sleep.waits) == 3
    # Full jitter in [cap/2, cap] with cap 1, 2, 4.
    for wait, cap in zip(sleep.waits, (1.0, 2.0, 4.0), strict=True):
        assert cap / 2 <= wait <= cap


async def test_gives_up_after_attempts_as_unavailable(api: LoopbackAPI) -> None:
    client = HttpClient(policy=LOOPBACK, sleep=FakeSleep(), retry=RetryPolicy(attempts=3))
    api.fail_next(5, 502)
    with pytest.raises(ProviderUnavailable) as err:
        await client.request("GET", f"{api.url}/me", headers=AUTH, provider="loop")
    await client.close()
    assert len(api.requests) == 3
    assert err.value.provider_status == 502
    assert err.value.fields["provider"] == "loop"


async def test_retry_after_is_honoured_on_429(api: LoopbackAPI) -> None:
    sleep = FakeSleep()
    client = HttpClient(policy=LOOPBACK, sleep=sleep)
    api.fail_next(1, 429, {"Retry-After": "7"})
    resp = await client.request("GET", f"{api.url}/me", headers=AUTH)
    await client.close()
    assert resp.status_code == 200
    assert sleep.waits == [7.0]


async def test_403_with_no_remaining_waits_for_the_reset(api: LoopbackAPI) -> None:
    sleep = FakeSleep()
    client = HttpClient(policy=LOOPBACK, sleep=sleep)
    reset = int(time.time()) + 30
    api.fail_next(1, 403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    await client.request("GET", f"{api.url}/me", headers=AUTH)
    await client.close()
    assert len(sleep.waits) == 1 and 25 <= sleep.waits[0] <= 31


async def test_rate_limit_longer_than_max_wait_raises(api: LoopbackAPI) -> None:
    sleep = FakeSleep()
    client = HttpClient(policy=LOOPBACK, sleep=sleep, retry=RetryPolicy(max_wait=10))
    api.fail_next(1, 429, {"Retry-After": "120"})
    with pytest.raises(ProviderRateLimited) as err:
        await client.request("GET", f"{api.url}/me", headers=AUTH)
    await client.close()
    assert err.value.fields["retry_after"] == 120
    assert sleep.waits == []


async def test_writes_retry_only_with_an_idempotency_key(api: LoopbackAPI) -> None:
    client = HttpClient(policy=LOOPBACK, sleep=FakeSleep())
    api.fail_next(1, 500)
    with pytest.raises(ProviderUnavailable):
        await client.request("POST", f"{api.url}/echo", headers=AUTH, data={"a": "1"})
    assert len(api.requests) == 1
    api.fail_next(1, 500)
    resp = await client.request("POST", f"{api.url}/echo", headers=AUTH, data={"a": "1"}, idempotency_key="k-1")
    await client.close()
    assert resp.json()["body"] == "a=1"
    assert [r.headers.get("Idempotency-Key") for r in api.requests[1:]] == ["k-1", "k-1"]


@pytest.mark.parametrize(
    ("path", "error"),
    [("/missing", ProviderNotFound), ("/invalid", ProviderInvalidRequest)],
)
async def test_errors_are_typed(api: LoopbackAPI, path: str, error: type[Exception]) -> None:
    client = HttpClient(policy=LOOPBACK, sleep=FakeSleep())
    with pytest.raises(error):
        await client.request("GET", f"{api.url}{path}", headers=AUTH)
    await client.close()
    assert len(api.requests) == 1  # 4xx are never retried


async def test_bad_credentials_are_an_auth_error(api: LoopbackAPI) -> None:
    client = HttpClient(policy=LOOPBACK, sleep=FakeSleep())
    with pytest.raises(ProviderAuthError) as err:
        await client.request("GET", f"{api.url}/me", headers={"Authorization": "Bearer nope"})
    await client.close()
    assert "Bad credentials" in err.value.message
    assert err.value.provider_status == 401


async def test_provider_message_is_kept_and_secrets_redacted(api: LoopbackAPI) -> None:
    client = HttpClient(policy=LOOPBACK, sleep=FakeSleep())
    with pytest.raises(ProviderInvalidRequest) as err:
        await client.request("GET", f"{api.url}/invalid", headers=AUTH, secrets=(TOKEN,))
    await client.close()
    assert "No such thing: x" in err.value.message
    assert err.value.fields["type"] == "invalid_request_error"
    assert TOKEN not in str(err.value.to_dict())


async def test_connection_errors_are_retried_then_unavailable_without_the_secret() -> None:
    sleep = FakeSleep()
    client = HttpClient(policy=LOOPBACK, sleep=sleep, retry=RetryPolicy(attempts=2))
    # Port 9 on loopback: nothing listens; the query carries a secret that must not surface.
    with pytest.raises(ProviderUnavailable) as err:
        await client.request("GET", f"http://127.0.0.1:9/x?api_key={TOKEN}", secrets=(TOKEN,))
    await client.close()
    assert len(sleep.waits) == 1
    assert TOKEN not in str(err.value.to_dict())


async def test_timeouts_are_retried(api: LoopbackAPI) -> None:
    sleep = FakeSleep()
    client = HttpClient(policy=LOOPBACK, timeout=0.2, sleep=sleep, retry=RetryPolicy(attempts=2))
    api.fail_next(1, 0, delay=0.5)  # first request hangs past the timeout, the second answers
    resp = await client.request("GET", f"{api.url}/me", headers=AUTH)
    await client.close()
    assert resp.status_code == 200
    assert len(sleep.waits) == 1


async def test_proactive_budget_never_exceeds_the_limit(api: LoopbackAPI) -> None:
    client = HttpClient(policy=LOOPBACK)
    limit = 8
    budget = Budget("integration_x", limit)
    started = time.monotonic()
    await asyncio.gather(*[client.request("GET", f"{api.url}/me", headers=AUTH, budget=budget) for _ in range(26)])
    elapsed = time.monotonic() - started
    await client.close()
    arrivals = sorted(r.at for r in api.requests)
    assert len(arrivals) == 26
    # In every one-second window (as the provider counts) at most `limit` requests arrived.
    worst = max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals)
    assert worst <= limit
    assert elapsed >= 3.0  # 26 requests at 8/s need three full windows after the first burst
    # Another connection has its own budget: eight requests start without waiting.
    sleep = FakeSleep()
    other = HttpClient(policy=LOOPBACK, sleep=sleep)
    mine = Budget("y", 8)
    await asyncio.gather(*[other.request("GET", f"{api.url}/me", headers=AUTH, budget=mine) for _ in range(8)])
    await other.close()
    assert sleep.waits == []
