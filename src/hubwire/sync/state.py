"""What sync remembers between runs: external refs (entity <-> remote object) and cursors.

Both are written inside the transaction of the page they describe, so a cursor never runs ahead
of the entities it covers: after a crash the next run starts from the last committed page.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hubwire.store.tables import external_refs, sync_cursors

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = [
    "DIVERGED",
    "TOMBSTONE",
    "Ref",
    "clear_cursors",
    "delete_refs",
    "delete_refs_of",
    "in_list",
    "load_bases",
    "load_cursor",
    "load_refs",
    "lookup",
    "mark_refs",
    "ref_of",
    "refs_doc",
    "remote_id_of",
    "reset_cursors",
    "save_cursor",
    "save_refs",
]


# The ``hash`` of a ref whose remote object was deleted: the ref stays, with the time of the deletion
# (``remote_updated``), so that an older change arriving late (a webhook delivered out of order) is
# recognised as older and does not bring the object back. Only the sync's plan reads tombstones.
TOMBSTONE = "deleted"

# A ref's entity_version when the local entity differs from the base on purpose (a local change
# not yet pushed, or a conflict parked for review): the next remote change merges field by field.
DIVERGED = 0


@dataclass
class Ref:
    """An entity's link to a remote object, with what the last sync saw of it.

    ``hash`` is the fingerprint of the mapped fields as last synced and ``base`` those fields
    (the set ones; ``None`` when not loaded, or saved before bases were kept). A sync saves the
    base as the JSON text it hashed (``base_doc``): no second encoding of every record.
    ``entity_version`` is the entity's version when it last agreed with the base, or
    :data:`DIVERGED`: while it matches, a remote change is taken whole, without a field merge.
    """

    resource: str
    remote_id: str
    entity_type: str
    entity_id: str
    hash: str
    entity_version: int
    remote_updated: float | None = None
    base: dict[str, Any] | None = None
    base_doc: str | None = None  # ``base`` as JSON text, saved instead of ``base`` when set


@functools.cache
def _upsert(dialect: str, table: sa.Table, keys: tuple[str, ...]) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE, executed with a list of rows (built and compiled once)."""
    ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    cols = {c.name: ins.excluded[c.name] for c in table.columns if c.name not in keys}
    return ins.on_conflict_do_update(index_elements=list(keys), set_=cols)


