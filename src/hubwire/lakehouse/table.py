"""The Iceberg table ``hubwire.events``: its catalog, schema and the writes made to it.

The catalog is pyiceberg's SQL catalog on the Hubwire database itself (its ``iceberg_tables`` and
``iceberg_namespace_properties`` tables, created by pyiceberg beside Hubwire's), so every worker
on every machine sees the same table and a database backup holds its pointer. Data files are
Parquet, partitioned by the day of ``timestamp``, under the warehouse: a directory
(``HUBWIRE_LAKEHOUSE_WAREHOUSE``, default ``<data dir>/lakehouse``) or ``s3://bucket/prefix`` with
the ``HUBWIRE_LAKEHOUSE_S3_*`` settings.

Every write here is one Iceberg commit, and pyiceberg's own commit retries are off
(``commit.retry.num-retries`` 0): a commit made on a stale view of the table fails
(:class:`CommitFailedException`) instead of being re-applied, which is what lets the feed
(:mod:`hubwire.lakehouse.feed`) append each batch exactly once. Each append names its batch in the
snapshot's summary (``hubwire.batch``); :func:`committed_batches` reads them back.

Blocking (pyiceberg and pyarrow are synchronous): callers run these in a thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.expressions.parser import parse
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform
from pyiceberg.types import NestedField, StringType, TimestamptzType

from hubwire.settings import Settings
from hubwire.store.engine import sync_url

__all__ = [
    "BATCH_PROPERTY",
    "NAMESPACE",
    "TABLE",
    "CommitFailedException",
    "Row",
    "append",
    "catalog",
    "committed_batches",
    "compact",
    "counts",
    "data_files",
    "day_filter",
    "drop_before",
    "expire",
    "files_per_day",
    "open_table",
    "read",
    "to_arrow",
    "warehouse_of",
]

NAMESPACE = "hubwire"
TABLE = f"{NAMESPACE}.events"
BATCH_PROPERTY = "hubwire.batch"
SQLITE_TIMEOUT_S = 30

SCHEMA = Schema(
    NestedField(1, "id", StringType(), required=True),
    NestedField(2, "event", StringType(), required=True),
    NestedField(3, "timestamp", TimestamptzType(), required=True),
    NestedField(4, "source", StringType(), required=True),
    NestedField(5, "distinct_id", StringType(), required=False),
    NestedField(6, "properties", StringType(), required=False),
    NestedField(7, "recorded_at", TimestamptzType(), required=True),
)
SPEC = PartitionSpec(PartitionField(source_id=3, field_id=1000, transform=DayTransform(), name="day"))
PROPERTIES = {"commit.retry.num-retries": "0", "write.parquet.compression-codec": "zstd"}


class Row(msgspec.Struct, frozen=True, gc=False):
    """One event as the table stores it (``properties`` is a JSON string). A msgspec Struct: an
    append makes one per event (a frozen dataclass took several times as long to make)."""

    id: str
    event: str
    timestamp: float  # epoch seconds
    source: str
    distinct_id: str | None
    properties: str | None
    recorded_at: float


def warehouse_of(settings: Settings) -> str:
    """The warehouse location: the setting, else ``<data dir>/lakehouse`` (as a ``file://`` URL)."""
    where = settings.lakehouse_warehouse
    if where and "://" in where:
        return where
    path = Path(where) if where else settings.data_dir / "lakehouse"
    return path.resolve().as_uri()


def catalog(settings: Settings) -> SqlCatalog:
    """The SQL catalog on the Hubwire database, with the namespace and the table created if missing.

    A directory warehouse is made its owner's only (0700), as the data directory: the events in
    it are the users' data.
    """
    where = urlsplit(warehouse_of(settings))
    if where.scheme == "file":
        Path(unquote(where.path)).mkdir(mode=0o700, parents=True, exist_ok=True)
    made = _catalog(settings)
    made.create_namespace_if_not_exists(NAMESPACE)
    made.create_table_if_not_exists(TABLE, schema=SCHEMA, partition_spec=SPEC, properties=PROPERTIES)
    return made


def _catalog(settings: Settings) -> SqlCatalog:
    uri = sync_url(settings.database_url)
    if uri.startswith("sqlite"):
        uri += f"?timeout={SQLITE_TIMEOUT_S}"  # another process may hold the write lock for a moment
    props: dict[str, str] = {"uri": uri, "warehouse": warehouse_of(settings)}
    if settings.lakehouse_s3_endpoint:
        props["s3.endpoint"] = settings.lakehouse_s3_endpoint
    if settings.lakehouse_s3_access_key_id:
        props["s3.access-key-id"] = settings.lakehouse_s3_access_key_id
    if settings.lakehouse_s3_secret_access_key:
        props["s3.secret-access-key"] = settings.lakehouse_s3_secret_access_key
    if settings.lakehouse_s3_region:
        props["s3.region"] = settings.lakehouse_s3_region
    return SqlCatalog("hubwire", **props)


def open_table(settings: Settings) -> Table:
    """The table, created (with its namespace) on first use."""
    return catalog(settings).load_table(TABLE)


def _ts(seconds: Iterable[float]) -> pa.Array:
    return pa.array([int(s * 1_000_000) for s in seconds], pa.timestamp("us", tz="UTC"))


def to_arrow(table: Table, rows: Sequence[Row]) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array([r.id for r in rows], pa.string()),
            pa.array([r.event for r in rows], pa.string()),
            _ts(r.timestamp for r in rows),
            pa.array([r.source for r in rows], pa.string()),
            pa.array([r.distinct_id for r in rows], pa.string()),
            pa.array([r.properties for r in rows], pa.string()),
            _ts(r.recorded_at for r in rows),
        ],
        schema=table.schema().as_arrow(),
    )


