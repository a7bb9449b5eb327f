"""The seed's verb syntax: ``hubwire Noun.verb [ID] [--field value ...]`` for every registered Noun.

Typer cannot declare commands named at run time, so ``main()`` hands argv here when its first
word looks like ``Deal.create``. Options are ``--kebab-case``, ``--snake_case`` or the seed's
``--camelCase``, all meaning the same snake_case field; values are coerced through the Noun's
schema (``coerce=True``); ``--flag`` alone is true, ``--no-flag`` false; a list field takes the
flag repeated or a comma list. A few options belong to the CLI, not to fields: ``--json``,
``--version`` (optimistic concurrency), ``--sort/--limit/--cursor/--filter`` for ``find``,
``--wait/--full/--confirm-deletions`` for ``Integration.sync``.
"""

from __future__ import annotations

import inspect
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from hubwire.cli.oauth import loopback_connect
from hubwire.cli.output import (
    UsageError,
    entities_table,
    entity_table,
    err_console,
    print_json,
    say,
)
from hubwire.connectors.registry import SyncProgress, default_registry
from hubwire.errors import FieldError, ValidationError
from hubwire.hub import Hub
from hubwire.net.redact import redact
from hubwire.nouns.entity import META, Entity, Page
from hubwire.nouns.noun import Noun
from hubwire.nouns.schema import BUILTIN_VERBS, camel_to_snake
from hubwire.nouns.verbs import invalid
from hubwire.sync.runs import list_runs

__all__ = ["VERB_SYNTAX", "Invocation", "is_verb_call", "noun_help", "parse_invocation", "run_verb", "verb_help"]

VERB_SYNTAX = re.compile(r"^[A-Z][A-Za-z0-9]*\.[a-z][A-Za-z]*$")
_BOOL_WORDS = ("true", "false", "1", "0", "yes", "no")
# CLI options that are switches, and those that always take a value.
_SWITCHES = frozenset({"json", "wait", "full", "confirm_deletions", "help"})
_VALUED = frozenset({"version", "sort", "limit", "cursor", "filter"})
READ_VERBS = ("get", "find")


def is_verb_call(word: str) -> bool:
    return bool(VERB_SYNTAX.match(word))


@dataclass
class Invocation:
    noun: Noun
    verb: str
    positional: list[str] = field(default_factory=list)
    options: dict[str, list[Any]] = field(default_factory=dict)
    raw_names: dict[str, str] = field(default_factory=dict)

    def switch(self, name: str) -> bool:
        values = self.options.pop(name, None)
        if not values:
            return False
        v = values[-1]
        return v if isinstance(v, bool) else str(v).lower() in ("true", "1", "yes")

    def value(self, name: str) -> str | None:
        values = self.options.pop(name, None)
        if not values:
            return None
        v = values[-1]
        if isinstance(v, bool):
            raise UsageError(f"--{name.replace('_', '-')} needs a value", option=name)
        return str(v)

    def integer(self, name: str) -> int | None:
        v = self.value(name)
        if v is None:
            return None
        try:
            return int(v)
        except ValueError:
            raise UsageError(f"--{name} must be an integer, not {v!r}", option=name) from None


def verbs_of(noun: Noun) -> list[str]:
    hidden: frozenset[str] = getattr(noun, "internal_verbs", frozenset())
    return [
        "create",
        "get",
        "find",
        "update",
        "delete",
        *(v for v in noun.verbs if v not in BUILTIN_VERBS and v not in hidden),
        # Methods a Noun's class runs as verbs of its own (Message.send).
        *getattr(noun, "methods", ()),
    ]


def _method_verb(noun: Noun, verb: str) -> bool:
    """A verb the Noun's class implements itself (``Integration.connect``), not the generic one."""
    for cls in type(noun).__mro__:
        if cls is Noun:
            return False
        if verb in cls.__dict__:
            return True
    return False


