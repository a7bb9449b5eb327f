"""The fakes shared by the tests, one definition each: a clock moved by hand, the Deal Noun, a
provider that checks one API key, and writes the database itself refuses.

A fake stands in only for what the test must control (time, a provider's answers, a failing
write); the database, HTTP on loopback and the simulators are always the real thing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hubwire import Noun
from hubwire.connectors.registry import Provider, ProviderContext, SyncProgress
from hubwire.errors import ProviderAuthError
from hubwire.hub import Hub

__all__ = ["GOOD_KEY", "ApiKeyProvider", "FakeClock", "RefusedWrites", "deal_noun"]


class FakeClock:
    """A wall clock that only moves when told: ``clock.advance(seconds)``.

    It starts at the current time (not a fixed date, nor the time of import): webhook signatures
    carry the clock's time and verifiers reject timestamps more than five minutes from the real one.
    """

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def deal_noun(extra: Mapping[str, str] | None = None, **options: Any) -> Noun:
    """The README's Deal: a name, a value, a stage with its state machine, a contact, two verbs.

    ``extra`` adds fields (or verbs) for a test's own needs; ``options`` go to :class:`Noun`.
    """
    return Noun(
        "Deal",
        {
            "name": "string!",
            "value": "number",
            "stage": "Open | Closed | Lost",
            "contact": "-> Contact",
            "close": "Closed",
            "lose": "Lost",
            **(extra or {}),
        },
        states={"stage": {"Open": ["Closed", "Lost"], "Closed": [], "Lost": ["Open"]}},
        **options,
    )


GOOD_KEY = "sk_test_GoodKey1234567890"


class ApiKeyProvider(Provider):
    """A provider that accepts exactly one API key (``key``); its sync reports ``records`` Contacts.

    Its refusal quotes the key it got, as some providers do (``refusal``): what Hubwire shows must redact it.
    ``fail_sync`` set: the next syncs raise it. ``synced`` lists the integrations it synced.
    A test specialises it by subclassing with other class attributes (slug, key, records, ...).
    """

    slug = "acme"
    name = "Acme"
    category = "CRM"
    auth_type = "ApiKey"
    credential_fields = ("api_key",)
    required_credentials = ("api_key",)
    config_fields = ("region",)
    syncs = True
    key = GOOD_KEY
    records = 3
    refusal = "{slug} refused the key {key}"

    def __init__(self) -> None:
        self.synced: list[str] = []
        self.fail_sync: Exception | None = None

    async def check(self, ctx: ProviderContext) -> dict[str, Any] | None:
        if ctx.credentials.get("api_key") != self.key:
            said = self.refusal.format(slug=self.slug, key=ctx.credentials.get("api_key"))
            raise ProviderAuthError(said, provider=self.slug)
        return {"account": "acct_1"}

    async def sync(self, ctx: ProviderContext, progress: SyncProgress) -> int:
        if self.fail_sync is not None:
            raise self.fail_sync
        self.synced.append(ctx.integration.id)
        progress.advance("Contact", self.records, self.records)
        return self.records


class RefusedWrites:
    """Makes the database itself refuse some writes to a table (a trigger), as a full disk or a
    lost connection would: a real failure on SQLite and on PostgreSQL, no stand-in for the database.

    Call :meth:`allow` before the test ends: a PostgreSQL database outlives the test.
    """

    MESSAGE = "the database refused the write"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.table: str | None = None

    async def refuse(self, table: str, *, op: str = "UPDATE", when: str = "1 = 1") -> None:
        """Refuse each ``op`` (INSERT, UPDATE, DELETE) of a row of ``table`` for which ``when`` (SQL on
        NEW and OLD) holds. One refusal at a time."""
        assert self.table is None, "one refusal at a time"
        if self.hub.dialect == "sqlite":
            ddl = [
                f"CREATE TRIGGER test_refuse BEFORE {op} ON {table} WHEN {when} "
                f"BEGIN SELECT RAISE(ABORT, '{self.MESSAGE}'); END"
            ]
        else:
            ddl = [
                "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{self.MESSAGE}'; END $$",
                f"CREATE TRIGGER test_refuse BEFORE {op} ON {table} FOR EACH ROW WHEN ({when}) "
                "EXECUTE FUNCTION test_refuse()",
            ]
        await self._run(ddl)
        self.table = table

    async def allow(self) -> None:
        """Take the refusal back (a no-op without one)."""
        if self.table is None:
            return
        if self.hub.dialect == "sqlite":
            await self._run(["DROP TRIGGER test_refuse"])
        else:
            await self._run([f"DROP TRIGGER test_refuse ON {self.table}", "DROP FUNCTION test_refuse()"])
        self.table = None

    async def _run(self, ddl: list[str]) -> None:
        async with self.hub.transaction() as tx:
            for stmt in ddl:
                await tx.conn.exec_driver_sql(stmt)
