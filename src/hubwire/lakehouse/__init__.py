"""The lakehouse: every collected and forwarded analytics event, in an Apache Iceberg table.

Importing this package registers the feed (an :func:`hubwire.analytics.on_forward` hook), the
``lakehouse.append`` job kind, the periodic re-scheduling and the upkeep (compaction, retention,
snapshot expiry). :mod:`hubwire.lakehouse.table` owns the table (SQL catalog on the Hubwire
database, Parquet partitioned by day), :mod:`hubwire.lakehouse.feed` the durable, exactly-once
feed, :mod:`hubwire.lakehouse.query` the reads (DuckDB SQL, exports).

    rows = await lakehouse.query(hub, "select event, count(*) from events group by 1")
"""

from hubwire.lakehouse.feed import (
    APPEND_JOB,
    Pending,
    append_pending,
    compact,
    drop_expired,
    expire_snapshots,
    pending,
    stats,
    upkeep,
)
from hubwire.lakehouse.query import QueryResult, check_sql, export, query

__all__ = [
    "APPEND_JOB",
    "Pending",
    "QueryResult",
    "append_pending",
    "check_sql",
    "compact",
    "drop_expired",
    "expire_snapshots",
    "export",
    "pending",
    "query",
    "stats",
    "upkeep",
]
