"""Reading and writing an Integration's credentials, always encrypted, inside transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hubwire.net.redact import register_secret
from hubwire.store.tables import credentials

if TYPE_CHECKING:
    from hubwire.hub import Hub
    from hubwire.store.transaction import Tx

__all__ = ["delete_credentials", "load_credentials", "load_credentials_many", "save_credentials"]


def _remember(values: dict[str, Any]) -> None:
    for v in values.values():
        if isinstance(v, str):
            register_secret(v)


async def save_credentials(tx: Tx, integration_id: str, values: dict[str, Any]) -> None:
    _remember(values)
    blob = tx.hub.vault.encrypt(values, context=integration_id)
    now = tx.hub.clock()
    res = await tx.conn.execute(
        credentials.update()
        .where(credentials.c.integration_id == integration_id)
        .values(ciphertext=blob, key_id=tx.hub.vault.key_id, updated_at=now)
    )
    if res.rowcount == 0:
        await tx.conn.execute(
            credentials.insert().values(
                integration_id=integration_id,
                ciphertext=blob,
                key_id=tx.hub.vault.key_id,
                created_at=now,
                updated_at=now,
            )
        )


async def load_credentials(hub: Hub, integration_id: str) -> dict[str, Any]:
    """The decrypted credentials of one Integration (``{}`` when it has none)."""
    return (await load_credentials_many(hub, [integration_id])).get(integration_id, {})


async def load_credentials_many(hub: Hub, integration_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The decrypted credentials of several Integrations in one query; those without any are left out."""
    if not integration_ids:
        return {}
    q = sa.select(credentials.c.integration_id, credentials.c.ciphertext).where(
        credentials.c.integration_id.in_(list(integration_ids))
    )
    async with hub.read() as conn:
        rows = (await conn.execute(q)).all()
    out: dict[str, dict[str, Any]] = {}
    for iid, blob in rows:
        values = hub.vault.decrypt(bytes(blob), context=iid)
        _remember(values)
        out[iid] = values
    return out


async def delete_credentials(tx: Tx, integration_id: str) -> None:
    await tx.conn.execute(credentials.delete().where(credentials.c.integration_id == integration_id))