def parse_invocation(word: str, args: Sequence[str]) -> Invocation:
    noun_name, verb = word.split(".", 1)
    noun = Noun.registry.get(noun_name)
    if noun is None:
        known = ", ".join(sorted(Noun.registry)) or "none"
        raise UsageError(
            f"unknown Noun {noun_name!r} (known: {known}; import yours with --import MODULE)", noun=noun_name
        )
    if verb not in verbs_of(noun):
        raise UsageError(
            f"{noun.name} has no verb {verb!r} (verbs: {', '.join(verbs_of(noun))})", noun=noun.name, verb=verb
        )
    inv = Invocation(noun, verb)
    booleans = {n for n, f in noun.fields.items() if f.type == "boolean" and not f.many} | _SWITCHES
    i = 0
    args = list(args)
    while i < len(args):
        tok = args[i]
        i += 1
        if tok == "--":
            inv.positional.extend(args[i:])
            break
        if tok in ("-h", "--help"):
            inv.options.setdefault("help", []).append(True)
            continue
        if not tok.startswith("--") or len(tok) == 2:
            inv.positional.append(tok)
            continue
        raw, eq, inline = tok[2:].partition("=")
        name = camel_to_snake(raw.replace("-", "_"))
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise UsageError(f"invalid option {tok!r}", option=raw)
        value: Any
        if eq:
            value = inline
        elif name.startswith("no_") and name[3:] in booleans:
            name, value = name[3:], False
        elif (
            i < len(args) and not args[i].startswith("--") and (name not in booleans or args[i].lower() in _BOOL_WORDS)
        ):
            value = args[i]
            i += 1
        elif name in _VALUED:
            raise UsageError(f"--{raw} needs a value", option=raw)
        else:
            value = True
        inv.options.setdefault(name, []).append(value)
        inv.raw_names.setdefault(name, raw)
    return inv


def _field_values(inv: Invocation) -> dict[str, Any]:
    """The remaining options as Noun field values (lists for list fields), unknown ones refused."""
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, values in inv.options.items():
        f = inv.noun.fields.get(name)
        if f is None:
            errors.append(
                FieldError(inv.raw_names.get(name, name), "unknown_field", f"{inv.noun.name} has no field {name!r}")
            )
            continue
        out[name] = _shape(f.many, f.type, values)
    if errors:
        known = ", ".join("--" + n.replace("_", "-") for n in inv.noun.fields)
        raise ValidationError(
            f"invalid {inv.noun.name}: unknown option(s) (fields: {known})", errors, noun=inv.noun.name
        )
    return out


def _shape(many: bool, type_: str, values: list[Any]) -> Any:
    if many:
        items: list[Any] = []
        for v in values:
            items.extend(p.strip() for p in v.split(",") if p.strip()) if isinstance(v, str) else items.append(v)
        return [_json_value(type_, v) for v in items]
    return _json_value(type_, values[-1])


def _json_value(type_: str, value: Any) -> Any:
    if type_ == "json" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _one_id(inv: Invocation) -> str:
    if len(inv.positional) != 1:
        raise UsageError(
            f"{inv.noun.name}.{inv.verb} takes one {inv.noun.name} id "
            f"(hubwire {inv.noun.name}.{inv.verb} {inv.noun.name.lower()}_...)",
            noun=inv.noun.name,
        )
    return inv.positional[0]


def _no_positional(inv: Invocation) -> None:
    if inv.positional:
        raise UsageError(f"{inv.noun.name}.{inv.verb} takes no positional argument, got {inv.positional[0]!r}")


async def run_verb(inv: Invocation, hub: Hub) -> None:
    """Run the verb on ``hub`` and print its result."""
    noun, verb = inv.noun, inv.verb
    as_json = inv.switch("json")
    if verb == "find":
        await _find(inv, as_json)
        return
    if verb == "get":
        _no_options(inv)
        _show(await noun.get(_one_id(inv)), as_json)
        return
    if _method_verb(noun, verb):
        await _method(inv, hub, as_json)
        return
    if verb == "create":
        _no_positional(inv)
        _show(await noun.create(_field_values(inv), coerce=True), as_json)
        return
    entity_id = _one_id(inv)
    version = inv.integer("version")
    if verb == "delete":
        _no_options(inv)
        gone = await noun.delete(entity_id, version=version)
        if as_json:
            print_json(gone)
        else:
            say(f"deleted {noun.name} {gone.id}")
        return
    changes = _field_values(inv)
    if verb == "update":
        _show(await noun.update(entity_id, changes, version=version, coerce=True), as_json)
    else:
        _show(await noun.perform(verb, entity_id, changes, version=version, coerce=True), as_json)


def _no_options(inv: Invocation) -> None:
    if inv.options:
        name = next(iter(inv.options))
        raise UsageError(f"{inv.noun.name}.{inv.verb} does not take --{inv.raw_names.get(name, name)}", option=name)


def _show(entity: Entity, as_json: bool) -> None:
    if as_json:
        print_json(entity)
    else:
        entity_table(entity, title=f"{entity.get('$type', '')} {entity.get('$id', '')}".strip())


