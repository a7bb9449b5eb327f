"""The delivery side's endpoint cache: batched loads, secrets and headers, freshness, missing endpoints."""

from __future__ import annotations

import asyncio

import pytest

from hubwire import Integration, NotFoundError
from hubwire.hub import Hub
from hubwire.webhooks.endpoints import EndpointCache
from hubwire.webhooks.signing import secret_key
from tests.webhooks.conftest import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_concurrent_misses_load_together_and_a_missing_endpoint_fails_alone(
    whub: Hub, receiver: Receiver
) -> None:
    ids = [
        (
            await Integration.connect(
                provider="webhook", url=receiver.url(f"/e{i}"), events=["*"], secret=SECRET, headers={"X-N": str(i)}
            )
        )["$id"]
        for i in range(3)
    ]
    cache = EndpointCache(whub, ttl=60.0)
    loads: list[list[str]] = []
    inner = cache._load

    async def counting(endpoint_ids: list[str]) -> dict[str, object]:
        loads.append(list(endpoint_ids))
        return await inner(endpoint_ids)

    cache._load = counting  # type: ignore[method-assign,assignment]
    got = await asyncio.gather(*(cache.get(i) for i in ids), cache.get("int_nope"), return_exceptions=True)
    assert len(loads) == 1 and sorted(loads[0]) == sorted([*ids, "int_nope"])
    for i, (eid, ep) in enumerate(zip(ids, got[:3], strict=True)):
        assert not isinstance(ep, BaseException)
        assert ep.id == eid and ep.url.endswith(f"/e{i}") and ep.active
        assert ep.keys == (secret_key(SECRET),) and ep.headers == {"X-N": str(i)}
    assert isinstance(got[3], NotFoundError)
    assert [await cache.get(i) for i in ids] == list(got[:3])  # cached: no new load
    assert len(loads) == 1


async def test_a_change_is_seen_within_the_ttl(whub: Hub, receiver: Receiver) -> None:
    eid = (await Integration.connect(provider="webhook", url=receiver.url("/a"), events=["*"]))["$id"]
    now = [1000.0]
    cache = EndpointCache(whub, ttl=0.2, clock=lambda: now[0])
    assert (await cache.get(eid)).active
    await Integration.disconnect(eid)  # in this process the commit clears the deliverer's cache, not this one
    now[0] += 0.19
    assert (await cache.get(eid)).active  # still within the ttl
    now[0] += 0.02
    assert not (await cache.get(eid)).active
    with pytest.raises(NotFoundError):
        await cache.get("int_missing")
