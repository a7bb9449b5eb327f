"""Read the lakehouse: SQL with DuckDB over the table's current files (the view ``events``), and exports.

A query is read-only by three locks, so that ``GET /v1/analytics/query`` can take SQL from a
read key: DuckDB's own parser must find exactly one statement, a ``SELECT`` (``WITH ... SELECT``
included): no ``COPY``, ``ATTACH``, ``SET``, ``INSTALL``, ``PRAGMA`` or a second statement; the
connection is a fresh in-memory database whose external access is disabled and locked, with the
table's current Parquet files as its only allowed paths (``read_csv('/etc/passwd')``, a file
written by ``COPY``, an extension download are refused by DuckDB itself); and it is interrupted
after ``HUBWIRE_LAKEHOUSE_QUERY_TIMEOUT`` seconds, returning at most
``HUBWIRE_LAKEHOUSE_QUERY_MAX_ROWS`` rows (``truncated`` says when there were more).

With a directory warehouse DuckDB reads the Parquet files where they are (the current snapshot's
list, from pyiceberg); with an S3 one, pyiceberg reads them into Arrow and DuckDB queries that.

Never writes: neither to the table nor anywhere else (an export writes only the file it is given).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pyiceberg.table import Table

from hubwire.errors import FieldError, ValidationError
from hubwire.lakehouse import table as iceberg
from hubwire.lakehouse.feed import in_thread

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["QueryResult", "check_sql", "export", "query"]

Format = Literal["parquet", "csv"]
FORMATS: tuple[Format, ...] = ("parquet", "csv")
EMPTY_VIEW = (
    "SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS event, NULL::TIMESTAMPTZ AS timestamp, NULL::VARCHAR AS source, "
    "NULL::VARCHAR AS distinct_id, NULL::VARCHAR AS properties, NULL::TIMESTAMPTZ AS recorded_at WHERE false"
)


@dataclass(frozen=True)
class QueryResult:
    """Columns, rows (JSON-ready values) and whether rows were cut at the limit."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "types": self.types, "rows": self.rows, "truncated": self.truncated}


def _sql_error(code: str, message: str) -> ValidationError:
    """A problem with the query: its code is the error's too (``query_refused``, ``query_timeout``...)."""
    return ValidationError(message, [FieldError("sql", code, message)], code=code)


def _refused(message: str) -> ValidationError:
    return _sql_error("query_refused", message)


def check_sql(sql: str) -> None:
    """Refuse anything but one SELECT statement (DuckDB's parser decides, not a pattern)."""
    if not sql.strip():
        raise _refused("the query is empty")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise _sql_error("query_invalid", f"not valid SQL: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise _refused(f"one statement only, not {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise _refused(f"only a SELECT may run here, not {kind.name}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _local(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return unquote(parts.path) if parts.scheme else url
    return None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connection(table: Table) -> duckdb.DuckDBPyConnection:
    """A locked-down in-memory DuckDB whose view ``events`` is the table's current snapshot."""
    con = duckdb.connect(":memory:")
    files = iceberg.data_files(table)
    local = [_local(f) for f in files]
    if not files:
        con.execute(f"CREATE VIEW events AS {EMPTY_VIEW}")
    elif all(p is not None for p in local):
        paths = "[" + ", ".join(_literal(p) for p in local if p is not None) + "]"
        con.execute(f"SET allowed_paths = {paths}")  # neither statement takes parameters
        con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({paths})")
    else:  # object storage: pyiceberg reads it (DuckDB would need its httpfs extension)
        arrow = iceberg.read(table)
        con.register("events_arrow", arrow)
        con.execute("CREATE VIEW events AS SELECT * FROM events_arrow")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)  # Decimal, UUID, intervals


def _run(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int) -> QueryResult:
    try:
        cur = con.execute(sql)
        rows = cur.fetchmany(max_rows + 1)
    except duckdb.InterruptException:
        raise
    except duckdb.PermissionException as exc:
        raise _refused(f"the query may read the events only: {_first_line(exc)}") from None
    except duckdb.Error as exc:
        raise _sql_error("query_failed", _first_line(exc)) from None
    columns = [d[0] for d in cur.description or ()]
    types = [str(d[1]) for d in cur.description or ()]
    return QueryResult(
        columns, [[_jsonable(v) for v in r] for r in rows[:max_rows]], truncated=len(rows) > max_rows, types=types
    )


async def query(hub: Hub, sql: str, *, timeout: float | None = None, max_rows: int | None = None) -> QueryResult:
    """Run one SELECT over the view ``events``; at most ``max_rows`` rows, interrupted after ``timeout`` s.

    Raises :class:`~hubwire.errors.ValidationError` (code ``query_refused``, ``query_invalid``,
    ``query_failed`` or ``query_timeout``).
    """
    check_sql(sql)
    limit = max_rows or hub.settings.lakehouse_query_max_rows
    seconds = timeout or hub.settings.lakehouse_query_timeout
    con: duckdb.DuckDBPyConnection = await in_thread(hub, _connection)
    task = asyncio.ensure_future(asyncio.to_thread(_run, con, sql, limit))
    stopped = _sql_error("query_timeout", f"the query ran longer than {seconds:g} s and was stopped")
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        con.interrupt()
        with contextlib.suppress(duckdb.InterruptException, ValidationError):
            await task  # an interrupted query ends promptly
        raise stopped from None
    except duckdb.InterruptException:
        raise stopped from None
    finally:
        if task.done():
            con.close()
        else:  # this caller was cancelled: stop the query, close once it ended
            con.interrupt()
            task.add_done_callback(lambda _t: con.close())


def _day(value: dt.date | dt.datetime | str | None) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError.single("since", "invalid_date", f"not a date (YYYY-MM-DD): {value!r}") from None


async def export(
    hub: Hub,
    out: str | Path,
    *,
    format: Format = "parquet",
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
) -> int:
    """Write the events of the days from ``since`` up to (not including) ``until`` to ``out``; how many.

    ``format`` is ``parquet`` (the table's schema) or ``csv`` (a header line, ISO times).
    """
    if format not in FORMATS:
        raise ValidationError.single("format", "invalid_choice", f"format must be parquet or csv, not {format!r}")
    first, last = _day(since), _day(until)
    where = iceberg.day_filter(first, last)
    data: pa.Table = await in_thread(hub, iceberg.read, where)
    data = data.sort_by([("timestamp", "ascending"), ("id", "ascending")])
    path = Path(out)

    def write() -> None:
        if format == "parquet":
            pq.write_table(data, path)
        else:
            pa_csv.write_csv(data, path)

    await asyncio.to_thread(write)
    return int(data.num_rows)
