"""Reading the lakehouse: DuckDB SQL behind the read-only guard, its limits, REST, CLI and exports."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from hubwire import lakehouse
from hubwire.api.app import create_app
from hubwire.api.keys import create_api_key
from hubwire.api.scopes import Scope
from hubwire.errors import ValidationError
from hubwire.hub import Hub
from tests.lakehouse.conftest import collect, events

START = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC).timestamp()


@pytest.fixture
async def filled(lhub: Hub) -> Hub:
    """90 events over three days (2026-03-01..03), appended."""
    await collect(lhub, events(90, start=START, names=("page_view", "signup", "purchase"), days=3))
    await lakehouse.append_pending(lhub)
    return lhub


async def test_a_query_sees_the_events_view(filled: Hub) -> None:
    r = await lakehouse.query(
        filled,
        "with d as (select date_trunc('day', timestamp) as day, event from events) "
        "select strftime(day, '%Y-%m-%d') as day, event, count(*) as n from d group by all order by 1, 2",
    )
    assert r.columns == ["day", "event", "n"] and not r.truncated
    # The i-th event is named names[i % 3] and falls on day i % 3.
    assert r.rows == [["2026-03-01", "page_view", 30], ["2026-03-02", "signup", 30], ["2026-03-03", "purchase", 30]]


async def test_an_empty_lakehouse_answers_with_no_rows(lhub: Hub) -> None:
    r = await lakehouse.query(lhub, "select event, count(*) from events group by 1")
    assert r.rows == [] and r.columns == ["event", "count_star()"]


REFUSED = [
    "insert into events values ('x')",
    "create table t as select 1",
    "delete from events",
    "copy (select * from events) to '/tmp/hubwire-lakehouse-copy.csv'",
    "attach '/tmp/other.db' as other",
    "select 1; select 2",
    "set enable_external_access = true",
    "pragma database_list",
    "install httpfs",
    "load httpfs",
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('/etc/hostname')",
    "select * from read_parquet('/tmp/*.parquet')",
    "export database '/tmp/hubwire-export'",
]


@pytest.mark.parametrize("sql", REFUSED)
async def test_the_guard_refuses_writes_files_and_more_statements(filled: Hub, sql: str) -> None:
    with pytest.raises(ValidationError) as err:
        await lakehouse.query(filled, sql)
    assert err.value.code == "query_refused", err.value.message
    assert not Path("/tmp/hubwire-lakehouse-copy.csv").exists()


async def test_a_query_that_cannot_be_parsed_or_run_is_a_validation_error(filled: Hub) -> None:
    with pytest.raises(ValidationError) as bad:
        await lakehouse.query(filled, "selec 1")
    assert bad.value.code == "query_invalid"
    with pytest.raises(ValidationError) as missing:
        await lakehouse.query(filled, "select nope from events")
    assert missing.value.code == "query_failed" and "nope" in missing.value.message


async def test_a_query_is_stopped_at_the_time_limit(filled: Hub) -> None:
    slow = "select count(*) from range(200000) a, range(200000) b where (a.range * b.range) % 7 = 3"
    with pytest.raises(ValidationError) as err:
        await lakehouse.query(filled, slow, timeout=0.2)
    assert err.value.code == "query_timeout"
    # The hub is still usable after an interrupted query.
    assert (await lakehouse.query(filled, "select count(*) from events")).rows == [[90]]


async def test_rows_are_cut_at_the_limit(filled: Hub) -> None:
    r = await lakehouse.query(filled, "select id from events order by id", max_rows=7)
    assert len(r.rows) == 7 and r.truncated


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
async def test_export_reads_back(filled: Hub, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"events.{fmt}"
    n = await lakehouse.export(filled, out, format=fmt, since="2026-03-02", until=dt.date(2026, 3, 3))  # type: ignore[arg-type]
    assert n == 30
    if fmt == "parquet":
        back = pq.read_table(out)
        assert back.num_rows == 30 and back.column_names[:3] == ["id", "event", "timestamp"]
        days = {t.date() for t in back.column("timestamp").to_pylist()}
    else:
        with out.open() as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 30 and json.loads(rows[0]["properties"])["i"] % 3 == 1
        days = {dt.datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).date() for r in rows}
    assert days == {dt.date(2026, 3, 2)}
    everything = await lakehouse.export(filled, tmp_path / "all.parquet")
    assert everything == 90


async def test_export_refuses_an_unknown_format_or_date(filled: Hub, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        await lakehouse.export(filled, tmp_path / "x", format="xlsx")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await lakehouse.export(filled, tmp_path / "x", since="yesterday")


@pytest.fixture
async def client(filled: Hub) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(filled)
    _, key = await create_api_key(filled, "reader", Scope.READ)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://hubwire.test",
            headers={"Authorization": f"Bearer {key}"},
        ) as c,
    ):
        yield c


async def test_rest_query_with_a_read_key(client: httpx.AsyncClient) -> None:
    ok = await client.get(
        "/v1/analytics/query", params={"sql": "select event, count(*) n from events group by 1 order by 1"}
    )
    assert ok.status_code == 200
    assert ok.json() == {
        "columns": ["event", "n"],
        "types": ["VARCHAR", "BIGINT"],
        "rows": [["page_view", 30], ["purchase", 30], ["signup", 30]],
        "truncated": False,
    }
    cut = await client.get("/v1/analytics/query", params={"sql": "select id from events", "max_rows": 5})
    assert cut.status_code == 200 and cut.json()["truncated"] and len(cut.json()["rows"]) == 5
    for sql, code in [
        ("copy events to '/tmp/x.csv'", "query_refused"),
        ("select * from read_csv('/etc/passwd')", "query_refused"),
        ("select 1; drop table events", "query_refused"),
        ("selec", "query_invalid"),
    ]:
        r = await client.get("/v1/analytics/query", params={"sql": sql})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", sql
        assert r.json()["code"] == code and r.json()["errors"][0]["field"] == "sql", sql
