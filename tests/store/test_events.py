"""The event log's type filter: exact names and ``Prefix*`` as a range on the indexed column."""

from __future__ import annotations

import psycopg
import pytest

from hubwire.hub import Hub
from hubwire.store.events import append, latest, prefix_end, read_after

# Names around the prefix "Deal." in code point order ("-" < "." < "/", "D" < "d"), with the
# characters LIKE would have taken as wildcards, a quote, a backslash, and the highest code point.
TYPES = [
    "Dea",
    "Deal",
    "Deal-x.Created",
    "Deal.",
    "Deal.Created",
    "Deal.\U0001f600",
    "Deal.\U0010ffff",
    "Deal/",
    "DealX.Created",
    "deal.created",
    "order_line.created",
    "orderXline.created",
    "order%line.created",
    "it's.done",
    "back\\slash.done",
    "Z\U0010fffe",
    "Z\U0010ffff",
    "Z\U0010ffffa",
    "[",
]


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("Deal.", "Deal/"),
        ("a", "b"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff\U0010ffff", None),
        ("", None),
        ("x\ud7ff", "x\ue000"),
    ],
)
def test_prefix_end_is_above_every_string_with_the_prefix(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


async def logged(hub: Hub) -> dict[str, int]:
    async with hub.transaction() as tx:
        return {t: (await append(tx, t, "Thing", f"thing_{i}", {}, "tests")).seq for i, t in enumerate(TYPES)}


@pytest.mark.parametrize(
    "types",
    [
        ["Deal.*"],
        ["Deal*"],
        ["Deal.Created"],
        ["Deal.Created", "deal.created"],
        ["Deal.Created", "deal.created", "order_line.*"],
        ["order_line.*"],
        ["order%*"],
        ["it's.*"],
        ["back\\*", "back\\slash.done"],
        ["Z\U0010ffff*"],
        ["Deal.\U0010ffff*", "Dea"],
        ["Nothing.*", "Nothing"],
        ["Deal.*", "*"],
        [],
    ],
)
async def test_read_after_keeps_the_exact_names_and_prefixes_it_is_given(hub: Hub, types: list[str]) -> None:
    seqs = await logged(hub)

    def wanted(t: str) -> bool:
        return not types or any(t.startswith(w[:-1]) if w.endswith("*") else t == w for w in types)

    async with hub.read() as conn:
        found = await read_after(conn, 0, types=types, limit=1000)
        assert [e.type for e in found] == [t for t in TYPES if wanted(t)]
        after = seqs["Deal.Created"]
        assert [e.type for e in await read_after(conn, after, types=types, limit=1000)] == [
            t for t in TYPES if wanted(t) and seqs[t] > after
        ]


@pytest.mark.parametrize("prefix", ["Deal.", "order_", "order%", "Z\U0010ffff", "it's"])
async def test_latest_keeps_the_types_with_the_prefix_newest_first(hub: Hub, prefix: str) -> None:
    await logged(hub)
    async with hub.read() as conn:
        newest = await latest(conn, limit=1000, type_prefix=prefix)
    assert [e.type for e in newest] == [t for t in reversed(TYPES) if t.startswith(prefix)]


async def test_read_after_filters_type_and_entity_together(hub: Hub) -> None:
    await logged(hub)
    async with hub.read() as conn:
        found = await read_after(conn, 0, types=["Deal.*", "[", "Dea"], entity_id="thing_4")
        assert [(e.type, e.entity_id) for e in found] == [("Deal.Created", "thing_4")]
        assert [e.type for e in await read_after(conn, 0, types=["Deal.*"], limit=2)] == ["Deal.", "Deal.Created"]


@pytest.mark.postgres
def test_event_types_compare_byte_by_byte_whatever_the_database_collation(pg_url: str) -> None:
    """The prefix range needs code-point order: on PostgreSQL the column is COLLATE "C" (migration 0020)."""
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        collation = conn.execute(
            "SELECT collation_name FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'type'"
        ).fetchone()
    assert collation == ("C",)
