"""Every client mistake is a 4xx problem+json with a stable code; the unexpected is a bare 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

import hubwire
from hubwire.api.app import create_app
from hubwire.api.limits import MAX_BODY_BYTES

PROBLEM = "application/problem+json"
VE = "validation_error"
CONNECT = "/v1/integrations/connect"

# (name, method, path, request kwargs, status, code); {open}/{closed} are ids of Deals.
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("invalid json", "POST", "/v1/deals", {"content": b'{"name": '}, 400, "malformed_json"),
    ("invalid json on a verb", "POST", "/v1/deals/{open}/close", {"content": b"{,}"}, 400, "malformed_json"),
    ("body too large", "POST", "/v1/deals", {"json": {"name": "x" * MAX_BODY_BYTES}}, 413, "payload_too_large"),
    ("body not an object", "POST", "/v1/deals", {"json": [1, 2]}, 422, VE),
    ("empty body", "POST", "/v1/deals", {}, 422, VE),
    ("wrong type", "POST", "/v1/deals", {"json": {"name": 5}}, 422, VE),
    ("wrong enum", "POST", "/v1/deals", {"json": {"name": "x", "stage": "Maybe"}}, 422, VE),
    ("missing required", "POST", "/v1/deals", {"json": {"value": 1}}, 422, VE),
    ("unknown field", "POST", "/v1/deals", {"json": {"name": "x", "colour": "red"}}, 422, VE),
    ("unknown field on patch", "PATCH", "/v1/deals/{open}", {"json": {"colour": "red"}}, 422, VE),
    ("bad filter json", "GET", "/v1/deals", {"params": {"filter": "{nope"}}, 422, VE),
    ("filter not object", "GET", "/v1/deals", {"params": {"filter": "[1]"}}, 422, VE),
    (
        "unknown operator",
        "GET",
        "/v1/deals",
        {"params": {"filter": '{"value": {"$regex": "1"}}'}},
        422,
        VE,
    ),
    ("unknown filter field", "GET", "/v1/deals", {"params": {"filter": '{"colour": "red"}'}}, 422, VE),
    ("filter type", "GET", "/v1/deals", {"params": {"filter": '{"value": {"$gt": "lots"}}'}}, 422, VE),
    ("query type", "GET", "/v1/deals", {"params": {"seats": "many"}}, 422, VE),
    ("unknown query param", "GET", "/v1/deals", {"params": {"colour": "red"}}, 422, VE),
    ("bad sort", "GET", "/v1/deals", {"params": {"sort": "colour"}}, 422, VE),
    ("bad cursor", "GET", "/v1/deals", {"params": {"cursor": "not-a-cursor!"}}, 422, VE),
    ("limit 0", "GET", "/v1/deals", {"params": {"limit": "0"}}, 422, VE),
    ("limit 5000", "GET", "/v1/deals", {"params": {"limit": "5000"}}, 422, VE),
    ("limit not a number", "GET", "/v1/deals", {"params": {"limit": "ten"}}, 422, VE),
    ("unknown id", "GET", "/v1/deals/deal_00000000", {}, 404, "not_found"),
    ("unknown id patch", "PATCH", "/v1/deals/deal_00000000", {"json": {"value": 1}}, 404, "not_found"),
    ("unknown id verb", "POST", "/v1/deals/deal_00000000/close", {}, 404, "not_found"),
    ("unknown verb", "POST", "/v1/deals/{open}/explode", {}, 404, "unknown_verb"),
    ("internal verb", "POST", "/v1/integrations/integration_00000000/error", {}, 404, "unknown_verb"),
    ("illegal transition", "POST", "/v1/deals/{closed}/reopen", {}, 409, "illegal_transition"),
    ("stale version", "PATCH", "/v1/deals/{open}", {"json": {"value": 2, "version": 99}}, 409, "version_conflict"),
    (
        "stale If-Match",
        "PATCH",
        "/v1/deals/{open}",
        {"json": {"value": 2}, "headers": {"If-Match": "7"}},
        409,
        "version_conflict",
    ),
    (
        "bad If-Match",
        "PATCH",
        "/v1/deals/{open}",
        {"json": {"value": 2}, "headers": {"If-Match": "x"}},
        422,
        VE,
    ),
    ("version not int", "PATCH", "/v1/deals/{open}", {"json": {"version": "two"}}, 422, VE),
    ("unique violation", "POST", "/v1/deals", {"json": {"name": "dup", "code": "C1"}}, 409, "unique_violation"),
    ("unknown provider", "POST", CONNECT, {"json": {"provider": "nope"}}, 422, VE),
    ("missing provider", "POST", CONNECT, {"json": {"api_key": "k"}}, 422, VE),
    ("provider not a string", "POST", CONNECT, {"json": {"provider": 3}}, 422, VE),
    (
        "missing credentials",
        "POST",
        CONNECT,
        {"json": {"provider": "acme"}},
        422,
        VE,
    ),
    (
        "unknown connect param",
        "POST",
        CONNECT,
        {"json": {"provider": "acme", "api_key": "k", "x": 1}},
        422,
        VE,
    ),
    (
        "refused credentials",
        "POST",
        CONNECT,
        {"json": {"provider": "acme", "api_key": "wrong"}},
        400,
        "provider_auth_failed",
    ),
    ("unknown provider slug", "GET", "/v1/providers/nope", {}, 404, "unknown_provider"),
    ("sync not connected", "POST", "/v1/integrations/{available}/sync", {}, 409, "illegal_transition"),
    ("sync bad body", "POST", "/v1/integrations/{available}/sync", {"json": {"full": "yes"}}, 422, VE),
    ("events after negative", "GET", "/v1/events", {"params": {"after": "-1"}}, 422, VE),
    ("events limit 0", "GET", "/v1/events", {"params": {"limit": "0"}}, 422, VE),
    (
        "stream bad Last-Event-ID",
        "GET",
        "/v1/events/stream",
        {"headers": {"Last-Event-ID": "abc"}},
        422,
        VE,
    ),
    ("job id not int", "GET", "/v1/jobs/abc", {}, 404, "not_found"),
    ("unknown job", "GET", "/v1/jobs/999999", {}, 404, "not_found"),
    ("retry unknown job", "POST", "/v1/jobs/999999/retry", {}, 404, "not_found"),
    ("bad job status", "GET", "/v1/jobs", {"params": {"status": "sleeping"}}, 422, VE),
    ("unknown route", "GET", "/v1/nothing-here", {}, 404, "not_found"),
    ("method not allowed", "PUT", "/v1/deals", {"json": {}}, 405, "method_not_allowed"),
]


@pytest.fixture
async def ids(client: httpx.AsyncClient) -> dict[str, str]:
    open_ = (await client.post("/v1/deals", json={"name": "open", "code": "C1", "stage": "Open"})).json()
    closed = (await client.post("/v1/deals", json={"name": "closed", "stage": "Open"})).json()
    assert (await client.post(f"/v1/deals/{closed['$id']}/close")).status_code == 200
    available = (await client.post("/v1/integrations", json={"name": "Acme", "provider": "acme"})).json()
    return {"open": open_["$id"], "closed": closed["$id"], "available": available["$id"]}


def check_problem(r: httpx.Response, status: int, code: str) -> list[str]:
    """What is wrong with ``r`` as the problem (status, code) it must be; empty when right."""
    wrong: list[str] = []
    if r.status_code != status:
        wrong.append(f"status {r.status_code} != {status}: {r.text[:300]}")
    if r.headers.get("content-type") != PROBLEM:
        wrong.append(f"content-type {r.headers.get('content-type')}")
        return wrong
    body = r.json()
    if body.get("code") != code or body.get("status") != r.status_code:
        wrong.append(f"code {body.get('code')} != {code}")
    if body.get("type") != f"https://hubwire.dev/problems/{body.get('code')}":
        wrong.append(f"type {body.get('type')}")
    if not (body.get("title") and body.get("detail") and isinstance(body.get("errors"), list)):
        wrong.append("title, detail and errors are required members")
    if code == VE and not (body["errors"] and all({"field", "code", "message"} <= set(e) for e in body["errors"])):
        wrong.append("a validation problem names the fields at fault")
    return wrong


async def test_bad_input_is_a_problem_not_a_500(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    # One test walks the whole table (one app and database setup, not one per case) and
    # reports every case that went wrong at once.
    failures: dict[str, list[str]] = {}
    for name, method, path, kwargs, status, code in CASES:
        r = await client.request(method, path.format(**ids), **kwargs)
        wrong = check_problem(r, status, code)
        if wrong:
            failures[name] = wrong
    assert not failures, json.dumps(failures, indent=1)
    assert len({c[0] for c in CASES}) == len(CASES)


async def test_field_errors_name_each_bad_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/deals", json={"name": 5, "seats": 1.5, "colour": "red"})
    assert r.status_code == 422
    errors = {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert {("name", "type"), ("seats", "type"), ("colour", "unknown_field")} <= errors
    assert {field for field, _ in errors} == {"name", "seats", "colour"}


async def test_unexpected_error_is_generic_500_and_redacted_in_logs(hub: hubwire.Hub, api_key: str) -> None:
    secret = "sk_test_abcdef1234567890XYZ"
    app: FastAPI = create_app(hub)

    async def boom() -> None:
        raise RuntimeError(f"connection failed with {secret}")

    app.add_api_route("/v1/boom", boom)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        with structlog.testing.capture_logs() as logs:
            r = await c.get("/v1/boom", headers={"Authorization": f"Bearer {api_key}"})
    assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "internal_error"
    assert secret not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text
    logged = json.dumps(logs, default=str)
    assert "api.unexpected_error" in logged and "RuntimeError" in logged and secret not in logged


async def test_rate_limited_provider_says_when_to_retry(hub: hubwire.Hub, api_key: str) -> None:
    app: FastAPI = create_app(hub)

    async def limited() -> None:
        raise hubwire.ProviderRateLimited("Acme is busy", provider="acme", retry_after=2.2)

    app.add_api_route("/v1/limited", limited)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/v1/limited", headers={"Authorization": f"Bearer {api_key}"})
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert r.json()["code"] == "provider_rate_limited" and r.json()["provider"] == "acme"


async def test_structured_fields_that_json_lacks_are_shown_as_text(hub: hubwire.Hub, api_key: str) -> None:
    app: FastAPI = create_app(hub)

    async def odd() -> None:
        raise hubwire.ConflictError("overlapping run", code="sync_overlap", run_ids={"run_1"}, integration_id="i_1")

    app.add_api_route("/v1/odd", odd)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/v1/odd", headers={"Authorization": f"Bearer {api_key}"})
    assert r.status_code == 409 and r.json()["code"] == "sync_overlap"
    assert r.json()["run_ids"] == "{'run_1'}" and r.json()["integration_id"] == "i_1"
