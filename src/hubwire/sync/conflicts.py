"""Conflict records: the rows of the review queue, and the events ``Conflict.Detected`` / ``Conflict.Resolved``.

A row is one entity's clash with its remote record at one sync: the clashing fields with their
base, local and remote values, the policy of each and its outcome (``None`` while parked for
review). It is ``open`` while a field is parked, ``resolved`` once every field has an outcome
(by a policy: ``resolved_by="system"``; by a person: the API key's name), with when and why.
A sync that meets an entity with an open row adds to that row rather than opening another.

Rows are written, and their events appended, in the transaction of the change they describe (the
sync's page, a resolution's verb), so a webhook subscriber of ``Conflict.*`` sees exactly the
committed queue. This module never decides a clash (:mod:`hubwire.sync.merge` does) nor applies
a resolution (:mod:`hubwire.conflicts` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pydantic
import sqlalchemy as sa

from hubwire import events as registry
from hubwire.store.events import iso
from hubwire.store.tables import conflicts

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from hubwire.store.transaction import Tx

__all__ = ["DETECTED", "RESOLVED", "Conflict", "insert", "open_rows", "publish", "register_events", "update_fields"]

DETECTED, RESOLVED = "Conflict.Detected", "Conflict.Resolved"


class _FieldPayload(pydantic.BaseModel):
    base: Any = None
    local: Any = None
    remote: Any = None
    policy: str
    outcome: Literal["local", "remote", "value"] | None = None
    value: Any = None


class _ConflictPayload(pydantic.BaseModel):
    id: int
    integration_id: str
    entity_type: str
    entity_id: str
    resource: str
    remote_id: str
    status: Literal["open", "resolved"]
    fields: dict[str, _FieldPayload]
    created_at: str
    resolved_by: str | None = None
    resolved_at: str | None = None
    reason: str | None = None


def register_events() -> None:
    """Put ``Conflict.Detected`` and ``Conflict.Resolved`` in the event catalogue (the conflicts
    subsystem does, when the built-ins load: nothing is registered on ``import hubwire``)."""
    registry.register(
        DETECTED,
        schema=_ConflictPayload,
        display_name="Conflict detected",
        description="A field changed both locally and at the provider since the last sync",
        category="Conflict",
    )
    registry.register(
        RESOLVED,
        schema=_ConflictPayload,
        display_name="Conflict resolved",
        description="Every field of a conflict has an outcome, by policy (system) or by a person",
        category="Conflict",
    )


@dataclass
class Conflict:
    """One row of the review queue."""

    id: int
    integration_id: str
    run_id: str | None
    resource: str
    remote_id: str
    entity_type: str
    entity_id: str
    status: str
    policy: str
    fields: dict[str, dict[str, Any]]
    created_at: float
    resolved_by: str | None
    resolved_at: float | None
    reason: str | None

    @classmethod
    def from_row(cls, row: Any) -> Conflict:
        fields = row.fields
        if fields is None:  # recorded before field merges: the whole entity, decided at once
            fields = {
                k: {"base": None, "local": row.local.get(k), "remote": v, "policy": row.policy, "outcome": row.winner}
                for k, v in row.remote.items()
                if row.local.get(k) != v
            }
        return cls(
            row.id,
            row.integration_id,
            row.run_id,
            row.resource,
            row.remote_id,
            row.entity_type,
            row.entity_id,
            row.status,
            row.policy,
            dict(fields),
            row.created_at,
            row.resolved_by,
            row.resolved_at,
            row.reason,
        )

    @property
    def parked(self) -> list[str]:
        """The fields waiting for a person's decision."""
        return [f for f, d in self.fields.items() if d.get("outcome") is None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "integration_id": self.integration_id,
            "run_id": self.run_id,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "resource": self.resource,
            "remote_id": self.remote_id,
            "status": self.status,
            "policy": self.policy,
            "fields": self.fields,
            "created_at": iso(self.created_at),
            "resolved_by": self.resolved_by,
            "resolved_at": iso(self.resolved_at) if self.resolved_at is not None else None,
            "reason": self.reason,
        }

    def payload(self) -> dict[str, Any]:
        data = self.to_dict()
        data.pop("run_id")
        data.pop("policy")
        return data


async def open_rows(conn: AsyncConnection, integration_id: str, entity_ids: Sequence[str]) -> dict[str, Conflict]:
    """The open conflict of each of ``entity_ids`` that has one (at most one per entity and integration)."""
    if not entity_ids:
        return {}
    q = sa.select(conflicts).where(
        conflicts.c.integration_id == integration_id,
        conflicts.c.status == "open",
        conflicts.c.entity_id.in_(list(entity_ids)),
    )
    return {c.entity_id: c for c in (Conflict.from_row(r) for r in await conn.execute(q))}


async def insert(tx: Tx, row: dict[str, Any]) -> Conflict:
    """Write a new row (``row`` holds every column but the id) and append its events."""
    new_id = (await tx.conn.execute(conflicts.insert().values(**row).returning(conflicts.c.id))).scalar_one()
    conflict = Conflict(
        new_id,
        row["integration_id"],
        row["run_id"],
        row["resource"],
        row["remote_id"],
        row["entity_type"],
        row["entity_id"],
        row["status"],
        row["policy"],
        row["fields"],
        row["created_at"],
        row["resolved_by"],
        row["resolved_at"],
        row["reason"],
    )
    await publish(tx, conflict, DETECTED)
    if conflict.status == "resolved":
        await publish(tx, conflict, RESOLVED)
    return conflict


async def update_fields(tx: Tx, conflict: Conflict) -> bool:
    """Save an open ``conflict``'s fields, status and audit columns; False when it is no longer open.

    Its events are the caller's to publish.
    """
    res = await tx.conn.execute(
        conflicts.update()
        .where(conflicts.c.id == conflict.id, conflicts.c.status == "open")
        .values(
            fields=conflict.fields,
            status=conflict.status,
            resolved_by=conflict.resolved_by,
            resolved_at=conflict.resolved_at,
            reason=conflict.reason,
        )
    )
    return bool(res.rowcount == 1)


async def publish(tx: Tx, conflict: Conflict, name: str) -> None:
    await registry.emit(name, conflict.payload(), entity_id=conflict.entity_id, tx=tx)
