"""The push outbox over REST: directions checked at connect and on update (422 problems), the
Integration's push counts, the push jobs in the job list."""

from __future__ import annotations

from hubwire.connectors.registry import ProviderRegistry
from hubwire.hub import Hub
from hubwire.jobs import Worker
from tests.api.conftest import rest_client
from tests.connectors.loopback import TOKEN, LoopbackAPI
from tests.sync.widgets import Widgets

PROBLEM = "application/problem+json"


async def test_directions_and_push_counts_over_rest(hub: Hub, providers: ProviderRegistry, api: LoopbackAPI) -> None:
    providers.register(Widgets())
    async with rest_client(hub) as c:
        connect = {"provider": "widgets", "token": TOKEN, "api_base_url": api.url}
        refused = await c.post("/v1/integrations/connect", json={**connect, "directions": {"Owner": "push"}})
        assert refused.status_code == 422 and refused.headers["content-type"].startswith(PROBLEM)
        assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("directions.Owner", "not_pushable")]

        made = await c.post("/v1/integrations/connect", json={**connect, "directions": {"Widget": "both"}})
        assert made.status_code == 201, made.text
        iid = made.json()["$id"]
        assert made.json()["config"]["directions"] == {"Widget": "both"}
        bad = await c.patch(f"/v1/integrations/{iid}", json={"config": {"directions": {"Widget": "up"}}})
        assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "enum"
        await Worker(hub).drain()  # the initial sync

        created = await c.post("/v1/widgets", json={"title": "Gizmo"})
        assert created.status_code == 201, created.text
        assert (await c.get(f"/v1/integrations/{iid}/push")).json() == {"pending": 1, "failed": 0}
        jobs = (await c.get("/v1/jobs", params={"kind": "sync.push"})).json()["data"]
        assert [(j["status"], j["payload"]["entity_id"]) for j in jobs] == [("queued", created.json()["$id"])]
        await Worker(hub).drain()
        assert (await c.get(f"/v1/integrations/{iid}/push")).json() == {"pending": 0, "failed": 0}
        assert [w["name"] for w in api.widgets] == ["Gizmo"]
        assert (await c.get("/v1/integrations/nope/push")).status_code == 404
