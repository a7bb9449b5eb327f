"""Settings, read from ``HUBWIRE_*`` environment variables (and nothing else).

| variable                         | default                                  |
|----------------------------------|------------------------------------------|
| HUBWIRE_DATABASE_URL             | sqlite:///<data dir>/hubwire.db          |
| HUBWIRE_SECRET_KEY               | generated into <data dir>/hubwire.key    |
| HUBWIRE_DATA_DIR                 | . (where the SQLite file and key live)   |
| HUBWIRE_HOST / HUBWIRE_PORT      | 127.0.0.1 / 8000                         |
| HUBWIRE_AUTH                     | required (``disabled`` only on loopback) |
| HUBWIRE_AUTO_MIGRATE             | 1                                        |
| HUBWIRE_WORKER_CONCURRENCY       | 32                                       |
| HUBWIRE_ALLOW_PRIVATE_NETWORKS   | 0                                        |
| HUBWIRE_ALLOWED_NETWORKS         | none (comma-separated CIDRs to allow)    |
| HUBWIRE_LOG_LEVEL                | INFO                                     |
| HUBWIRE_LOG_FORMAT               | json, or console on a terminal           |
| HUBWIRE_SQLITE_SYNCHRONOUS       | NORMAL (``FULL``: survive power loss too)|
| HUBWIRE_WEBHOOK_RETENTION_DAYS   | 30 (finished deliveries; 0 keeps them)   |
| HUBWIRE_PUBLIC_URL               | none (the base providers reach Hubwire at)|
| HUBWIRE_INBOUND_MAX_BODY_BYTES   | 1048576 (inbound provider webhooks)      |
| HUBWIRE_INBOUND_RETENTION_DAYS   | 30 (handled received hooks; 0 keeps them)|
| HUBWIRE_SPECS_DIR                | ../shared/specs next to a checkout       |
| HUBWIRE_SYNC_DELETE_GUARD        | 0.2 (share of a resource a sync may delete) |
| HUBWIRE_OAUTH_PROVIDERS          | none (JSON file of OAuth providers)      |
| HUBWIRE_IMPORT                   | none (CLI: comma-separated modules)      |
| HUBWIRE_MCP_ALLOWED_ORIGINS      | none (browser Origins /mcp also accepts) |
| HUBWIRE_COLLECT_ALLOWED_ORIGINS  | none (page Origins /v1/collect accepts)  |
| HUBWIRE_COLLECT_RATE_LIMIT       | 200 (collected events/s per key)         |
| HUBWIRE_COLLECT_MAX_EVENTS       | 500 (events per /v1/collect request)     |
| HUBWIRE_COLLECT_KEY_CACHE_SECONDS | 5 (a revoked collect key refused within) |
| HUBWIRE_LAKEHOUSE                | 1 (copy analytics events to the lakehouse)|
| HUBWIRE_LAKEHOUSE_WAREHOUSE      | <data dir>/lakehouse (or s3://bucket/path)|
| HUBWIRE_LAKEHOUSE_S3_ENDPOINT    | none (an S3-compatible endpoint URL)     |
| HUBWIRE_LAKEHOUSE_S3_ACCESS_KEY_ID | none (with the secret: S3 credentials) |
| HUBWIRE_LAKEHOUSE_S3_SECRET_ACCESS_KEY | none (never shown)                 |
| HUBWIRE_LAKEHOUSE_S3_REGION      | none (e.g. us-east-1)                    |
| HUBWIRE_LAKEHOUSE_BATCH_SIZE     | 10000 (events per appended batch)        |
| HUBWIRE_LAKEHOUSE_FLUSH_INTERVAL | 10 (seconds an event waits for its batch)|
| HUBWIRE_LAKEHOUSE_RETENTION_DAYS | 0 (days of events kept; 0 keeps them)    |
| HUBWIRE_LAKEHOUSE_QUERY_TIMEOUT  | 10 (seconds a query may run)             |
| HUBWIRE_LAKEHOUSE_QUERY_MAX_ROWS | 10000 (rows a query returns)             |
| HUBWIRE_DEBUG                    | 0 (CLI: print tracebacks)                |

``Settings()`` reads the environment (empty variables count as unset); keyword arguments win
over it. ``settings.replace(port=9000)`` is the one way to change settings in code (what
``Hub(**overrides)`` and ``configure(**overrides)`` use): a validated copy. A wrong value, from
the environment or from code, is a :class:`~hubwire.errors.ConfigurationError` of one line that
names the variable and what it accepts.

SQLite runs in WAL mode with ``synchronous=NORMAL`` by default: a committed transaction survives
a crash of any Hubwire process (a ``kill -9`` loses nothing), and the database stays consistent
on power loss, but the last transactions before a power cut or OS crash may be rolled back.
``FULL`` syncs the WAL on every commit and closes that gap at a cost in write throughput.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

import pydantic
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hubwire.errors import ConfigurationError

__all__ = ["SQLITE_SYNCHRONOUS", "Settings", "check_bind"]

SqliteSynchronous = Literal["NORMAL", "FULL", "EXTRA"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
SQLITE_SYNCHRONOUS: tuple[str, ...] = get_args(SqliteSynchronous)
# A comma-separated list in the environment (``a,b``), a tuple in code; never parsed as JSON.
CommaList = Annotated[tuple[str, ...], NoDecode]
_BOOLEAN = "1/0, true/false, yes/no or on/off"


class Settings(BaseSettings):
    """Every ``HUBWIRE_*`` setting; each field's description says what its variable accepts."""

    model_config = SettingsConfigDict(
        env_prefix="HUBWIRE_",
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
    )

    database_url: str = Field("", description="a database URL (sqlite:///path or postgresql://user@host/db)")
    secret_key: str | None = Field(None, repr=False, description="any string")
    data_dir: Path = Field(Path("."), description="a directory")
    host: str = Field("127.0.0.1", min_length=1, description="an address to bind")
    port: int = Field(8000, ge=0, le=65535, description="a port number from 0 to 65535")
    auth_required: bool = Field(True, validation_alias="HUBWIRE_AUTH", description="required or disabled")
    auto_migrate: bool = Field(True, description=_BOOLEAN)
    worker_concurrency: int = Field(32, ge=1, description="a whole number of jobs >= 1")
    allow_private_networks: bool = Field(False, description=_BOOLEAN)
    allowed_networks: CommaList = Field((), description="comma-separated networks such as 10.0.0.0/8,fd00::/8")
    log_level: LogLevel = Field("INFO", description="one of " + ", ".join(get_args(LogLevel)))
    # None: JSON lines, or readable lines when stderr is a terminal.
    log_format: Literal["json", "console"] | None = Field(None, description="json or console")
    sqlite_synchronous: SqliteSynchronous = Field("NORMAL", description="one of " + ", ".join(SQLITE_SYNCHRONOUS))
    # Finished webhook deliveries (succeeded or dead) and their attempts are deleted this many days
    # after their last change; 0 keeps them for ever. Pending and retrying ones are never deleted.
    webhook_retention_days: float = Field(30.0, ge=0, allow_inf_nan=False, description="a number of days >= 0")
    # The address providers reach this Hubwire at (``https://hub.example.com``): the base of every
    # Integration's hook URL (``<public url>/v1/hooks/<id>``, registered with the provider at connect),
    # and the URL HubSpot and Twilio sign.
    public_url: str | None = Field(None, description="an http:// or https:// URL without query or fragment")
    # The largest body POST /v1/hooks/<id> takes (GitHub sends up to 25 MB); larger is a 413.
    inbound_max_body_bytes: int = Field(1024 * 1024, ge=1024, description="a number of bytes >= 1024")
    # Received provider webhooks handled (applied, ignored, failed) are deleted this many days after
    # they arrived; 0 keeps them for ever. Those still waiting to be applied are never deleted.
    inbound_retention_days: float = Field(30.0, ge=0, allow_inf_nan=False, description="a number of days >= 0")
    specs_dir: Path | None = Field(None, description="a directory of provider API descriptions")
    # A reconciliation that would delete more than this share of an integration's records of one
    # resource deletes nothing without a confirmation (an Integration's delete_guard overrides it).
    sync_delete_guard: float = Field(0.2, ge=0, le=1, allow_inf_nan=False, description="a share from 0 to 1")
    # OAuth 2.0 providers declared as data (hubwire.oauth.custom), registered with every Hub.
    oauth_providers: Path | None = Field(None, description="a JSON file listing OAuth provider declarations")
    imports: CommaList = Field((), validation_alias="HUBWIRE_IMPORT", description="comma-separated module names")
    mcp_allowed_origins: CommaList = Field((), description="comma-separated origins such as https://app.example.com")
    # POST /v1/collect: the web origins whose pages may send events (CORS; * for any), events per
    # second per collect key in each process, events per request.
    collect_allowed_origins: CommaList = Field(
        (), description="comma-separated origins such as https://www.example.com"
    )
    collect_rate_limit: float = Field(200.0, gt=0, allow_inf_nan=False, description="events per second > 0")
    collect_max_events: int = Field(500, ge=1, le=10000, description="a whole number of events in [1, 10000]")
    # A collect key verified this many seconds ago is not read again (0: read on every request): a
    # key revoked by another process is refused at most this late (at once when revoked in this one).
    collect_key_cache_seconds: float = Field(
        5.0, ge=0, le=300, allow_inf_nan=False, description="a number of seconds in [0, 300]"
    )
    # The lakehouse (hubwire.lakehouse): every collected and forwarded event appended to an Iceberg
    # table, in batches of at most ``batch_size`` events an event waits at most ``flush_interval``
    # seconds for; the warehouse a directory or s3://bucket/prefix (with the S3 settings);
    # events older than ``retention_days`` days are deleted (0 keeps them).
    lakehouse: bool = Field(True, description=_BOOLEAN)
    lakehouse_warehouse: str | None = Field(None, description="a directory or an s3://bucket/prefix URL")
    lakehouse_s3_endpoint: str | None = Field(None, description="an http:// or https:// URL")
    lakehouse_s3_access_key_id: str | None = Field(None, repr=False, description="any string")
    lakehouse_s3_secret_access_key: str | None = Field(None, repr=False, description="any string")
    lakehouse_s3_region: str | None = Field(None, description="a region name such as us-east-1")
    lakehouse_batch_size: int = Field(10000, ge=1, le=1_000_000, description="a whole number of events in [1, 1000000]")
    lakehouse_flush_interval: float = Field(10.0, gt=0, allow_inf_nan=False, description="a number of seconds > 0")
    lakehouse_retention_days: float = Field(0.0, ge=0, allow_inf_nan=False, description="a number of days >= 0")
    lakehouse_query_timeout: float = Field(10.0, gt=0, allow_inf_nan=False, description="a number of seconds > 0")
    lakehouse_query_max_rows: int = Field(10000, ge=1, description="a whole number of rows >= 1")
    debug: bool = Field(False, description=_BOOLEAN)

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except pydantic.ValidationError as exc:
            raise ConfigurationError(_explain(exc)) from None

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with ``changes`` (field names); the environment is not read again."""
        values = self.model_dump()
        if "data_dir" in changes and "database_url" not in changes and self.database_url == _sqlite_in(self.data_dir):
            del values["database_url"]  # the default database follows the data directory
        try:
            return type(self).model_validate({**values, **changes})
        except pydantic.ValidationError as exc:
            raise ConfigurationError(_explain(exc)) from None

    @property
    def dialect(self) -> str:
        return "postgresql" if self.database_url.startswith("postgres") else "sqlite"

    @model_validator(mode="before")
    @classmethod
    def _default_database(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("database_url"):
            return {**data, "database_url": _sqlite_in(Path(str(data.get("data_dir") or ".")))}
        return data

    @field_validator("auth_required", mode="before")
    @classmethod
    def _auth_mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            mode = value.strip().lower()
            if mode not in ("required", "disabled"):
                raise ValueError("not an auth mode")
            return mode == "required"
        return value

    @field_validator("host", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    def hook_url(self, integration_id: str) -> str | None:
        """Where providers post an Integration's webhooks (``<public url>/v1/hooks/<id>``: what
        connect registers with them and the Integration's ``hook_url``); None without a public URL."""
        if not self.public_url:
            return None
        return f"{self.public_url}/v1/hooks/{integration_id}"

    @field_validator("log_level", "sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("allowed_networks", "imports", "mcp_allowed_origins", "collect_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("not a base URL")
        return urlunsplit(parts._replace(path=parts.path.rstrip("/")))

    @field_validator("lakehouse_warehouse")
    @classmethod
    def _warehouse(cls, value: str | None) -> str | None:
        if value and "://" in value and not value.startswith(("s3://", "s3a://", "file://")):
            raise ValueError("not a warehouse")
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError: not a network
        return value


def _sqlite_in(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'hubwire.db').as_posix()}"


