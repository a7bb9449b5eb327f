"""The overview's small charts: outcomes per hour over the last 24 hours, drawn as inline SVG.

Counted in the database (one GROUP BY per chart over an indexed time column), drawn on the server:
the page needs no script to show them, and the CSP allows no inline one anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from markupsafe import Markup, escape

from hubwire.store.tables import sync_runs, webhook_deliveries

if TYPE_CHECKING:
    from hubwire.hub import Hub

__all__ = ["Hourly", "deliveries_per_hour", "runs_per_hour"]

HOURS = 24
GOOD = {"succeeded"}
BAD = {"failed", "dead"}


@dataclass
class Hourly:
    """Good and bad outcomes per hour, oldest hour first."""

    title: str
    good: list[int]
    bad: list[int]

    @property
    def total_good(self) -> int:
        return sum(self.good)

    @property
    def total_bad(self) -> int:
        return sum(self.bad)

    @property
    def rate(self) -> str:
        done = self.total_good + self.total_bad
        return f"{100 * self.total_good / done:.1f}%" if done else "n/a"

    def svg(self) -> Markup:
        width, height, bar = HOURS * 10, 48, 8
        top = max([g + b for g, b in zip(self.good, self.bad, strict=True)] + [1])
        rects = []
        for i, (g, b) in enumerate(zip(self.good, self.bad, strict=True)):
            hg, hb = round(height * g / top), round(height * b / top)
            x = i * 10
            if hg:
                rects.append(f'<rect class="good" x="{x}" y="{height - hg}" width="{bar}" height="{hg}"/>')
            if hb:
                rects.append(f'<rect class="bad" x="{x}" y="{height - hg - hb}" width="{bar}" height="{hb}"/>')
        label = escape(f"{self.title}: {self.total_good} succeeded, {self.total_bad} failed in the last 24 hours")
        return Markup(
            f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">'
            f"<title>{label}</title>{''.join(rects)}</svg>"
        )


async def _per_hour(hub: Hub, title: str, table: sa.Table, at: str) -> Hourly:
    now = hub.clock()
    start = now - HOURS * 3600
    column = table.c[at]
    hour = sa.cast((column - start) / 3600, sa.Integer).label("hour")
    q = (
        sa.select(hour, table.c.status, sa.func.count().label("n"))
        .where(column >= start)
        .group_by(hour, table.c.status)
    )
    good, bad = [0] * HOURS, [0] * HOURS
    async with hub.read() as conn:
        for row in (await conn.execute(q)).all():
            i = min(max(int(row.hour), 0), HOURS - 1)
            if row.status in GOOD:
                good[i] += row.n
            elif row.status in BAD:
                bad[i] += row.n
    return Hourly(title, good, bad)


async def runs_per_hour(hub: Hub) -> Hourly:
    return await _per_hour(hub, "Sync runs", sync_runs, "started_at")


async def deliveries_per_hour(hub: Hub) -> Hourly:
    return await _per_hour(hub, "Webhook deliveries", webhook_deliveries, "updated_at")
