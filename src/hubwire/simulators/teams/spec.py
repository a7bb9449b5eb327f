"""Checking Microsoft Teams webhook messages: the envelope by hand, each Adaptive Card against the
official Adaptive Cards 1.5 schema (``msteams/adaptive-card-1.5.0.json``, JSON Schema draft-06).

The envelope (``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <card>}]}``) has no
machine-readable description, so its keys and values are checked here. Each card is validated with
``jsonschema.Draft6Validator`` after removing Teams' own ``msteams`` extension, which the schema
rejects and which is checked separately (``width: "Full"``, ``entities`` of mentions whose text
appears in the card), as the specs README recommends. Errors inside ``body``/``actions`` come as
"not valid under any of the given schemas": the reason is found in the branch of the element's own
``type``. Loaded once per process via :mod:`hubwire.simulators.specs`; without the specs folder (or
jsonschema) cards are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubwire.simulators.specs import RequestCheck, cached_spec, load_json

__all__ = ["ADAPTIVE_CARD_SPEC_PATH", "CARD_CONTENT_TYPE", "TeamsSpec", "check_envelope", "teams_spec"]

ADAPTIVE_CARD_SPEC_PATH = Path("msteams") / "adaptive-card-1.5.0.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_ENVELOPE_KEYS = frozenset({"type", "attachments"})
_ATTACHMENT_KEYS = frozenset({"contentType", "contentUrl", "content"})
_MSTEAMS_KEYS = frozenset({"width", "entities"})


def check_envelope(payload: Any) -> list[str]:
    """Problems of a webhook message's envelope (the cards themselves are the schema's business)."""
    if not isinstance(payload, dict):
        return ["the message must be a JSON object"]
    problems = [f"envelope key {k!r} is not part of a Teams card message" for k in payload if k not in _ENVELOPE_KEYS]
    if payload.get("type") != "message":
        problems.append(f"type must be 'message', not {payload.get('type')!r}")
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return [*problems, "attachments must be a non-empty array of cards"]
    for i, att in enumerate(attachments):
        if not isinstance(att, dict):
            problems.append(f"attachments[{i}] must be an object")
            continue
        problems += [f"attachments[{i}]: key {k!r} is not expected" for k in att if k not in _ATTACHMENT_KEYS]
        if att.get("contentType") != CARD_CONTENT_TYPE:
            problems.append(
                f"attachments[{i}].contentType must be {CARD_CONTENT_TYPE!r}, not {att.get('contentType')!r}"
            )
        if att.get("contentUrl") is not None:
            problems.append(f"attachments[{i}].contentUrl must be null or absent")
        if not isinstance(att.get("content"), dict):
            problems.append(f"attachments[{i}].content must be the Adaptive Card object")
    return problems


def _check_msteams(ext: Any, card: Mapping[str, Any]) -> list[str]:
    if not isinstance(ext, dict):
        return ["msteams must be an object"]
    problems = [f"msteams: key {k!r} is not a Teams card extension" for k in ext if k not in _MSTEAMS_KEYS]
    if "width" in ext and str(ext["width"]).lower() != "full":
        problems.append(f"msteams.width must be 'Full', not {ext['width']!r}")
    entities = ext.get("entities", [])
    if not isinstance(entities, list):
        return [*problems, "msteams.entities must be an array"]
    text = json.dumps({k: v for k, v in card.items() if k != "msteams"})
    for i, ent in enumerate(entities):
        mentioned = ent.get("mentioned") if isinstance(ent, dict) else None
        if not isinstance(ent, dict) or ent.get("type") != "mention" or not isinstance(mentioned, dict):
            problems.append(
                f"msteams.entities[{i}] must be {{'type': 'mention', 'text', 'mentioned': {{'id', 'name'}}}}"
            )
            continue
        if not mentioned.get("id") or not mentioned.get("name"):
            problems.append(f"msteams.entities[{i}].mentioned needs 'id' and 'name'")
        if not ent.get("text") or json.dumps(str(ent["text"]))[1:-1] not in text:
            problems.append(f"msteams.entities[{i}].text {ent.get('text')!r} does not appear in the card")
    return problems


class TeamsSpec:
    """The Adaptive Cards 1.5 schema, ready to check cards."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        from jsonschema import Draft6Validator

        self.validator = Draft6Validator(schema)

    def check_message(self, payload: Any) -> RequestCheck:
        """Problems of one webhook message: its envelope, then each card."""
        problems = check_envelope(payload)
        if problems:
            return RequestCheck("teams-webhook", tuple(problems))
        for i, att in enumerate(payload["attachments"]):
            card = dict(att["content"])
            ext = card.pop("msteams", None)
            where = f"attachments[{i}].content"
            if ext is not None:
                problems += [f"{where}: {p}" for p in _check_msteams(ext, att["content"])]
            for err in self.validator.iter_errors(card):
                problems += [f"{where}{r}" for r in _reasons(err)]
        return RequestCheck("teams-webhook", tuple(problems))


def _reasons(err: Any) -> list[str]:
    """The specific reasons under an ``anyOf`` error: those of the branch whose element ``type`` matched."""
    if not err.context:
        return [f"{''.join(f'[{p!r}]' for p in err.absolute_path) or ''}: {err.message[:300]}"]
    branches: dict[Any, list[Any]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    depth = len(err.absolute_path)

    def type_mismatch(sub: Any) -> bool:
        path = list(sub.absolute_path)
        return len(path) == depth + 1 and path[-1] == "type"

    matching = [subs for subs in branches.values() if not any(type_mismatch(s) for s in subs)]
    if not matching:
        kind = err.instance.get("type") if isinstance(err.instance, dict) else None
        where = "".join(f"[{p!r}]" for p in err.absolute_path)
        return [f"{where}: unknown element type {kind!r}"]
    return [r for sub in min(matching, key=len) for r in _reasons(sub)]


def teams_spec(specs_dir: Path | None = None) -> TeamsSpec | None:
    """The Adaptive Cards schema under ``specs_dir`` (default: the shared folder), loaded once; None if absent."""
    return cached_spec(
        specs_dir, ADAPTIVE_CARD_SPEC_PATH, lambda path: TeamsSpec(load_json(path)), requires="jsonschema"
    )