def _variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"HUBWIRE_{name.upper()}"


# A validation error's location is a field's name, or its alias when read from the environment.
_FIELD_OF = {
    **{name: name for name in Settings.model_fields},
    **{_variable(name): name for name in Settings.model_fields},
}


def _explain(exc: pydantic.ValidationError) -> str:
    """One line for all the wrong values: ``HUBWIRE_PORT must be a port number ..., not 'abc'``."""
    problems: dict[str, str] = {}
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        name = _FIELD_OF.get(key)
        if name is None:
            problems.setdefault(key, f"{key!r} is not a setting")
            continue
        given = error["input"]
        shown = ",".join(map(str, given)) if isinstance(given, tuple | list) else given
        what = Settings.model_fields[name].description
        problems.setdefault(name, f"{_variable(name)} must be {what}, not {shown!r}")
    return "; ".join(problems.values())


def _is_loopback(host: str) -> bool:
    """``localhost``, or an IP address of 127/8 or ::1; never a name that only starts like one (127.x.example)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str | None = None) -> None:
    """Refuse to serve without authentication anywhere but on loopback."""
    bind = host or settings.host
    if not settings.auth_required and not _is_loopback(bind):
        raise ConfigurationError(
            f"refusing to serve on {bind} with HUBWIRE_AUTH=disabled: "
            "authentication can only be disabled on a loopback address (127.0.0.1, ::1, localhost)"
        )
