"""Settings from the environment: SQLite's durability mode reaches every connection; webhook retention."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import hubwire
from hubwire.settings import Settings

SYNC_LEVELS = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}  # PRAGMA synchronous answers with numbers


def test_sqlite_synchronous_defaults_to_normal_and_reads_the_environment() -> None:
    assert Settings.from_env({}).sqlite_synchronous == "NORMAL"
    assert Settings.from_env({"HUBWIRE_SQLITE_SYNCHRONOUS": "full"}).sqlite_synchronous == "FULL"


def test_a_wrong_sqlite_synchronous_is_a_configuration_error() -> None:
    with pytest.raises(hubwire.ConfigurationError, match="HUBWIRE_SQLITE_SYNCHRONOUS") as info:
        Settings.from_env({"HUBWIRE_SQLITE_SYNCHRONOUS": "off"})
    assert info.value.code == "configuration_error"


def test_webhook_retention_defaults_to_30_days_and_reads_the_environment() -> None:
    assert Settings.from_env({}).webhook_retention_days == 30
    assert Settings.from_env({"HUBWIRE_WEBHOOK_RETENTION_DAYS": "7.5"}).webhook_retention_days == 7.5
    assert Settings.from_env({"HUBWIRE_WEBHOOK_RETENTION_DAYS": "0"}).webhook_retention_days == 0


@pytest.mark.parametrize("value", ["a week", "-1", "nan"])
def test_a_wrong_webhook_retention_is_a_configuration_error(value: str) -> None:
    with pytest.raises(hubwire.ConfigurationError, match="HUBWIRE_WEBHOOK_RETENTION_DAYS") as info:
        Settings.from_env({"HUBWIRE_WEBHOOK_RETENTION_DAYS": value})
    assert info.value.code == "configuration_error"


@pytest.mark.parametrize("mode", ["NORMAL", "FULL"])
async def test_every_sqlite_connection_uses_the_configured_mode(tmp_path: Path, mode: str) -> None:
    async with (
        hubwire.Hub(database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path, sqlite_synchronous=mode) as hub,
        hub.read() as conn,
    ):
        assert (await conn.execute(sa.text("PRAGMA synchronous"))).scalar() == SYNC_LEVELS[mode]
        assert (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar() == "wal"
