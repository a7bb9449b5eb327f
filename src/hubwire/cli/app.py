"""The ``hubwire`` command: the Typer app, the global ``--import`` option, and ``main()``.

``main()`` is the one entry point (console script and tests): it imports user modules, sends
``Noun.verb`` words to :mod:`hubwire.cli.verbs` and everything else to the Typer app, and turns
every exception into one line on stderr and an exit code (2: validation or usage, 1: other).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import structlog
import typer

from hubwire.cli import use, verbs
from hubwire.cli.analytics import analytics_app
from hubwire.cli.apikeys import apikey_app
from hubwire.cli.conflicts import conflicts_app
from hubwire.cli.events import events_app
from hubwire.cli.hooks import hooks_app
from hubwire.cli.jobs import jobs_app
from hubwire.cli.mappings import mappings_app
from hubwire.cli.mcp import mcp
from hubwire.cli.migrate import migrate
from hubwire.cli.oauth import oauth_apps_app
from hubwire.cli.output import EXIT_USAGE, print_error, print_table, say
from hubwire.cli.providers import providers
from hubwire.cli.runs import runs
from hubwire.cli.runtime import configure_logging, import_modules, open_hub
from hubwire.cli.serve import serve
from hubwire.cli.simulate import simulate_app
from hubwire.cli.webhooks import app as webhooks_app
from hubwire.cli.worker import worker
from hubwire.connectors.builtin import load_builtins
from hubwire.nouns.noun import Noun
from hubwire.settings import Settings

__all__ = ["app", "main"]

HELP = """Hubwire: external services as typed entities with verbs, events and a lifecycle.

[bold]Verb syntax[/bold], for every Noun: [cyan]hubwire Noun.verb [ID] [--field value ...][/cyan]

  hubwire Integration.connect --provider stripe --api-key $KEY

  hubwire Integration.connect --provider hubspot --oauth   (authorize in a browser)

  hubwire Integration.sync integration_x --wait

  hubwire Integration.find --status Connected --sort -created_at --json

  hubwire Deal.create --name Acme --value 3 · Deal.update ID --value 4 · Deal.close ID

`hubwire nouns` lists the Nouns and their verbs; `hubwire Noun.verb --help` shows a verb's options.
Settings come from HUBWIRE_* environment variables (HUBWIRE_DATABASE_URL, HUBWIRE_DATA_DIR, ...).
"""

app = typer.Typer(
    name="hubwire",
    help=HELP,
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from hubwire import __version__

        say(f"hubwire {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    imports: list[str] = typer.Option(
        [], "--import", help="Import MODULE (its Nouns, providers, job kinds) first; repeatable. Env: HUBWIRE_IMPORT."
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    import_modules(imports)


app.command("serve")(serve)
app.command("worker")(worker)
app.command("migrate")(migrate)
app.command("providers")(providers)
app.command("runs")(runs)
app.command("mcp")(mcp)
app.add_typer(apikey_app, name="apikey")
app.add_typer(jobs_app, name="jobs")
app.add_typer(events_app, name="events")
app.add_typer(simulate_app, name="simulate")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(oauth_apps_app, name="oauth-apps")
app.add_typer(hooks_app, name="hooks")
app.add_typer(conflicts_app, name="conflicts")
app.add_typer(analytics_app, name="analytics")
app.add_typer(mappings_app, name="mappings")


@app.command("nouns")
def nouns() -> None:
    """List the Nouns (built-in and imported) with their fields and verbs."""
    print_table(
        ["Noun", "fields", "verbs"],
        (
            [n.name, " ".join(n.fields), " ".join(verbs.verbs_of(n))]
            for n in sorted(Noun.registry.values(), key=lambda n: n.name)
        ),
    )


def _take_imports(args: list[str], *, anywhere: bool) -> tuple[list[str], list[str]]:
    """Split ``--import MODULE`` / ``--import=MODULE`` out of ``args`` (leading ones, or anywhere)."""
    found: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--import" and i + 1 < len(args):
            found.append(args[i + 1])
            i += 2
            continue
        if tok.startswith("--import="):
            found.append(tok.split("=", 1)[1])
            i += 1
            continue
        if not anywhere:
            rest.extend(args[i:])
            break
        rest.append(tok)
        i += 1
    return found, rest


def _run_verb(word: str, args: list[str]) -> int:
    more, args = _take_imports(args, anywhere=True)
    import_modules(more)
    inv = verbs.parse_invocation(word, args)
    if inv.options.pop("help", None):
        say(verbs.verb_help(inv.noun, inv.verb), err=False)
        return 0

    async def go() -> None:
        async with open_hub() as hub:
            await verbs.run_verb(inv, hub)

    asyncio.run(go())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    saved_logging = structlog.get_config()
    try:
        return _main(args)
    finally:
        structlog.configure(**saved_logging)


def _main(args: list[str]) -> int:
    debug = False
    try:
        settings = Settings()
        debug = settings.debug
        configure_logging(settings)
        leading, args = _take_imports(args, anywhere=False)
        import_modules([*settings.imports, *leading])
        load_builtins()
        if args and args[0] == "Integration.use":  # a verb with actions of its own (hubwire.cli.use)
            return use.main(args[1:])
        if args and verbs.is_verb_call(args[0]):
            return _run_verb(args[0], args[1:])
        if args and args[0] in Noun.registry and args[1:] in ([], ["-h"], ["--help"]):
            say(verbs.noun_help(Noun.registry[args[0]]), err=False)
            return 0
        rv = app(args=args, prog_name="hubwire", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # the command line itself is wrong (typer's vendored click)
        sys.stderr.write(f"error: {exc.format_message()} (usage_error)\n")
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("aborted\n")
        return 130
    except Exception as exc:
        return print_error(exc, debug=debug)