def in_list(column: sa.ColumnElement[Any], values: list[Any], dialect: str) -> sa.ColumnElement[bool]:
    """``column IN (...)``; on PostgreSQL ``= ANY(array)``: one parameter, one statement whatever the count."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


_REF_WITHOUT_BASE = [c for c in external_refs.columns if c.name != "base"]


async def load_refs(
    conn: AsyncConnection,
    integration_id: str,
    resource: str,
    remote_ids: Iterable[str],
    *,
    tombstones: bool = False,
) -> dict[str, Ref]:
    """The refs of ``remote_ids``; those of deleted objects (:data:`TOMBSTONE`) only when asked."""
    ids = list(set(remote_ids))
    if not ids:
        return {}
    # Without the base: most refs of a page are compared by hash only (see load_bases).
    q = sa.select(*_REF_WITHOUT_BASE).where(
        external_refs.c.integration_id == integration_id,
        external_refs.c.resource == resource,
        in_list(external_refs.c.remote_id, ids, conn.dialect.name),
    )
    if not tombstones:
        q = q.where(external_refs.c.hash != TOMBSTONE)
    rows = (await conn.execute(q)).all()
    return {
        r.remote_id: Ref(
            r.resource, r.remote_id, r.entity_type, r.entity_id, r.hash, r.entity_version, r.remote_updated
        )
        for r in rows
    }


async def load_bases(
    conn: AsyncConnection, integration_id: str, resource: str, remote_ids: Iterable[str]
) -> dict[str, dict[str, Any] | None]:
    """The bases of a few refs: those whose entity changed locally, the only ones a sync merges by field."""
    ids = list(set(remote_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(external_refs.c.remote_id, external_refs.c.base).where(
            external_refs.c.integration_id == integration_id,
            external_refs.c.resource == resource,
            in_list(external_refs.c.remote_id, ids, conn.dialect.name),
        )
    )
    return {r.remote_id: r.base for r in rows}


async def lookup(hub: Hub, integration_id: str, resource: str, remote_id: str) -> str | None:
    """The local entity id of a remote object, or ``None``."""
    async with hub.read() as conn:
        refs = await load_refs(conn, integration_id, resource, [remote_id])
    ref = refs.get(remote_id)
    return ref.entity_id if ref else None


async def remote_id_of(hub: Hub, integration_id: str, entity_id: str) -> str | None:
    async with hub.read() as conn:
        return (
            await conn.execute(
                sa.select(external_refs.c.remote_id).where(
                    external_refs.c.integration_id == integration_id,
                    external_refs.c.entity_id == entity_id,
                    external_refs.c.hash != TOMBSTONE,
                )
            )
        ).scalar_one_or_none()


async def ref_of(conn: AsyncConnection, integration_id: str, entity_id: str) -> Ref | None:
    """The ref linking ``entity_id`` to its remote object in ``integration_id``, if any, with its base."""
    r = (
        await conn.execute(
            sa.select(external_refs).where(
                external_refs.c.integration_id == integration_id,
                external_refs.c.entity_id == entity_id,
                external_refs.c.hash != TOMBSTONE,
            )
        )
    ).first()
    if r is None:
        return None
    return Ref(
        r.resource,
        r.remote_id,
        r.entity_type,
        r.entity_id,
        r.hash,
        r.entity_version,
        r.remote_updated,
        r.base,
    )


async def delete_refs_of(tx: Tx, integration_id: str, entity_id: str) -> None:
    """Forget the remote objects of ``entity_id`` in ``integration_id`` (they were deleted there)."""
    await tx.conn.execute(
        external_refs.delete().where(
            external_refs.c.integration_id == integration_id, external_refs.c.entity_id == entity_id
        )
    )


# A ref saved without a remote time (a write-through's answer, a record with no updated-at) keeps the
# one it had: it is what tells a late, older webhook from a newer one.
_REF_CONFLICT = (
    "ON CONFLICT (integration_id, resource, remote_id) DO UPDATE SET entity_type = excluded.entity_type, "
    "entity_id = excluded.entity_id, hash = excluded.hash, entity_version = excluded.entity_version, "
    "remote_updated = COALESCE(excluded.remote_updated, external_refs.remote_updated), "
    "synced_at = excluded.synced_at, base = excluded.base"
)
_REF_COLUMNS = (
    "INSERT INTO external_refs (integration_id, resource, remote_id, entity_type, entity_id, hash, "
    "entity_version, remote_updated, synced_at, base) "
)
# A page's refs in one statement, the page as one JSON parameter (Ref's fields are its keys).
_SAVE_REFS = {
    "postgresql": sa.text(
        _REF_COLUMNS + "SELECT :integration_id, resource, remote_id, entity_type, entity_id, hash, entity_version, "
        "remote_updated, :now, COALESCE(CAST(base_doc AS jsonb), CAST(base AS jsonb)) "
        "FROM json_to_recordset(CAST(:rows AS json)) AS r(resource text, remote_id text, "
        "entity_type text, entity_id text, hash text, entity_version int, remote_updated float8, base json, "
        "base_doc text) " + _REF_CONFLICT
    ),
    # WHERE true: without it SQLite would read ON CONFLICT as the join constraint of the FROM.
    "sqlite": sa.text(
        _REF_COLUMNS
        + "SELECT :integration_id, "
        + ", ".join(
            f"json_extract(value, '$.{c}')"
            for c in ("resource", "remote_id", "entity_type", "entity_id", "hash", "entity_version", "remote_updated")
        )
        # A JSON string's json_extract is its text: base_doc is stored as the JSON it holds.
        + ", :now, COALESCE(json_extract(value, '$.base_doc'), json_extract(value, '$.base')) "
        + "FROM json_each(:rows) WHERE true "
        + _REF_CONFLICT
    ),
}


def refs_doc(refs: Sequence[Ref]) -> str:
    """``refs`` as :func:`save_refs` sends them (made ahead of the transaction by a sync's plan)."""
    # One statement may not touch a row twice (PostgreSQL): the last ref of a key wins, as row by row.
    last = {(r.resource, r.remote_id): r for r in refs}.values()
    return json.dumps([r.__dict__ for r in last], default=str)


async def save_refs(tx: Tx, integration_id: str, refs: Sequence[Ref], *, doc: str | None = None) -> None:
    """Upsert ``refs`` in one statement; ``doc`` is their :func:`refs_doc` when already made."""
    if not refs:
        return
    params = {"integration_id": integration_id, "now": tx.hub.clock(), "rows": doc or refs_doc(refs)}
    await tx.conn.execute(_SAVE_REFS[tx.dialect], params)


async def mark_refs(tx: Tx, integration_id: str, resource: str, marks: Sequence[tuple[str, str, float]]) -> None:
    """Move refs' ``remote_updated`` forward: (remote id, hash, time) each, applied only while the ref
    still has that hash and an older time (or none), so that a concurrent writer's newer ref stays."""
    rows = [
        {"integration_id": integration_id, "resource": resource, "remote_id": r, "hash": h, "at": at}
        for r, h, at in marks
    ]
    await tx.conn.execute(_MARK_REFS, rows)


_MARK_REFS = sa.text(
    "UPDATE external_refs SET remote_updated = :at WHERE integration_id = :integration_id "
    "AND resource = :resource AND remote_id = :remote_id AND hash = :hash "
    "AND (remote_updated IS NULL OR remote_updated < :at)"
)


async def delete_refs(tx: Tx, integration_id: str, resource: str, remote_ids: Sequence[str]) -> None:
    if remote_ids:
        await tx.conn.execute(
            external_refs.delete().where(
                external_refs.c.integration_id == integration_id,
                external_refs.c.resource == resource,
                external_refs.c.remote_id.in_(list(remote_ids)),
            )
        )


async def load_cursor(hub: Hub, integration_id: str, resource: str) -> dict[str, Any]:
    async with hub.read() as conn:
        state = (
            await conn.execute(
                sa.select(sync_cursors.c.state).where(
                    sync_cursors.c.integration_id == integration_id, sync_cursors.c.resource == resource
                )
            )
        ).scalar_one_or_none()
    return dict(state or {})


async def save_cursor(tx: Tx, integration_id: str, resource: str, state: dict[str, Any]) -> None:
    row = {"integration_id": integration_id, "resource": resource, "state": state, "updated_at": tx.hub.clock()}
    await tx.conn.execute(_upsert(tx.dialect, sync_cursors, ("integration_id", "resource")), [row])


async def clear_cursors(hub: Hub, integration_id: str) -> None:
    async with hub.transaction() as tx:
        await reset_cursors(tx, integration_id)


async def reset_cursors(tx: Tx, integration_id: str) -> None:
    """Forget every cursor of the Integration in ``tx``: its next sync reads everything again."""
    await tx.conn.execute(sync_cursors.delete().where(sync_cursors.c.integration_id == integration_id))
