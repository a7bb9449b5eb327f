"""The saved versions of an Integration's field mappings (table ``field_mapping_versions``).

Each save is a new version numbered from 1 per Integration, holding every Noun's mappings (not
only the Noun saved), when and by whom (an API key's name; ``None`` for the ``field_mappings``
given at connect). A version is written in the transaction that puts its mappings into the
Integration's config, so the config always holds the newest version. Never deletes a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.store.events import iso
from hubwire.store.tables import field_mapping_versions

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = ["MappingVersion", "list_versions", "record_version"]

_T = field_mapping_versions.c


@dataclass(frozen=True)
class MappingVersion:
    integration_id: str
    version: int
    saved_at: float
    saved_by: str | None
    mappings: dict[str, list[dict[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "integration_id": self.integration_id,
            "version": self.version,
            "saved_at": iso(self.saved_at),
            "saved_by": self.saved_by,
            "mappings": self.mappings,
        }


async def record_version(
    tx: Tx, integration_id: str, mappings: dict[str, list[dict[str, Any]]], saved_by: str | None
) -> MappingVersion:
    """Append the next version; two saves racing for one number: the second fails on the primary key."""
    q = sa.select(sa.func.max(_T.version)).where(_T.integration_id == integration_id)
    number = int((await tx.conn.execute(q)).scalar() or 0) + 1
    made = MappingVersion(integration_id, number, tx.hub.clock(), saved_by, mappings)
    await tx.conn.execute(
        field_mapping_versions.insert().values(
            integration_id=integration_id,
            version=number,
            mappings=mappings,
            saved_at=made.saved_at,
            saved_by=saved_by,
        )
    )
    return made


async def list_versions(hub: Hub, integration_id: str) -> list[MappingVersion]:
    """Every version of the Integration's mappings, newest first."""
    q = sa.select(field_mapping_versions).where(_T.integration_id == integration_id).order_by(_T.version.desc())
    async with hub.read() as conn:
        rows = (await conn.execute(q)).all()
    return [MappingVersion(r.integration_id, r.version, r.saved_at, r.saved_by, dict(r.mappings)) for r in rows]
