"""Upkeep: compaction rewrites a day's files into one, retention drops old days, expiry deletes unused files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hubwire import lakehouse
from hubwire.hub import Hub
from hubwire.lakehouse import feed
from tests.conftest import make_hub
from tests.fakes import FakeClock
from tests.lakehouse.conftest import DAY, collect, events

START = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC).timestamp()


def parquet_files(root: Path) -> set[Path]:
    return set(root.rglob("*.parquet"))


async def fill(hub: Hub, appends: int, *, days: int = 3) -> None:
    """``appends`` appends of 30 events each over ``days`` days: a file per day per append."""
    for k in range(appends):
        await collect(hub, events(30, start=START + k * 100, days=days))
        await lakehouse.append_pending(hub)


async def totals(hub: Hub) -> list[list[object]]:
    sql = "select strftime(timestamp, '%Y-%m-%d') d, count(*), count(distinct id) from events group by 1 order by 1"
    return (await lakehouse.query(hub, sql)).rows


async def test_compaction_rewrites_each_day_into_one_file_and_keeps_every_row(lhub: Hub, tmp_path: Path) -> None:
    await fill(lhub, 4)
    before = await lakehouse.stats(lhub)
    assert before["files"] == 12 and set(before["days"].values()) == {4}
    rows = await totals(lhub)
    assert rows == [["2026-03-01", 40, 40], ["2026-03-02", 40, 40], ["2026-03-03", 40, 40]]
    done = await lakehouse.compact(lhub)
    assert done == {dt.date(2026, 3, d): 4 for d in (1, 2, 3)}
    after = await lakehouse.stats(lhub)
    assert after["files"] == 3 and after["rows"] == 120 and set(after["days"].values()) == {1}
    assert await totals(lhub) == rows
    assert await lakehouse.compact(lhub) == {}  # nothing left to rewrite
    assert (tmp_path / "lakehouse").stat().st_mode & 0o777 == 0o700  # the users' events: the owner's only
    # The replaced files stay while a snapshot refers to them; expiring the old snapshots deletes them.
    assert len(parquet_files(tmp_path / "lakehouse")) == 15
    assert await lakehouse.expire_snapshots(lhub, keep=0) == 12
    assert len(parquet_files(tmp_path / "lakehouse")) == 3
    assert await totals(lhub) == rows


async def test_only_the_days_asked_for_are_compacted(lhub: Hub) -> None:
    await fill(lhub, 2)
    assert await lakehouse.compact(lhub, [dt.date(2026, 3, 2)]) == {dt.date(2026, 3, 2): 2}
    assert (await lakehouse.stats(lhub))["days"] == {"2026-03-01": 2, "2026-03-02": 1, "2026-03-03": 2}


async def test_retention_drops_the_old_days(db_url: str, tmp_path: Path, providers: object, clock: FakeClock) -> None:
    clock.now = START + 2 * DAY + 3600  # 2026-03-03 11:00
    async with make_hub(db_url, tmp_path, providers, clock=clock, lakehouse_retention_days=1) as hub:  # type: ignore[arg-type]
        await fill(hub, 2)
        assert await lakehouse.drop_expired(hub) == 20  # 2026-03-01: before 2026-03-02, the cutoff day
        assert [r[0] for r in await totals(hub)] == ["2026-03-02", "2026-03-03"]
        assert await lakehouse.drop_expired(hub) == 0
        # The whole upkeep (every worker's, now and then): nothing more to drop; compacts; expires.
        assert await feed.upkeep(hub) >= 4
        assert (await lakehouse.stats(hub))["days"] == {"2026-03-02": 1, "2026-03-03": 1}
        assert await totals(hub) == [["2026-03-02", 20, 20], ["2026-03-03", 20, 20]]


async def test_without_retention_nothing_is_dropped(lhub: Hub) -> None:
    await fill(lhub, 1)
    assert await lakehouse.drop_expired(lhub) == 0 and (await lakehouse.stats(lhub))["rows"] == 30


async def test_snapshots_are_kept_while_a_batch_is_claimed(lhub: Hub, tmp_path: Path) -> None:
    await fill(lhub, 2)
    await lakehouse.compact(lhub)
    await collect(lhub, events(5, start=START))
    async with lhub.transaction() as tx:  # a claim an appender still holds (or left)
        await tx.conn.execute(feed.lakehouse_outbox.update().values(batch="b", claimed_at=lhub.clock()))
    files = parquet_files(tmp_path / "lakehouse")
    assert await lakehouse.expire_snapshots(lhub, keep=0) == 0
    assert await feed.upkeep(lhub) == 0 and parquet_files(tmp_path / "lakehouse") == files
    async with lhub.transaction() as tx:
        await tx.conn.execute(feed.lakehouse_outbox.delete())
    assert await lakehouse.expire_snapshots(lhub, keep=0) == 6


async def test_upkeep_does_nothing_before_the_first_append(lhub: Hub, tmp_path: Path) -> None:
    assert await feed.upkeep(lhub) == 0 and not (tmp_path / "lakehouse").exists()
