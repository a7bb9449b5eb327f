"""The files Hubwire creates for an embedded hub are its owner's only: the database, its WAL and SHM, their dir."""

from __future__ import annotations

import stat
from pathlib import Path

from hubwire import Hub, Noun


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_fresh_data_dir_holds_only_owner_readable_files(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "hubwire"
    async with Hub(data_dir=data, database_url=f"sqlite:///{data / 'hubwire.db'}", auto_migrate=True) as hub:
        notes = Noun("ModeNote", {"text": "string"})
        await notes.create(text="written, so the WAL and SHM exist")
        files = {p.name: mode(p) for p in data.iterdir()}
        assert hub.settings.data_dir == data
    assert {"hubwire.db", "hubwire.db-wal", "hubwire.db-shm"} <= set(files), files
    assert {name: m for name, m in files.items() if m & 0o077} == {}, files
    assert mode(data) == 0o700


async def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    db.touch(mode=0o640)
    db.chmod(0o640)
    async with Hub(data_dir=tmp_path, database_url=f"sqlite:///{db}", secret_key="k" * 32, auto_migrate=True):
        pass
    assert mode(db) == 0o640
