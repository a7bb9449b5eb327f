"""How the CLI prints: entities and rows as Rich tables, exact JSON for machines, errors as one line.

Every byte the CLI writes goes through here, so this is the one place that redacts secrets
(``hubwire.net.redact``) and maps an exception to a message and an exit code. Output goes to
the current ``sys.stdout``/``sys.stderr`` (looked up per call, so captured output works).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hubwire.errors import ConfigurationError, HubwireError, ValidationError
from hubwire.net.redact import is_secret_key, redact, redact_text
from hubwire.nouns.entity import META, Entity

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "UsageError",
    "cell",
    "entities_table",
    "entity_table",
    "err_console",
    "exit_code_for",
    "out_console",
    "print_error",
    "print_json",
    "print_table",
    "say",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
CELL_WIDTH = 40
PIPE_WIDTH = 200


class UsageError(HubwireError):
    """The command line itself is wrong: an unknown command, option or module to import."""

    code = "usage_error"
    status = 400
    title = "Invalid command line"


def _width(stream: Any) -> int | None:
    # A terminal reports its width; a pipe or file gets wide lines rather than 80 cut columns.
    isatty = getattr(stream, "isatty", None)
    return None if isatty is not None and isatty() else PIPE_WIDTH


def out_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=_width(sys.stdout))


def err_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def say(message: str, *, err: bool = False) -> None:
    """A human line (markup allowed); status lines go to stderr so stdout stays parseable."""
    (err_console() if err else out_console()).print(message)


def print_json(value: Any, *, raw: bool = False) -> None:
    """Exact JSON on stdout, one document, nothing else; redacted unless the caller did (``raw``)."""
    sys.stdout.write(json.dumps(value if raw else redact(value), indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def cell(value: Any, width: int = CELL_WIDTH) -> str:
    """One table cell: JSON for structures, secrets masked, cut to ``width`` characters."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Mapping | list | tuple):
        text = json.dumps(redact(value), default=str, separators=(",", ":"))
    else:
        text = redact_text(str(value))
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    table = Table(*columns, title=title, title_justify="left", show_lines=False)
    for row in rows:
        table.add_row(*(Text(cell(v)) for v in row))
    out_console().print(table)


def entities_table(entities: Sequence[Entity], *, title: str | None = None) -> None:
    """Entities in columns: ``$id`` then every field that has a value in at least one row."""
    fields: list[str] = []
    for e in entities:
        for k, v in e.items():
            if k not in META and k != "$type" and v is not None and k not in fields:
                fields.append(k)
    print_table(["$id", *fields], ([e.get("$id"), *(e.get(f) for f in fields)] for e in entities), title=title)


def entity_table(entity: Mapping[str, Any], *, title: str | None = None) -> None:
    """One entity, one row per field with a value (and its metadata last)."""
    table = Table("field", "value", title=title, title_justify="left", show_header=False)
    keys = [k for k in entity if k not in META and k != "$type" and entity[k] is not None]
    for k in ["$id", *keys, "version", "created_at", "updated_at"]:
        if k in entity:
            value = entity[k]
            if k not in META and is_secret_key(k) and value:
                value = "[REDACTED]"
            table.add_row(Text(k), Text(cell(value, 100)))
    out_console().print(table)


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, ValidationError | UsageError | ConfigurationError):
        return EXIT_USAGE
    return EXIT_ERROR


def print_error(exc: BaseException, *, debug: bool = False) -> int:
    """Print ``error: <message> (<code>)`` (and field errors below) to stderr; return the exit code.

    ``debug`` (``HUBWIRE_DEBUG``) prints the traceback of an unexpected error instead of one line.
    """
    stream = sys.stderr
    if isinstance(exc, HubwireError):
        stream.write(f"error: {redact_text(exc.message)} ({exc.code})\n")
        if isinstance(exc, ValidationError):
            for fe in exc.errors:
                stream.write(f"  {fe.field}: {redact_text(fe.message)}\n")
        stream.flush()
        return exit_code_for(exc)
    database = _database_problem(exc)
    if database is not None and not debug:
        stream.write(f"error: {redact_text(database[0])} ({database[1]})\n")
        stream.flush()
        return EXIT_ERROR
    if debug:
        stream.write(redact_text("".join(traceback.format_exception(exc))))
    text = redact_text(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    hint = "" if debug else " (set HUBWIRE_DEBUG=1 to see the traceback)"
    stream.write(f"error: unexpected {message}{hint}\n")
    stream.flush()
    return EXIT_ERROR


def _database_problem(exc: BaseException) -> tuple[str, str] | None:
    """The usual database mistakes (not migrated, not reachable) as a message and a code."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return None
    detail = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
    if "no such table" in detail or type(exc.orig).__name__ == "UndefinedTable":
        return f"the database has no Hubwire tables ({detail}): run `hubwire migrate`", "database_not_migrated"
    if "connect" in detail.lower() or "unable to open database" in detail:
        return f"cannot reach the database: {detail}", "database_unavailable"
    return None
