"""How often an integration syncs: ``every 15m``, ``every 2h``, ``hourly``, ``daily`` or a cron expression.

Pure: parsing and tick arithmetic only, no I/O. Times are epoch seconds, UTC.

An interval (``every 15m``, ``hourly`` = ``every 1h``, ``daily`` = ``every 1d``) ticks at a
phase of its own per integration (a stable hash of the id, whole minutes), so a thousand
integrations set to ``hourly`` do not all call their providers at minute 0. A cron expression
(five fields: minute hour day-of-month month day-of-week, in UTC) ticks exactly when it says.
``manual`` (or ``off``) never ticks.

The tick an integration is due for is the newest one not after now (:meth:`Frequency.due`): a
scheduler that was down for several ticks runs the latest once, never one per missed tick.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter

from hubwire.errors import ValidationError

__all__ = ["MANUAL", "MIN_INTERVAL", "Frequency", "parse_frequency"]

MANUAL = "manual"
# Shorter intervals would poll a provider more often than any of them welcomes (and than a
# sync takes on a busy account); a cron expression's finest is a minute anyway.
MIN_INTERVAL = 60.0
_UNITS = {"m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hour": 3600.0, "hours": 3600.0}
_UNITS |= {"d": 86400.0, "day": 86400.0, "days": 86400.0}
_EVERY = re.compile(r"^every\s+(\d+)\s*([a-z]+)$")
_NAMED = {"hourly": "every 1h", "daily": "every 1d"}
_HELP = "'every 15m', 'every 2h', 'hourly', 'daily', 'manual' or a 5-field cron expression such as '*/30 * * * *'"


@dataclass(frozen=True)
class Frequency:
    """A parsed frequency: ``text`` as normalised (stored and shown), and either ``period`` or ``cron``."""

    text: str
    period: float | None = None
    cron: str | None = None

    @property
    def manual(self) -> bool:
        return self.period is None and self.cron is None

    def _phase(self, key: str) -> float:
        assert self.period is not None
        minutes = max(1, int(self.period // 60))
        digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        return float((digest % minutes) * 60)

    def due(self, now: float, key: str) -> float | None:
        """The newest tick at or before ``now`` (``key``: the integration id, for an interval's phase)."""
        if self.period is not None:
            phase = self._phase(key)
            return phase + ((now - phase) // self.period) * self.period
        if self.cron is not None:
            it = croniter(self.cron, datetime.fromtimestamp(now, UTC))
            # croniter's get_prev is strictly before: a tick exactly at ``now`` is its own.
            nxt = croniter(self.cron, datetime.fromtimestamp(now - 1, UTC)).get_next(float)
            return float(nxt) if nxt <= now else float(it.get_prev(float))
        return None

    def next_after(self, now: float, key: str) -> float | None:
        """The first tick strictly after ``now``; ``None`` for ``manual``."""
        if self.period is not None:
            phase = self._phase(key)
            return phase + ((now - phase) // self.period + 1) * self.period
        if self.cron is not None:
            return float(croniter(self.cron, datetime.fromtimestamp(now, UTC)).get_next(float))
        return None


def parse_frequency(value: object, *, field: str = "sync_frequency") -> Frequency:
    """``value`` as a :class:`Frequency`, or a ``ValidationError`` on ``field`` saying what is accepted."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.single(field, "frequency", f"{field} must be one of {_HELP}")
    text = " ".join(value.strip().lower().split())
    if text in (MANUAL, "off", "never"):
        return Frequency(MANUAL)
    text = _NAMED.get(text, text)
    m = _EVERY.match(text)
    if m is not None:
        n, unit = int(m.group(1)), m.group(2)
        seconds = _UNITS.get(unit)
        if seconds is None:
            raise ValidationError.single(field, "frequency", f"{field}: unknown unit {unit!r} (m, h or d)")
        period = n * seconds
        if period < MIN_INTERVAL:
            raise ValidationError.single(field, "frequency", f"{field}: the shortest interval is 1 minute")
        if period > 366 * 86400.0:
            raise ValidationError.single(field, "frequency", f"{field}: the longest interval is 366 days")
        short = {60.0: "m", 3600.0: "h", 86400.0: "d"}[seconds]
        normal = {"every 1h": "hourly", "every 1d": "daily"}.get(f"every {n}{short}", f"every {n}{short}")
        return Frequency(normal, period=period)
    fields = text.split(" ")
    if len(fields) != 5 or not croniter.is_valid(text):
        raise ValidationError.single(field, "frequency", f"{field} {value!r} is not one of {_HELP}")
    try:  # a valid expression may still name a day that never comes (0 0 31 2 *)
        croniter(text, datetime.fromtimestamp(0, UTC)).get_next(float)
    except Exception:
        raise ValidationError.single(field, "frequency", f"{field} {value!r} never falls due") from None
    return Frequency(text, cron=text)
