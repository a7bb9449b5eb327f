"""Settings: every HUBWIRE_* variable, a wrong value as one clear line, one way to override in code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa

import hubwire
from hubwire import settings as settings_module
from hubwire.cli import main
from hubwire.hub import current_hub
from hubwire.settings import Settings

SYNC_LEVELS = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}  # PRAGMA synchronous answers with numbers

SetEnv = Callable[..., None]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """A process environment with no HUBWIRE_* variable but those the test sets."""
    for name in list(os.environ):
        if name.startswith("HUBWIRE_"):
            monkeypatch.delenv(name)

    def set_env(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_the_defaults(env: SetEnv) -> None:
    s = Settings()
    assert (s.database_url, s.data_dir, s.host, s.port) == ("sqlite:///hubwire.db", Path("."), "127.0.0.1", 8000)
    assert s.auth_required and s.auto_migrate and not s.allow_private_networks and not s.debug
    assert (s.worker_concurrency, s.allowed_networks, s.log_level, s.log_format) == (32, (), "INFO", None)
    assert (s.sqlite_synchronous, s.webhook_retention_days, s.specs_dir, s.imports) == ("NORMAL", 30, None, ())
    assert s.secret_key is None and s.dialect == "sqlite"


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("HUBWIRE_DATABASE_URL", "postgresql://hubwire@db/hubwire", "database_url", "postgresql://hubwire@db/hubwire"),
        ("HUBWIRE_SECRET_KEY", "s3cret", "secret_key", "s3cret"),
        ("HUBWIRE_DATA_DIR", "/srv/hubwire", "data_dir", Path("/srv/hubwire")),
        ("HUBWIRE_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("HUBWIRE_PORT", "9000", "port", 9000),
        ("HUBWIRE_AUTH", "Disabled", "auth_required", False),
        ("HUBWIRE_AUTH", "required", "auth_required", True),
        ("HUBWIRE_AUTO_MIGRATE", "0", "auto_migrate", False),
        ("HUBWIRE_AUTO_MIGRATE", "off", "auto_migrate", False),
        ("HUBWIRE_WORKER_CONCURRENCY", "4", "worker_concurrency", 4),
        ("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "yes", "allow_private_networks", True),
        ("HUBWIRE_ALLOWED_NETWORKS", "10.0.0.0/8, fd00::/8,", "allowed_networks", ("10.0.0.0/8", "fd00::/8")),
        ("HUBWIRE_LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("HUBWIRE_LOG_FORMAT", "Console", "log_format", "console"),
        ("HUBWIRE_SQLITE_SYNCHRONOUS", "full", "sqlite_synchronous", "FULL"),
        ("HUBWIRE_WEBHOOK_RETENTION_DAYS", "7.5", "webhook_retention_days", 7.5),
        ("HUBWIRE_WEBHOOK_RETENTION_DAYS", "0", "webhook_retention_days", 0),
        ("HUBWIRE_SPECS_DIR", "/opt/specs", "specs_dir", Path("/opt/specs")),
        ("HUBWIRE_IMPORT", "myapp.nouns,myapp.jobs", "imports", ("myapp.nouns", "myapp.jobs")),
        ("HUBWIRE_DEBUG", "1", "debug", True),
        (
            "HUBWIRE_MCP_ALLOWED_ORIGINS",
            "https://app.example.com, http://10.0.0.2:*",
            "mcp_allowed_origins",
            ("https://app.example.com", "http://10.0.0.2:*"),
        ),
    ],
)
def test_every_variable_is_read(env: SetEnv, variable: str, value: str, field: str, expected: Any) -> None:
    env(**{variable: value})
    assert getattr(Settings(), field) == expected


def test_the_sqlite_database_lives_in_the_data_dir_unless_a_url_is_given(env: SetEnv) -> None:
    env(HUBWIRE_DATA_DIR="/srv/hubwire")
    assert Settings().database_url == "sqlite:////srv/hubwire/hubwire.db"
    env(HUBWIRE_DATABASE_URL="postgresql://db/hubwire")
    assert Settings().dialect == "postgresql"


def test_an_empty_variable_counts_as_unset(env: SetEnv) -> None:
    env(HUBWIRE_PORT="", HUBWIRE_SECRET_KEY="", HUBWIRE_AUTO_MIGRATE="")
    s = Settings()
    assert (s.port, s.secret_key, s.auto_migrate) == (8000, None, True)


@pytest.mark.parametrize(
    ("variable", "value", "accepts"),
    [
        ("HUBWIRE_PORT", "abc", "a port number from 0 to 65535"),
        ("HUBWIRE_PORT", "70000", "a port number from 0 to 65535"),
        ("HUBWIRE_AUTO_MIGRATE", "nope", "1/0, true/false, yes/no or on/off"),
        ("HUBWIRE_ALLOW_PRIVATE_NETWORKS", "sure", "1/0, true/false, yes/no or on/off"),
        ("HUBWIRE_WORKER_CONCURRENCY", "-3", "a whole number of jobs >= 1"),
        ("HUBWIRE_WORKER_CONCURRENCY", "0", "a whole number of jobs >= 1"),
        ("HUBWIRE_AUTH", "off", "required or disabled"),
        ("HUBWIRE_ALLOWED_NETWORKS", "10.0.0.0/8,intranet", "comma-separated networks"),
        ("HUBWIRE_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("HUBWIRE_LOG_FORMAT", "xml", "json or console"),
        ("HUBWIRE_SQLITE_SYNCHRONOUS", "off", "one of NORMAL, FULL, EXTRA"),
        ("HUBWIRE_WEBHOOK_RETENTION_DAYS", "a week", "a number of days >= 0"),
        ("HUBWIRE_WEBHOOK_RETENTION_DAYS", "-1", "a number of days >= 0"),
        ("HUBWIRE_WEBHOOK_RETENTION_DAYS", "nan", "a number of days >= 0"),
        ("HUBWIRE_HOST", " ", "an address to bind"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_variable_and_what_it_accepts(
    env: SetEnv, variable: str, value: str, accepts: str
) -> None:
    env(**{variable: value})
    with pytest.raises(hubwire.ConfigurationError) as info:
        Settings()
    message = str(info.value)
    assert message.startswith(f"{variable} must be {accepts}") and "\n" not in message, message
    assert info.value.code == "configuration_error"


def test_several_wrong_values_are_all_named_on_one_line(env: SetEnv) -> None:
    env(HUBWIRE_PORT="abc", HUBWIRE_AUTO_MIGRATE="nope")
    with pytest.raises(hubwire.ConfigurationError) as info:
        Settings()
    assert "HUBWIRE_PORT" in info.value.message and "HUBWIRE_AUTO_MIGRATE" in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize("variable", ["HUBWIRE_PORT", "HUBWIRE_AUTO_MIGRATE", "HUBWIRE_WORKER_CONCURRENCY"])
def test_the_cli_refuses_a_wrong_value_in_one_line(
    env: SetEnv, capsys: pytest.CaptureFixture[str], variable: str
) -> None:
    env(**{variable: {"HUBWIRE_PORT": "abc", "HUBWIRE_AUTO_MIGRATE": "nope"}.get(variable, "-3")})
    code = main(["migrate"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {variable} must be ") and err.endswith("(configuration_error)\n")
    assert err.count("\n") == 1


def test_the_installed_command_refuses_a_wrong_value_in_one_line(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HUBWIRE_")}
    environ.update(HUBWIRE_DATA_DIR=str(tmp_path), HUBWIRE_WORKER_CONCURRENCY="-3")
    hubwire_cmd = Path(sys.executable).parent / "hubwire"
    r = subprocess.run([str(hubwire_cmd), "worker"], env=environ, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        "error: HUBWIRE_WORKER_CONCURRENCY must be a whole number of jobs >= 1, not '-3' (configuration_error)\n"
    )


def test_replace_is_a_validated_copy(env: SetEnv) -> None:
    base = Settings(port=8000)
    moved = base.replace(port=9000, auth_required=False)
    assert (moved.port, moved.auth_required) == (9000, False) and (base.port, base.auth_required) == (8000, True)
    with pytest.raises(hubwire.ConfigurationError, match="HUBWIRE_PORT must be a port number"):
        base.replace(port="abc")
    with pytest.raises(hubwire.ConfigurationError, match="'prot' is not a setting"):
        base.replace(prot=9000)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        base.port = 1  # type: ignore[misc]


def test_replace_does_not_read_the_environment_again(env: SetEnv) -> None:
    base = Settings()
    env(HUBWIRE_PORT="1234")
    assert base.replace(host="::1").port == 8000


def test_the_default_database_follows_a_new_data_dir(env: SetEnv, tmp_path: Path) -> None:
    assert Settings().replace(data_dir=tmp_path).database_url == f"sqlite:///{(tmp_path / 'hubwire.db').as_posix()}"
    given = Settings(database_url="postgresql://db/hubwire")
    assert given.replace(data_dir=tmp_path).database_url == "postgresql://db/hubwire"


def test_hub_and_configure_overrides_are_validated(env: SetEnv, tmp_path: Path) -> None:
    with pytest.raises(hubwire.ConfigurationError, match="HUBWIRE_WORKER_CONCURRENCY"):
        hubwire.Hub(data_dir=tmp_path, worker_concurrency=-3)
    with pytest.raises(hubwire.ConfigurationError, match="'prot' is not a setting"):
        hubwire.configure(prot=1)
    hub = hubwire.Hub(Settings(port=1), data_dir=tmp_path, port=2)
    assert hub.settings.port == 2 and hub.settings.database_url.endswith(f"{tmp_path.name}/hubwire.db")


async def test_configure_sets_what_default_hubs_use(
    env: SetEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hubwire.hub._default_settings", None)  # restored after the test
    hubwire.configure(data_dir=tmp_path, secret_key="k", webhook_retention_days=3)
    hub = await current_hub()
    assert hub.settings.webhook_retention_days == 3 and hub.settings.data_dir == tmp_path
    await hub.close()


def test_the_secret_key_is_not_in_the_repr(env: SetEnv) -> None:
    env(HUBWIRE_SECRET_KEY="s3cret-do-not-show")
    assert "s3cret" not in repr(Settings()) and "s3cret" not in str(Settings())


def test_the_docstring_table_names_every_variable() -> None:
    doc = settings_module.__doc__ or ""
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias if isinstance(field.validation_alias, str) else f"HUBWIRE_{name.upper()}"
        assert f"| {variable}" in doc or f"/ {variable}" in doc, variable
        assert field.description, name  # what a wrong value's message says the variable accepts


@pytest.mark.parametrize("mode", ["NORMAL", "FULL"])
async def test_every_sqlite_connection_uses_the_configured_mode(tmp_path: Path, mode: str) -> None:
    async with (
        hubwire.Hub(database_url=f"sqlite:///{tmp_path / 'h.db'}", data_dir=tmp_path, sqlite_synchronous=mode) as hub,
        hub.read() as conn,
    ):
        assert (await conn.execute(sa.text("PRAGMA synchronous"))).scalar() == SYNC_LEVELS[mode]
        assert (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar() == "wal"
