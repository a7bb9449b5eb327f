"""The OpenAPI document is valid OpenAPI 3 and describes each Noun's routes and bodies."""

from __future__ import annotations

import httpx
from openapi_spec_validator import validate


async def test_openapi_is_valid_and_lists_the_routes(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ("/v1/integrations", "/v1/integrations/connect", "/v1/integrations/{id}/sync", "/v1/deals/{id}/close"):
        assert path in paths, path
    assert "/v1/integrations/{id}/error" not in paths
    assert set(paths["/v1/deals/{id}"]) == {"get", "patch", "delete"}
    assert "/v1/events/stream" in paths and "/healthz" in paths

    schemas = spec["components"]["schemas"]
    deal = schemas["Deal"]["properties"]
    assert {"$id", "name", "stage", "tags", "version"} <= set(deal)
    create = paths["/v1/deals"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["required"] == ["name"] and create["additionalProperties"] is False
    params = {p["name"] for p in paths["/v1/deals"]["get"]["parameters"]}
    assert {"filter", "sort", "limit", "cursor", "name", "stage", "tags"} <= params and "meta" not in params
    connect = paths["/v1/integrations/connect"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "provider" in connect["required"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer" and schemes["CollectKey"]["in"] == "query"
    assert paths["/v1/deals/{id}"]["get"]["security"] == [{"HTTPBearer": []}]
    assert paths["/v1/collect"]["post"]["security"] == [{"HTTPBearer": []}, {"CollectKey": []}]
    assert "security" not in paths["/healthz"]["get"]
