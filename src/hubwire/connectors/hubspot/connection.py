"""One HubSpot Integration's access to HubSpot's API: its bearer token, its daily quota, search and batch reads.

The bearer token is a private app's ``access_token`` credential, sent as it is, or an OAuth 2.0
install's, which :class:`~hubwire.connectors.runtime.Connection` takes from :mod:`hubwire.oauth`
for every request (refreshed before expiry, and once on a 401).

Rate limits: the burst limit (10 requests per second) is the connection's proactive budget
(:class:`~hubwire.connectors.spec.RateLimit`, shared by syncs, webhooks and writes of one
credential). The daily limit is counted by HubSpot and reported on every answer
(``X-HubSpot-RateLimit-Daily-Remaining``); once it reaches 0, or HubSpot answers 429 with the
``DAILY`` policy, :class:`DailyQuota` refuses every request of that credential with
``ProviderRateLimited`` (``retry_after`` set) without sending it, until the quota may have reset.
HubSpot resets it at midnight in the account's time zone, which the API does not tell: the
connection tries again at the next half hour (every time zone's midnight is on one), and one
refused try marks it exhausted again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from hubwire.connectors.hubspot.spec import MODIFIED, OBJECT_TYPE, PROPERTIES
from hubwire.connectors.runtime import Connection
from hubwire.errors import ProviderInvalidRequest, ProviderRateLimited
from hubwire.net.http import rate_limit_wait

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["BATCH", "SEARCH_CAP", "DailyQuota", "HubSpotConnection"]

DAILY_REMAINING = "x-hubspot-ratelimit-daily-remaining"
SEARCH_CAP = 10_000  # HubSpot's search answers no page beyond its 10,000th result
BATCH = 100  # inputs per batch read (HubSpot's limit)
_RETRY_EVERY = 1800.0  # seconds between tries of an exhausted daily quota: every half hour


@dataclass
class DailyQuota:
    """Per hub: the credentials whose HubSpot daily quota is used up, and until when (epoch seconds)."""

    exhausted: dict[str, float] = field(default_factory=dict)
    clock: Any = time.time

    def mark(self, key: str) -> float:
        """Record ``key`` as exhausted; return the seconds until the next try."""
        now = self.clock()
        until = (math.floor(now / _RETRY_EVERY) + 1) * _RETRY_EVERY
        self.exhausted[key] = until
        return until - now

    def wait(self, key: str) -> float | None:
        until = self.exhausted.get(key)
        if until is None:
            return None
        left = until - self.clock()
        if left <= 0:
            del self.exhausted[key]
            return None
        return left


class HubSpotConnection(Connection):
    """A :class:`Connection` that keeps HubSpot's daily quota."""

    # Per resource, properties to read beyond the defaults (mapped and custom ones: hubspot.fields).
    extra: dict[str, tuple[str, ...]] | None = None

    def properties(self, resource: str) -> list[str]:
        """The properties reads of ``resource`` ask for."""
        return [*PROPERTIES[resource], *(self.extra or {}).get(resource, ())]

    @property
    def quota(self) -> DailyQuota:
        hub: Hub = self.ctx.hub
        return hub.service(DailyQuota)

    @property
    def quota_key(self) -> str:
        return self.budget.key if self.budget is not None else self.ctx.provider.slug

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        left = self.quota.wait(self.quota_key)
        if left is not None:
            raise ProviderRateLimited(
                "HubSpot's daily API limit for this account is used up (X-HubSpot-RateLimit-Daily-Remaining: 0); "
                f"Hubwire sends nothing more on it until it resets (next try in {left:.0f}s)",
                retry_after=round(left, 3),
                provider=self.ctx.provider.slug,
                integration_id=self.ctx.integration.get("$id") or None,
                daily_limit=True,
            )
        resp = await super().send(method, path, params=params, body=body, idempotency_key=idempotency_key)
        if resp.headers.get(DAILY_REMAINING) == "0":
            self.quota.mark(self.quota_key)  # this answer was the last one of the day
        return resp

    def rate_limit_wait(self, resp: httpx.Response) -> float | None:
        if resp.status_code == 429 and (resp.headers.get(DAILY_REMAINING) == "0" or _policy(resp) == "DAILY"):
            # Longer than any retry waits: the HTTP layer raises ProviderRateLimited with this retry_after.
            return self.quota.mark(self.quota_key)
        return rate_limit_wait(resp)

    def server_time(self, resp: httpx.Response) -> float | None:
        """HubSpot's clock (its ``Date`` header, epoch seconds) when it answered ``resp``."""
        try:
            return parsedate_to_datetime(resp.headers["date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return None

    async def search(self, resource: str, since_ms: int, after: str | None) -> tuple[dict[str, Any], httpx.Response]:
        """One page of the objects modified at or after ``since_ms``, oldest first."""
        modified = MODIFIED[resource]
        body: dict[str, Any] = {
            "filterGroups": [{"filters": [{"propertyName": modified, "operator": "GTE", "value": str(since_ms)}]}],
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": self.properties(resource),
            "limit": 100,
        }
        if after:
            body["after"] = after
        path = f"/crm/v3/objects/{OBJECT_TYPE[resource]}/search"
        resp = await self.send("POST", path, body=body)
        return self.json(resp, "POST", path), resp

    async def read(self, resource: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The live objects among ``ids`` (batch read, 100 a request); unknown or archived ids are left out."""
        path = f"/crm/v3/objects/{OBJECT_TYPE[resource]}/batch/read"
        wanted = list(dict.fromkeys(ids))
        out: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BATCH):
            inputs = [{"id": i} for i in wanted[start : start + BATCH]]
            resp = await self.send("POST", path, body={"inputs": inputs, "properties": self.properties(resource)})
            out += [r for r in (self.json(resp, "POST", path) or {}).get("results") or [] if isinstance(r, dict)]
        return out

    async def associations(self, resource: str, to_kind: str, ids: Iterable[str]) -> dict[str, list[str]]:
        """``id -> ids of the associated objects of to_kind`` (v4 batch read, 1,000 ids a request)."""
        path = f"/crm/v4/associations/{OBJECT_TYPE[resource]}/{to_kind}/batch/read"
        wanted = list(dict.fromkeys(ids))
        out: dict[str, list[str]] = {}
        for start in range(0, len(wanted), 1000):
            inputs = [{"id": i} for i in wanted[start : start + 1000]]
            resp = await self.send("POST", path, body={"inputs": inputs})
            for row in (self.json(resp, "POST", path) or {}).get("results") or []:
                found = [str(t.get("toObjectId")) for t in row.get("to") or [] if isinstance(t, dict)]
                out[str(row["from"]["id"])] = found
        return out

    async def associate(self, resource: str, ident: str, to_kind: str, to_ident: str) -> None:
        """Associate two objects with HubSpot's default (unlabeled) association type."""
        path = f"/crm/v4/objects/{OBJECT_TYPE[resource]}/{ident}/associations/default/{to_kind}/{to_ident}"
        await self.send("PUT", path)

    async def dissociate(self, resource: str, ident: str, to_kind: str, to_ident: str) -> None:
        path = f"/crm/v4/objects/{OBJECT_TYPE[resource]}/{ident}/associations/{to_kind}/{to_ident}"
        await self.send("DELETE", path)

    def object(self, resp: httpx.Response, method: str, path: str) -> dict[str, Any]:
        body = self.json(resp, method, path)
        if not isinstance(body, dict) or "id" not in body:
            raise ProviderInvalidRequest(f"{method} {path} did not answer with a HubSpot object", provider="hubspot")
        return body


def _policy(resp: httpx.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("policyName") if isinstance(body, dict) else None
