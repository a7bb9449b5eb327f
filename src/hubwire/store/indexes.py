"""The SQL of an entity's JSON field, and the indexes on it for the ``#`` and ``##`` fields of Nouns.

Nouns are declared in code, not in migrations, so their indexes are made when a Hub first uses
a Noun: partial expression indexes on the entities table (``WHERE type = 'Deal'``), unique for
``##``. Queries (``nouns.filters``) compare the very expression of :func:`field_sql`, so both
planners use these indexes. This module knows fields only by name and kind, never a Noun.

The indexes are in the order ``find`` sorts by (``ORDER BY value, id``, a null value first when
ascending, as SQLite orders; PostgreSQL is told ``NULLS FIRST``), so that a sorted page reads its
rows in index order and stops after the page instead of sorting the Noun's every row. Indexes of
an earlier definition (named without the ``_o`` suffix) are dropped when the new ones are made.

Two processes may use a Noun for the first time at once. PostgreSQL's ``IF NOT EXISTS`` does not
see an index another transaction made and has not committed yet, and the second ``CREATE`` then
fails on pg_class's unique name; so on PostgreSQL each index is made under a transaction-level
advisory lock keyed by its name: the second waits for the first to commit, then finds the index.
SQLite has one writer: no race.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hubwire.errors import ConflictError

__all__ = ["IndexedField", "ensure_indexes", "field_sql", "index_name"]

# The class of the advisory locks of index names (the two-key form: no clash with the one-key locks
# of ``store.engine`` and ``store.events``).
INDEX_LOCK = 7262003

# (field name, kind, unique); kind says how the database compares values: num, bool, text or json.
IndexedField = tuple[str, str, bool]


def field_sql(dialect: str, name: str, kind: str) -> str:
    """The SQL text of field ``name``'s value in an entity's document (names are validated identifiers)."""
    if dialect == "sqlite":
        return f"json_extract(data, '$.{name}')"
    if kind == "num":
        return f"((data ->> '{name}')::numeric)"
    if kind == "bool":
        return f"((data ->> '{name}')::boolean)"
    if kind == "json":
        return f"(data -> '{name}')"
    return f"(data ->> '{name}')"


def index_name(entity_type: str, field: str, unique: bool) -> str:
    return f"{'ux' if unique else 'ix'}_ent_{entity_type.lower()}_{field}"[:61] + "_o"


def _earlier_name(entity_type: str, field: str, unique: bool) -> str:
    return f"{'ux' if unique else 'ix'}_ent_{entity_type.lower()}_{field}"[:63]


def _lock_key(index: str) -> int:
    """The name as the signed 32-bit key of an advisory lock (a hash: two names may share a key, and wait)."""
    return zlib.crc32(index.encode()) - 2**31


async def ensure_indexes(conn: AsyncConnection, entity_type: str, fields: Iterable[IndexedField]) -> None:
    """Create the partial indexes of ``entity_type``'s indexed fields, if they do not exist yet."""
    dialect = conn.dialect.name
    nulls = " NULLS FIRST" if dialect == "postgresql" else ""
    fields = list(fields)
    if dialect == "postgresql":
        # All of them first, in key order: two callers never wait for each other in a cycle.
        for key in sorted({_lock_key(index_name(entity_type, name, unique)) for name, _, unique in fields}):
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({INDEX_LOCK}, {key})")
    for name, kind, unique in fields:
        index = index_name(entity_type, name, unique)
        # A unique index holds the value alone (the id would make every row unique).
        columns = f"({field_sql(dialect, name, kind)}){nulls}" + ("" if unique else ", id")
        ddl = (
            f"CREATE {'UNIQUE INDEX' if unique else 'INDEX'} IF NOT EXISTS {index} "
            f"ON entities ({columns}) WHERE type = '{entity_type}'"
        )
        try:
            await conn.exec_driver_sql(ddl)
            await conn.exec_driver_sql(f"DROP INDEX IF EXISTS {_earlier_name(entity_type, name, unique)}")
        except IntegrityError as exc:
            raise ConflictError(
                f"cannot make {entity_type}.{name} unique: existing rows share a value",
                code="unique_violation",
                noun=entity_type,
                field=name,
            ) from exc
