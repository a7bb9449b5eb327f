"""Database indexes for the ``#`` and ``##`` fields of Nouns.

Nouns are declared in code, not in migrations, so their indexes are made when a Hub first uses
a Noun: partial expression indexes on the entities table (``WHERE type = 'Deal'``), unique for
``##``. The expression text comes from ``nouns.filters.field_sql`` so queries hit them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hubwire.errors import ConflictError
from hubwire.nouns.filters import field_sql

if TYPE_CHECKING:
    from hubwire.nouns.noun import Noun

__all__ = ["ensure_indexes", "index_name"]


def index_name(noun: str, field: str, unique: bool) -> str:
    return f"{'ux' if unique else 'ix'}_ent_{noun.lower()}_{field}"[:63]


async def ensure_indexes(conn: AsyncConnection, noun: Noun) -> None:
    dialect = conn.dialect.name
    for f in noun.fields.values():
        if not f.indexed:
            continue
        name = index_name(noun.name, f.name, f.unique)
        expr = field_sql(dialect, f)
        kind = "UNIQUE INDEX" if f.unique else "INDEX"
        ddl = f"CREATE {kind} IF NOT EXISTS {name} ON entities (({expr})) WHERE type = '{noun.name}'"
        try:
            await conn.exec_driver_sql(ddl)
        except IntegrityError as exc:
            raise ConflictError(
                f"cannot make {noun.name}.{f.name} unique: existing rows share a value",
                code="unique_violation",
                noun=noun.name,
                field=f.name,
            ) from exc