def committed_batches(table: Table, since_ms: int) -> set[str]:
    """The batch names of the snapshots committed since ``since_ms`` (epoch milliseconds)."""
    out: set[str] = set()
    for snap in table.snapshots():
        if snap.timestamp_ms >= since_ms and snap.summary is not None:
            name = snap.summary.additional_properties.get(BATCH_PROPERTY)
            if name:
                out.add(name)
    return out


def append(table: Table, batch: str, rows: Sequence[Row]) -> None:
    """One commit: ``rows`` as new Parquet files (one per day they span), named ``batch``.

    Raises :class:`CommitFailedException` when the table changed since it was loaded.
    """
    table.append(to_arrow(table, rows), snapshot_properties={BATCH_PROPERTY: batch})


def _iso(day: dt.date) -> str:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).isoformat()


def day_filter(since: dt.date | None, until: dt.date | None) -> BooleanExpression:
    """Rows of the days from ``since`` up to, not including, ``until`` (either open)."""
    terms = []
    if since is not None:
        terms.append(f"timestamp >= '{_iso(since)}'")
    if until is not None:
        terms.append(f"timestamp < '{_iso(until)}'")
    return parse(" AND ".join(terms)) if terms else AlwaysTrue()


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(value))


def files_per_day(table: Table) -> dict[dt.date, int]:
    """How many data files each day of the current snapshot has."""
    if table.current_snapshot() is None:
        return {}
    out: dict[dt.date, int] = {}
    for p in table.inspect.partitions().to_pylist():
        out[_day(p["partition"]["day"])] = int(p["file_count"])
    return out


def compact(table: Table, days: Iterable[dt.date]) -> dict[dt.date, int]:
    """Rewrite each day's files into one (one commit per day); the files each day had before."""
    counts = files_per_day(table)
    done: dict[dt.date, int] = {}
    for day in days:
        if counts.get(day, 0) < 2:
            continue
        where = day_filter(day, day + dt.timedelta(days=1))
        rows = table.scan(row_filter=where).to_arrow()
        # Delete the day's files and add the one rewritten, in one snapshot: a reader sees either.
        table.overwrite(rows, overwrite_filter=where)
        done[day] = counts[day]
    return done


def drop_before(table: Table, day: dt.date) -> int:
    """Delete every row of the days before ``day`` (whole partitions: their files leave the table); how many."""
    if table.current_snapshot() is None:
        return 0
    where = day_filter(None, day)
    gone = sum(n for d, n in _records_per_day(table).items() if d < day)
    if gone:
        table.delete(delete_filter=where)
    return gone


def _records_per_day(table: Table) -> dict[dt.date, int]:
    return {_day(p["partition"]["day"]): int(p["record_count"]) for p in table.inspect.partitions().to_pylist()}


def _all_files(table: Table) -> set[str]:
    if table.current_snapshot() is None:
        return set()
    return set(table.inspect.all_data_files()["file_path"].to_pylist())


def expire(table: Table, older_than: dt.datetime) -> int:
    """Forget the snapshots older than ``older_than`` (the current one stays) and delete the data
    files only they referenced (compacted, dropped by retention); how many files were deleted.

    pyiceberg's expiry only edits the metadata: the files are deleted here, and only those that a
    snapshot committed (a file being written, not yet committed, is in no snapshot and is left).
    """
    old = [s.snapshot_id for s in table.snapshots() if s.timestamp_ms < older_than.timestamp() * 1000]
    current = table.current_snapshot()
    old = [i for i in old if current is None or i != current.snapshot_id]
    if not old:
        return 0
    before = _all_files(table)
    table.maintenance.expire_snapshots().by_ids(old).commit()
    gone = before - _all_files(table)
    for path in gone:
        table.io.delete(path)
    return len(gone)


def data_files(table: Table) -> list[str]:
    """The Parquet files the current snapshot reads (URLs: ``file://`` or ``s3://``)."""
    if table.current_snapshot() is None:
        return []
    return [task.file.file_path for task in table.scan().plan_files()]


def read(table: Table, where: BooleanExpression | None = None) -> pa.Table:
    """The rows (of ``where``) as an Arrow table."""
    return table.scan(row_filter=where or AlwaysTrue()).to_arrow()


def counts(table: Table) -> Mapping[str, int]:
    """Rows and data files of the current snapshot."""
    snap = table.current_snapshot()
    summary = snap.summary.additional_properties if snap and snap.summary else {}
    return {"rows": int(summary.get("total-records", 0)), "files": int(summary.get("total-data-files", 0))}
