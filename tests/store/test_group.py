"""GroupCommit: concurrent calls share writes within the size limit; a failed write reaches every
call of its group and only those."""

from __future__ import annotations

import asyncio

from hubwire.store.group import GroupCommit


async def test_calls_that_arrive_during_a_write_share_the_next_within_the_limit() -> None:
    groups: list[list[str]] = []
    gate = asyncio.Event()

    async def write(items: list[str]) -> list[int]:
        groups.append(items)
        if len(groups) == 1:
            await gate.wait()  # the first write is slow: the others queue behind it
        return [len(i) for i in items]

    group: GroupCommit[str, int] = GroupCommit(write, limit=5, weigh=len)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(group.submit(w)) for w in ("bb", "ccc", "dddd", "eeeeeeee")]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 1
    assert [await t for t in rest] == [2, 3, 4, 8]
    # "bb"+"ccc" fit in 5; "dddd" alone; "eeeeeeee" is over the limit but a group holds at least one.
    assert groups == [["a"], ["bb", "ccc"], ["dddd"], ["eeeeeeee"]]
    await group.close()


async def test_a_failed_write_reaches_every_call_of_its_group_only() -> None:
    async def write(items: list[str]) -> list[str]:
        if "bad" in items:
            raise RuntimeError("refused")
        return items

    group: GroupCommit[str, str] = GroupCommit(write, limit=2)
    calls = [asyncio.create_task(group.submit(w)) for w in ("ok", "bad", "fine")]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[2] == "fine"
    assert all(isinstance(r, RuntimeError) for r in results[:2])


async def test_a_caller_that_goes_away_stops_no_write() -> None:
    groups: list[list[str]] = []
    gate = asyncio.Event()

    async def write(items: list[str]) -> list[str]:
        groups.append(items)
        await gate.wait()
        return items

    group: GroupCommit[str, str] = GroupCommit(write, limit=10)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    second, third = asyncio.create_task(group.submit("b")), asyncio.create_task(group.submit("c"))
    await asyncio.sleep(0)
    first.cancel()  # its write is under way
    second.cancel()  # its write has not begun
    gate.set()
    assert await third == "c"
    await group.close()
    assert groups == [["a"], ["b", "c"]]  # written all the same: a caller gone is not a write undone
    assert first.cancelled() and second.cancelled()