async def _find(inv: Invocation, as_json: bool) -> None:
    _no_positional(inv)
    noun = inv.noun
    sort = inv.value("sort")
    limit = inv.integer("limit")
    cursor = inv.value("cursor")
    raw_filter = inv.value("filter")
    flt: dict[str, Any] = {}
    if raw_filter:
        try:
            parsed = json.loads(raw_filter)
        except ValueError as exc:
            raise UsageError(f"--filter must be a JSON object: {exc}", option="filter") from None
        if not isinstance(parsed, dict):
            raise UsageError("--filter must be a JSON object", option="filter")
        flt.update(parsed)
    for name, values in list(inv.options.items()):
        f = noun.fields.get(name)
        if f is None:
            continue
        inv.options.pop(name)
        shaped = [_json_value(f.type, v) for v in values]
        flt[name] = shaped[0] if len(shaped) == 1 else {"$in": shaped}
    if inv.options:
        _field_values(inv)  # raises, naming the unknown options
    page: Page = await noun.find(flt, sort=sort, limit=50 if limit is None else limit, cursor=cursor, coerce=True)
    if as_json:
        print_json(page.to_dict())
        return
    if not page:
        say(f"no {noun.plural}", err=True)
        return
    entities_table(list(page))
    if page.next_cursor:
        say(f"more: --cursor {page.next_cursor}", err=True)


async def _method(inv: Invocation, hub: Hub, as_json: bool) -> None:
    """Verbs a Noun implements itself (Integration.connect/sync/disconnect): options become keywords."""
    noun, verb = inv.noun, inv.verb
    fn = getattr(noun, verb)
    sig = inspect.signature(fn)
    kwargs: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, values in inv.options.items():
        f = noun.fields.get(name)
        if f is None:
            kwargs[name] = values if len(values) > 1 else values[-1]
            continue
        value, err = f.check(_shape(f.many, f.type, values), coerce=True)
        if err is not None:
            errors.append(err)
        kwargs[name] = value
    if errors:
        raise invalid(noun.name, errors)
    wants_progress = "progress" in sig.parameters and bool(kwargs.get("wait"))
    bar: SyncBar | None = None
    if wants_progress:
        bar = SyncBar()
        kwargs["progress"] = SyncProgress(bar.update)
    try:
        sig.bind(*inv.positional, **kwargs)
    except TypeError as exc:
        raise UsageError(f"{noun.name}.{verb}: {exc}", noun=noun.name, verb=verb) from None
    started = time.monotonic()
    oauth = verb == "connect" and bool(kwargs.pop("oauth", False))
    if oauth:  # authorize in a browser, like `gh auth login` (hubwire.cli.oauth)
        port = int(kwargs.pop("callback_port", 0) or 0)
        browser = not kwargs.pop("no_browser", False)
        result = await loopback_connect(
            inv.positional[0] if inv.positional else None, kwargs, port=port, open_browser=browser
        )
    elif bar is not None:
        with bar:
            result = await fn(*inv.positional, **kwargs)
    else:
        result = await fn(*inv.positional, **kwargs)
    if verb == "sync" and not kwargs.get("wait"):
        if as_json:
            print_json({"queued": True, "integration": result})
        else:
            say(
                f"queued a sync of {result.get('$id')}: it runs in `hubwire serve` or `hubwire worker` "
                "(or sync now with --wait)"
            )
        return
    if verb == "sync" and not as_json:
        await _say_if_held(hub, result.id)
    if verb == "connect" and not as_json and _syncs(hub, result):
        say(
            f"a first sync of {result.get('$id')} is queued: `hubwire serve` or `hubwire worker` runs it "
            f"(or run it now: hubwire {noun.name}.sync {result.get('$id')} --wait)",
            err=True,
        )
    revealed = {k: v for k, v in result.items() if k not in noun.fields and k not in META and k != "$type"}
    entity = Entity({k: v for k, v in result.items() if k not in revealed})
    if as_json:
        # Revealed values (a generated signing secret) are the point of the answer: not redacted.
        print_json({**redact(entity), **revealed}, raw=True)
        return
    _show(entity, False)
    if bar is not None:
        say(f"{verb} done: {bar.done} records in {time.monotonic() - started:.1f}s", err=True)
    for k, v in revealed.items():
        say(f"{k}: {v}")
    if revealed:
        say("(shown once: it will not be shown again; store it now)", err=True)


