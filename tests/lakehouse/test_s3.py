"""An S3 warehouse: the same table on S3-compatible storage (moto's server on loopback)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from hubwire import lakehouse
from hubwire.connectors.registry import ProviderRegistry
from hubwire.errors import ValidationError
from tests.conftest import make_hub
from tests.lakehouse.conftest import collect, events

KEY, SECRET = "AKIATESTKEY", "test-secret-access-key"


@pytest.fixture
def bucket() -> str:
    """A bucket of its own: moto's state is per process, not per server."""
    return f"hubwire-lake-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3(bucket: str) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=url, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1"
    ).create_bucket(Bucket=bucket)
    yield url
    server.stop()


async def test_append_query_compact_and_export_on_s3(
    s3: str, bucket: str, db_url: str, tmp_path: Path, providers: ProviderRegistry
) -> None:
    async with make_hub(
        db_url,
        tmp_path,
        providers,
        lakehouse_warehouse=f"s3://{bucket}/warehouse",
        lakehouse_s3_endpoint=s3,
        lakehouse_s3_access_key_id=KEY,
        lakehouse_s3_secret_access_key=SECRET,
        lakehouse_s3_region="us-east-1",
    ) as hub:
        for k in range(2):
            await collect(hub, events(40, start=1.8e9 + k * 100))
            await lakehouse.append_pending(hub)
        assert await lakehouse.stats(hub) == {"rows": 80, "files": 2, "days": {"2027-01-15": 2}, "pending": 0}
        r = await lakehouse.query(hub, "select event, count(*) from events group by 1 order by 1")
        assert r.rows == [["page_view", 40], ["signup", 40]]
        # Over S3 DuckDB queries what pyiceberg read into Arrow: still no file access for the SQL.
        with pytest.raises(ValidationError) as err:
            await lakehouse.query(hub, "select * from read_csv('/etc/passwd')")
        assert err.value.code == "query_refused"
        assert await lakehouse.compact(hub) == {dt.date(2027, 1, 15): 2}
        assert await lakehouse.expire_snapshots(hub, keep=0) == 2
        client = boto3.client(
            "s3", endpoint_url=s3, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1"
        )
        listed = client.list_objects_v2(Bucket=bucket, Prefix="warehouse/")["Contents"]
        assert len([o for o in listed if o["Key"].endswith(".parquet")]) == 1
        assert await lakehouse.export(hub, tmp_path / "out.parquet") == 80
    assert not (tmp_path / "lakehouse").exists()
