"""Message templates: Jinja2 in its immutable sandbox, rendering an event for a chat, a mail or an SMS.

A routing rule's ``template`` sees the delivered event as ``event`` (its name), ``timestamp``,
``seq`` and ``data`` (the entity): ``*New order* {{ data.name }}``. Templates come from API users,
so they are untrusted code:

- the sandbox refuses attributes starting with ``_`` (``''.__class__.__mro__``...), calling unsafe
  methods and changing values; a template that reaches for one is refused *when it is connected*
  (:func:`check`: the names are read from the parsed template, then it is rendered once against the
  event registry's example payload), and one that still trips the sandbox fails its delivery for good;
- ``range`` makes at most 10,000 numbers per render (nested loops included), ``*`` and ``**`` are
  bounded (no gigabyte strings), the output is cut at ``MAX_OUTPUT`` characters and a template is at
  most ``MAX_TEMPLATE`` characters (loops over the event's own lists are bounded by its size);
- interpolated values are escaped for where they go (``escape``: Slack's ``&<>``, HTML for mail),
  so an entity's name cannot ping ``<!channel>`` or inject markup; the template's own text is not.

Without a template, :func:`default_text` says the event and a summary of the entity.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from hubwire.errors import ValidationError
from hubwire.events import registry as event_registry

__all__ = [
    "ESCAPES",
    "MAX_OUTPUT",
    "MAX_TEMPLATE",
    "RenderError",
    "check",
    "default_text",
    "html_escape",
    "render",
    "slack_escape",
]

MAX_TEMPLATE = 8000
MAX_OUTPUT = 16000
_MAX_REPEAT = 10000  # the longest string or list ``*`` may make
Escape = Callable[[str], str]


class RenderError(Exception):
    """A template that cannot render this event (refused by the sandbox, or broken)."""


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and (abs(_num(left)) > 1000 or abs(_num(right)) > 64):
            raise SecurityError("'**' on numbers this big is not allowed in a message template")
        if operator == "*":
            sized = left if isinstance(left, str | list | tuple) else right
            times = right if sized is left else left
            if isinstance(sized, str | list | tuple) and len(sized) * abs(_num(times)) > _MAX_REPEAT:
                raise SecurityError(f"'*' may not make more than {_MAX_REPEAT} items in a message template")
        return super().call_binop(context, operator, left, right)


def _bounded_range() -> Callable[..., range]:
    """``range`` for one render: all its calls together make at most ``_MAX_REPEAT`` numbers, so nested
    loops cannot spin a worker (the sandbox bounds only each call)."""
    left = [_MAX_REPEAT]

    def bounded(*args: Any) -> range:
        made = range(*args)
        left[0] -= len(made)
        if left[0] < 0:
            raise SecurityError(f"range() may make at most {_MAX_REPEAT} numbers in all in a message template")
        return made

    return bounded


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _finalizer(escape: Escape | None) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        if value is None:
            return ""
        return escape(str(value)) if escape is not None else value

    return finalize


@cache
def _env(escape: Escape | None) -> _Sandbox:
    return _Sandbox(autoescape=False, finalize=_finalizer(escape), keep_trailing_newline=False)


def _unsafe_names(tree: nodes.Template) -> list[str]:
    """Attribute and item names starting with ``_``, however spelled (``x.__class__``, ``x['_a']``, ``|attr('_a')``)."""
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        names: list[Any] = []
        if isinstance(node, nodes.Getattr):
            names = [node.attr]
        elif isinstance(node, nodes.Getitem):
            names = [node.arg.value] if isinstance(node.arg, nodes.Const) else []
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            names = [a.value for a in node.args if isinstance(a, nodes.Const)]
        found += [n for n in names if isinstance(n, str) and n.startswith("_")]
    return found


def check(template: Any, events: list[str], escape: Escape | None = None, field: str = "template") -> str:
    """The template, refused (ValidationError) when it is not text, too long, invalid, or reaches past
    the sandbox; rendered once against the example payload of the first event it will get."""
    if not isinstance(template, str) or not template.strip():
        raise ValidationError.single(field, "invalid", "template must be non-empty text")
    if len(template) > MAX_TEMPLATE:
        raise ValidationError.single(field, "too_long", f"template is longer than {MAX_TEMPLATE} characters")
    env = _env(escape)
    try:
        tree = env.parse(template)
    except TemplateError as exc:
        raise ValidationError.single(field, "invalid_template", f"template does not parse: {exc}") from None
    unsafe = _unsafe_names(tree)
    if unsafe:
        raise ValidationError.single(
            field, "unsafe_template", f"template reaches for {sorted(set(unsafe))}: names starting with _ are refused"
        )
    sample = _example(events)
    try:
        render(template, sample, escape)
    except RenderError as exc:
        raise ValidationError.single(field, "unsafe_template", f"template cannot render: {exc}") from None
    return template


def _example(events: list[str]) -> dict[str, Any]:
    """An event as a template sees it, from the registry's example of the first named event."""
    names = event_registry.names()
    for pattern in events:
        for name in names:
            if event_registry.matches(pattern, name):
                example = event_registry.event_type(name).example
                data = example if isinstance(example, Mapping) else {}
                return {"event": name, "timestamp": "2026-01-01T00:00:00Z", "seq": 1, "data": dict(data)}
    return {"event": "", "timestamp": "", "seq": None, "data": {}}


def render(template: str, event: Mapping[str, Any], escape: Escape | None = None) -> str:
    """The template rendered for ``event`` (``{"event", "timestamp", "seq", "data"}``), cut at MAX_OUTPUT."""
    env = _env(escape)
    try:
        text = env.from_string(template).render(
            event=event.get("event"),
            timestamp=event.get("timestamp"),
            seq=event.get("seq"),
            data=event.get("data"),
            range=_bounded_range(),
        )
    except SecurityError as exc:
        raise RenderError(f"refused by the sandbox: {exc}") from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from None
    return text[:MAX_OUTPUT]


_SKIPPED = ("created_at", "updated_at", "version")


def default_text(event: Mapping[str, Any], escape: Escape | None = None, *, limit: int = 6) -> str:
    """``Deal.Closed: Deal "Enterprise" (deal_x)`` and up to ``limit`` of the entity's simple fields, a line each."""
    esc = escape or (lambda s: s)
    name = str(event.get("event") or "event")
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    noun = str(data.get("$type") or name.split(".")[0])
    label = next((data[k] for k in ("name", "title", "subject", "email") if isinstance(data.get(k), str)), None)
    eid = data.get("$id")
    head = f"{name}: {noun}" + (f' "{esc(str(label))}"' if label else "") + (f" ({esc(str(eid))})" if eid else "")
    lines = [
        f"{k}: {esc(str(v))}"
        for k, v in data.items()
        if not str(k).startswith("$")
        and k not in _SKIPPED
        and isinstance(v, str | int | float | bool)
        and v != ""
        and not (isinstance(v, str) and len(v) > 200)
    ][:limit]
    return "\n".join([head, *lines])


def slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def html_escape(text: str) -> str:
    return html.escape(text, quote=True)


ESCAPES: dict[str, Escape] = {"slack": slack_escape, "html": html_escape}
