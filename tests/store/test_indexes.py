"""The Nouns' indexes: made once whoever makes them, even two first uses at once."""

from __future__ import annotations

import asyncio

import pytest

from hubwire.errors import ConflictError
from hubwire.hub import Hub
from hubwire.store.indexes import ensure_indexes, index_name

FIELDS = [("code", "text", True), ("value", "num", False)]


async def indexes_of(hub: Hub) -> set[str]:
    async with hub.read() as conn:
        if hub.dialect == "postgresql":
            found = await conn.exec_driver_sql("SELECT indexname FROM pg_indexes WHERE tablename = 'entities'")
        else:
            found = await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE tbl_name = 'entities'")
        return {r[0] for r in found}


async def drop(hub: Hub) -> None:
    async with hub.transaction() as tx:
        for name, _, unique in FIELDS:
            await tx.conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index_name('Racer', name, unique)}")


async def make(hub: Hub, *, wait_before: float = 0.0, hold: float = 0.0) -> None:
    await asyncio.sleep(wait_before)
    async with hub.transaction() as tx:
        await ensure_indexes(tx.conn, "Racer", FIELDS)
        await asyncio.sleep(hold)  # still uncommitted: the other one cannot see the indexes yet


@pytest.mark.parametrize("rounds", [6])
async def test_two_first_uses_at_once_both_make_the_indexes(hub: Hub, rounds: int) -> None:
    wanted = {index_name("Racer", name, unique) for name, _, unique in FIELDS}
    for n in range(rounds):
        await drop(hub)
        assert not wanted & await indexes_of(hub)
        if n % 2:  # the second starts while the first holds its new indexes uncommitted
            await asyncio.gather(make(hub, hold=0.2), make(hub, wait_before=0.05))
        else:
            await asyncio.gather(make(hub), make(hub))
        assert wanted <= await indexes_of(hub)


async def test_a_unique_index_over_rows_that_share_a_value_is_a_conflict(hub: Hub) -> None:
    async with hub.transaction() as tx:
        for i in range(2):
            await tx.conn.exec_driver_sql(
                "INSERT INTO entities (id, type, data, version, created_at, updated_at) "
                f"VALUES ('racer_{i}', 'Racer', '{{\"code\": \"same\"}}', 1, 0, 0)"
            )
    with pytest.raises(ConflictError) as err:
        async with hub.transaction() as tx:
            await ensure_indexes(tx.conn, "Racer", FIELDS[:1])
    assert err.value.code == "unique_violation"
