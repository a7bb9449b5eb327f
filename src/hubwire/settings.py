"""Settings, read from ``HUBWIRE_*`` environment variables (and nothing else).

| variable                         | default                                  |
|----------------------------------|------------------------------------------|
| HUBWIRE_DATABASE_URL             | sqlite:///./hubwire.db                   |
| HUBWIRE_SECRET_KEY               | a key generated into ./hubwire.key (0600)|
| HUBWIRE_DATA_DIR                 | . (where the SQLite file and key live)   |
| HUBWIRE_HOST / HUBWIRE_PORT      | 127.0.0.1 / 8000                         |
| HUBWIRE_AUTH                     | required (``disabled`` only on loopback) |
| HUBWIRE_AUTO_MIGRATE             | 1                                        |
| HUBWIRE_WORKER_CONCURRENCY       | 32                                       |
| HUBWIRE_ALLOW_PRIVATE_NETWORKS   | 0                                        |
| HUBWIRE_LOG_LEVEL                | INFO                                     |
| HUBWIRE_SQLITE_SYNCHRONOUS       | NORMAL (``FULL``: survive power loss too)|
| HUBWIRE_WEBHOOK_RETENTION_DAYS   | 30 (finished deliveries; 0 keeps them)   |

SQLite runs in WAL mode with ``synchronous=NORMAL`` by default: a committed transaction survives
a crash of any Hubwire process (a ``kill -9`` loses nothing), and the database stays consistent
on power loss, but the last transactions before a power cut or OS crash may be rolled back.
``FULL`` syncs the WAL on every commit and closes that gap at a cost in write throughput.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hubwire.errors import ConfigurationError

__all__ = ["SQLITE_SYNCHRONOUS", "Settings", "check_bind"]

SQLITE_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


_RETENTION_ERROR = "HUBWIRE_WEBHOOK_RETENTION_DAYS must be a number of days >= 0, not {!r}"


def _days(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(_RETENTION_ERROR.format(value)) from None


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    secret_key: str | None = None
    data_dir: Path = field(default_factory=lambda: Path("."))
    host: str = "127.0.0.1"
    port: int = 8000
    auth_required: bool = True
    auto_migrate: bool = True
    worker_concurrency: int = 32
    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()
    log_level: str = "INFO"
    sqlite_synchronous: str = "NORMAL"
    # Finished webhook deliveries (succeeded or dead) and their attempts are deleted this many days
    # after their last change; 0 keeps them for ever. Pending and retrying ones are never deleted.
    webhook_retention_days: float = 30.0

    def __post_init__(self) -> None:
        if not self.webhook_retention_days >= 0:  # also refuses NaN
            raise ConfigurationError(_RETENTION_ERROR.format(self.webhook_retention_days))
        mode = self.sqlite_synchronous.upper()
        if mode not in SQLITE_SYNCHRONOUS:
            raise ConfigurationError(
                f"HUBWIRE_SQLITE_SYNCHRONOUS must be one of {', '.join(SQLITE_SYNCHRONOUS)}, "
                f"not {self.sqlite_synchronous!r}"
            )
        object.__setattr__(self, "sqlite_synchronous", mode)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{(self.data_dir / 'hubwire.db').as_posix()}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        e = dict(os.environ if env is None else env)
        data_dir = Path(e.get("HUBWIRE_DATA_DIR", "."))
        s = cls(
            database_url=e.get("HUBWIRE_DATABASE_URL", ""),
            secret_key=e.get("HUBWIRE_SECRET_KEY") or None,
            data_dir=data_dir,
            host=e.get("HUBWIRE_HOST", "127.0.0.1"),
            port=int(e.get("HUBWIRE_PORT", "8000")),
            auth_required=e.get("HUBWIRE_AUTH", "required").lower() != "disabled",
            auto_migrate=_flag(e.get("HUBWIRE_AUTO_MIGRATE"), True),
            worker_concurrency=int(e.get("HUBWIRE_WORKER_CONCURRENCY", "32")),
            allow_private_networks=_flag(e.get("HUBWIRE_ALLOW_PRIVATE_NETWORKS"), False),
            allowed_networks=tuple(n.strip() for n in e.get("HUBWIRE_ALLOWED_NETWORKS", "").split(",") if n.strip()),
            log_level=e.get("HUBWIRE_LOG_LEVEL", "INFO"),
            sqlite_synchronous=e.get("HUBWIRE_SQLITE_SYNCHRONOUS", "NORMAL"),
            webhook_retention_days=_days(e.get("HUBWIRE_WEBHOOK_RETENTION_DAYS", "30")),
        )
        return replace(s, **overrides) if overrides else s

    @property
    def dialect(self) -> str:
        return "postgresql" if self.database_url.startswith("postgres") else "sqlite"


def _is_loopback(host: str) -> bool:
    """``localhost``, or an IP address of 127/8 or ::1; never a name that only starts like one (127.x.example)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str | None = None) -> None:
    """Refuse to serve without authentication anywhere but on loopback."""
    from hubwire.errors import ConfigurationError

    bind = host or settings.host
    if not settings.auth_required and not _is_loopback(bind):
        raise ConfigurationError(
            f"refusing to serve on {bind} with HUBWIRE_AUTH=disabled: "
            "authentication can only be disabled on a loopback address (127.0.0.1, ::1, localhost)"
        )