async def _say_if_held(hub: Hub, integration_id: str) -> None:
    """After ``Integration.sync --wait``: a run that held its deletions back says so, and how to go on."""
    latest = await list_runs(hub, integration_id, limit=1)
    if latest and latest[0].status == "held":
        say(f"warning: {latest[0].summary}", err=True)


def _syncs(hub: Hub, integration: Mapping[str, Any]) -> bool:
    slug = integration.get("provider")
    return isinstance(slug, str) and slug in hub.providers and hub.providers.get(slug).syncs


class SyncBar:
    """A Rich progress bar fed by ``SyncProgress`` callbacks ``(noun, done, total)``; one task per Noun."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console(),
        )
        self.tasks: dict[str, TaskID] = {}
        self.per_noun: dict[str, int] = {}
        self.done = 0

    def __enter__(self) -> SyncBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, noun: str, done: int, total: int | None) -> None:
        # ``done`` counts across all Nouns of the sync; each bar shows its own Noun's share.
        delta = max(0, done - self.done)
        self.done = max(self.done, done)
        self.per_noun[noun] = self.per_noun.get(noun, 0) + delta
        task = self.tasks.get(noun)
        if task is None:
            task = self.tasks[noun] = self.progress.add_task(noun, total=total)
        self.progress.update(task, completed=self.per_noun[noun], total=total)


def noun_help(noun: Noun) -> str:
    """``hubwire Integration --help``: the Noun's verbs and where each one's options are shown."""
    lines = [f"Usage: hubwire {noun.name}.VERB [ID] [--field value ...]"]
    if noun.description:
        lines.append(noun.description)
    lines.append(f"Verbs of {noun.name}:")
    for verb in verbs_of(noun):
        decl = noun.verbs.get(verb)
        emits = f"emits {noun.name}.{decl.event}" if decl is not None else "reads"
        lines.append(f"  {noun.name}.{verb:<14} {emits}")
    lines.append(f"Options of one verb: hubwire {noun.name}.VERB --help")
    return "\n".join(lines)


def _provider_options() -> list[str]:
    """Each registered provider's connect options: its credentials (secret) and its config."""
    lines = ["Options per --provider (credentials are stored encrypted and never shown again):"]
    for p in default_registry.all():
        options = [
            f"--{c.replace('_', '-')} ({'secret, required' if c in p.required_credentials else 'secret'})"
            for c in p.credential_fields
        ] + [f"--{c.replace('_', '-')}" for c in p.config_fields]
        if p.syncs:
            options.append("--conflicts JSON (conflict policies)")
        lines.append(f"  {p.slug:<12} {', '.join(options) or 'none'}")
    return lines


def verb_help(noun: Noun, verb: str) -> str:
    lines = [f"Usage: hubwire {noun.name}.{verb}" + ("" if verb in ("create", "find") else f" {noun.name.upper()}_ID")]
    if _method_verb(noun, verb):
        params = [p for p in inspect.signature(getattr(noun, verb)).parameters.values() if p.name != "progress"]
        lines[0] = f"Usage: hubwire {noun.name}.{verb} " + " ".join(
            f"[{p.name.upper()}]" if p.kind == p.POSITIONAL_ONLY else f"[--{p.name.replace('_', '-')} ...]"
            for p in params
            if p.kind != p.VAR_KEYWORD
        )
        if any(p.kind == p.VAR_KEYWORD for p in params):
            lines.append("  other --options are passed to the provider (e.g. --api-key, --token)")
            if any(p.name == "provider" for p in params):
                lines.extend(_provider_options())
    elif verb != "get" and verb != "delete":
        lines.append(f"Fields of {noun.name} (--kebab-case or --camelCase):")
        for name, f in noun.fields.items():
            kind = " | ".join(f.enum) if f.type == "enum" else (f"-> {f.target}" if f.type == "relation" else f.type)
            flags = (" (list: repeat or comma-separate)" if f.many else "") + (" (required)" if f.required else "")
            lines.append(f"  --{name.replace('_', '-'):<22} {kind}{flags}")
    extra = {
        "find": "--sort [-]FIELD  --limit N  --cursor C  --filter JSON  (field flags filter by equality)",
        "update": "--version N (fail if the entity changed since)",
        "delete": "--version N",
    }.get(verb, "--version N" if verb not in BUILTIN_VERBS and not _method_verb(noun, verb) and verb != "get" else "")
    if extra:
        lines.append("Options: " + extra)
    lines.append("  --json  print exact JSON")
    return "\n".join(lines)
