"""``hubwire Integration.use ID ACTION ...``: direct provider calls from the command line.

The CLI face of ``Integration.use`` (:mod:`hubwire.connectors.direct`)::

    hubwire Integration.use salesforce request GET /services/data/v60.0/limits
    hubwire Integration.use salesforce create Lead --data '{"LastName": "Lovelace", "Company": "Acme"}'
    hubwire Integration.use integration_x list Account --limit 20
    hubwire Integration.use hubspot get contact 10001
    hubwire Integration.use hubspot update contact 10001 --data '{"properties": {"jobtitle": "CTO"}}'

``ID`` is an Integration id or a provider slug with one connected Integration. The answer is
printed as JSON (a request's as ``{status, headers, body}``); a provider's refusal is one line,
``error: <the provider's words> (<its code>)``, like every CLI error (``DUPLICATE_VALUE``,
``REQUIRED_FIELD_MISSING``...). Never prints a credential.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from hubwire.cli.output import UsageError, print_json, say
from hubwire.cli.runtime import open_hub
from hubwire.domains.platform import Integration

__all__ = ["HELP", "main"]

HELP = """usage: hubwire Integration.use ID ACTION ... [--json]
  request METHOD PATH [--query JSON] [--data JSON]   any call to the provider's API
  create RESOURCE --data JSON                        create a record (e.g. Lead, contact, persons)
  get RESOURCE REMOTE_ID                             read one record
  update RESOURCE REMOTE_ID --data JSON              update a record
  list RESOURCE [--limit N]                          list records (default 100)
ID is an Integration id or a provider slug with one connected Integration."""
_ACTIONS = {"request": 2, "create": 1, "get": 2, "update": 2, "list": 1}
_OPTIONS = ("--data", "--query", "--limit")


def _parse(args: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        tok = args[i]
        name, eq, inline = tok.partition("=")
        if name in _OPTIONS:
            if eq:
                options[name[2:]] = inline
            elif i + 1 < len(args):
                options[name[2:]] = args[i + 1]
                i += 1
            else:
                raise UsageError(f"{name} needs a value", option=name[2:])
        elif tok == "--json":  # the output is JSON already; accepted as every verb accepts it
            pass
        elif tok.startswith("--"):
            raise UsageError(f"Integration.use does not take {tok} (options: {', '.join(_OPTIONS)})", option=tok)
        else:
            positional.append(tok)
        i += 1
    return positional, options


def _object(options: dict[str, str], name: str) -> dict[str, Any] | None:
    text = options.get(name)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--{name} must be a JSON object: {exc}", option=name) from None
    if not isinstance(value, dict):
        raise UsageError(f"--{name} must be a JSON object", option=name)
    return value


async def _run(ref: str, action: str, rest: list[str], options: dict[str, str]) -> Any:
    data = _object(options, "data")
    if action in ("create", "update") and data is None:
        raise UsageError(f"{action} needs --data with the record's fields, as a JSON object", option="data")
    client = await Integration.use(ref)
    if action == "request":
        return (await client.request(rest[0], rest[1], query=_object(options, "query"), body=data)).to_dict()
    if action == "create":
        return await client.create(rest[0], data or {})
    if action == "get":
        return await client.get(rest[0], rest[1])
    if action == "update":
        return await client.update(rest[0], rest[1], data or {})
    limit = options.get("limit", "100")
    if not limit.isdigit() or int(limit) < 1:
        raise UsageError("--limit is a positive integer", option="limit")
    return await client.list(rest[0], limit=int(limit))


def main(args: Sequence[str]) -> int:
    """Run ``Integration.use`` with the words after it; errors propagate to the CLI's one error printer."""
    if not args or args[0] in ("-h", "--help") or any(a in ("-h", "--help") for a in args):
        say(HELP, err=False)
        return 0
    positional, options = _parse(args)
    if len(positional) < 2 or positional[1] not in _ACTIONS:
        raise UsageError(f"Integration.use needs an Integration and an action ({', '.join(_ACTIONS)}); see --help")
    ref, action, rest = positional[0], positional[1], positional[2:]
    if len(rest) != _ACTIONS[action]:
        raise UsageError(f"Integration.use ID {action} takes {_ACTIONS[action]} argument(s); see --help")

    async def go() -> Any:
        async with open_hub():
            return await _run(ref, action, rest, options)

    print_json(asyncio.run(go()))
    return 0
