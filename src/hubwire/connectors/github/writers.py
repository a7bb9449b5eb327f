"""Write-through to GitHub: Issue and Comment verbs call GitHub first, then commit what GitHub answered.

``Issue.create(title=..., project=...)`` on a Project synced from GitHub -> ``POST /repos/{o}/{r}/issues``;
``Issue.update`` -> ``PATCH`` (title, body, labels, assignees); ``Issue.complete`` / ``close`` /
``reopen`` -> ``PATCH`` state (``completed`` / ``not_planned`` / ``open``); ``Comment.create`` on a
synced Issue -> ``POST .../issues/{n}/comments``. The local entity takes GitHub's values (number,
url, author...) and its external ref is saved in the verb's transaction with the hash a sync would
compute, so the next sync sees it unchanged. A GitHub error raises before anything is written.

Entities with no GitHub counterpart (a Project created locally) stay local; verbs run by a sync
(``current_source() == "github"``) never write back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hubwire.connectors.github.provider import COMMENT, ISSUE, GitHub, GitHubConnection, issue_key, parse_issue_key
from hubwire.connectors.registry import ProviderContext
from hubwire.connectors.runtime import to_incoming
from hubwire.domains.platform import ACTIVE, Integration
from hubwire.domains.projects import Comment, Issue, Project
from hubwire.errors import ConfigurationError
from hubwire.hub import Hub
from hubwire.nouns.entity import Entity
from hubwire.nouns.verbs import InTx, VerbCall
from hubwire.store.tables import external_refs
from hubwire.store.transaction import Tx
from hubwire.sync.state import Ref, save_refs
from hubwire.sync.upsert import fingerprint, to_epoch
from hubwire.vault.credentials import load_credentials

__all__ = ["install_writers", "write_comment", "write_issue"]

_STATE_VERBS = {
    "complete": {"state": "closed", "state_reason": "completed"},
    "close": {"state": "closed", "state_reason": "not_planned"},
    "reopen": {"state": "open"},
}
_STATUS_PATCH = {"Completed": _STATE_VERBS["complete"], "Closed": _STATE_VERBS["close"], "Open": {"state": "open"}}


async def _ref_of(hub: Hub, entity_id: str, resource: str) -> tuple[str, str] | None:
    """``(integration_id, remote_id)`` of a GitHub-linked entity, if it has one."""
    async with hub.read() as conn:
        rows = (
            await conn.execute(
                sa.select(external_refs.c.integration_id, external_refs.c.remote_id).where(
                    external_refs.c.entity_id == entity_id, external_refs.c.resource == resource
                )
            )
        ).all()
    for integration_id, remote_id in rows:
        try:
            integration = await Integration.get(integration_id)
        except Exception:  # the integration was deleted: the ref is stale
            continue
        if integration["provider"] == GitHub.slug and integration["status"] in ACTIVE:
            return integration_id, remote_id
    return None


async def _connection(hub: Hub, integration_id: str) -> GitHubConnection:
    integration = await Integration.get(integration_id)
    prov = hub.providers.get(GitHub.slug)
    if not isinstance(prov, GitHub):
        raise ConfigurationError("the github provider registered on this hub is not Hubwire's", provider="github")
    creds = await load_credentials(hub, integration_id)
    return prov.connection(ProviderContext(hub, prov, integration, creds, dict(integration.get("config") or {})))


def _link(integration_id: str, resource: str, remote_id: str, noun: str, record: dict[str, Any]) -> InTx:
    """Save the entity's external ref in the verb's transaction, hashed as a sync would hash it."""

    async def save(tx: Tx, entity: Entity) -> None:
        mapped = {n: entity.get(n) for n in _mapped_fields(resource)}
        digest = fingerprint({k: v for k, v in mapped.items() if v is not None})
        updated = to_epoch(record.get("updated_at"))
        ref = Ref(resource, remote_id, noun, entity.id, digest, entity.version, updated, mapped)
        await save_refs(tx, integration_id, [ref])

    return save


def _mapped_fields(resource: str) -> list[str]:
    res = ISSUE if resource == "issue" else COMMENT
    assert res.mapping is not None
    return [*res.mapping.fields, *res.mapping.relations]


async def write_issue(call: VerbCall) -> None:
    if call.source == GitHub.slug or call.verb == "delete":
        return
    hub = call.hub
    if call.verb == "create":
        project_id = call.proposed.get("project")
        linked = await _ref_of(hub, project_id, "repo") if project_id else None
        if linked is None:
            return
        integration_id, _ = linked
        project = await Project.get(str(project_id))
        full = project["full_name"]
        body: dict[str, Any] = {"title": call.proposed["title"]}
        for name in ("body", "labels", "assignees"):
            if call.proposed.get(name):
                body[name] = call.proposed[name]
        conn = await _connection(hub, integration_id)
        record = await conn.send_json("POST", f"/repos/{full}/issues", body)
        if call.proposed.get("status") in ("Completed", "Closed"):
            n = record["number"]
            record = await conn.send_json("PATCH", f"/repos/{full}/issues/{n}", _STATUS_PATCH[call.proposed["status"]])
        key = issue_key(full, record["number"])
    else:
        linked = await _ref_of(hub, call.id, "issue")
        if linked is None:
            return
        integration_id, key = linked
        full, number = parse_issue_key(key)
        patch: dict[str, Any] = {
            k: call.changes[k] for k in ("title", "body", "labels", "assignees") if k in call.changes
        }
        if call.verb in _STATE_VERBS:
            patch.update(_STATE_VERBS[call.verb])
        elif "status" in call.changes and call.current is not None and call.changes["status"] != call.current["status"]:
            patch.update(_STATUS_PATCH[call.changes["status"]])
        if not patch:
            return
        conn = await _connection(hub, integration_id)
        record = await conn.send_json("PATCH", f"/repos/{full}/issues/{number}", patch)
    record["_key"] = key
    record["_repo_id"] = None
    inc = to_incoming(ISSUE, record)
    assert inc is not None
    fields = dict(inc.fields)
    fields.pop("project", None)
    for name, value in fields.items():
        call.proposed[name] = value
    call.in_tx.append(_link(integration_id, "issue", key, Issue.name, record))


async def write_comment(call: VerbCall) -> None:
    if call.source == GitHub.slug or call.verb != "create":
        return
    issue_id = call.proposed.get("issue")
    linked = await _ref_of(call.hub, issue_id, "issue") if issue_id else None
    if linked is None:
        return
    integration_id, key = linked
    full, number = parse_issue_key(key)
    conn = await _connection(call.hub, integration_id)
    record = await conn.send_json("POST", f"/repos/{full}/issues/{number}/comments", {"body": call.proposed["body"]})
    record["_issue_key"] = None
    inc = to_incoming(COMMENT, record)
    assert inc is not None
    for name, value in inc.fields.items():
        if name != "issue":
            call.proposed[name] = value
    call.in_tx.append(_link(integration_id, "comment", str(record["id"]), Comment.name, record))


def install_writers() -> None:
    """Register the writers on the Nouns (idempotent)."""
    if write_issue not in Issue.writers:
        Issue.add_writer(write_issue)
    if write_comment not in Comment.writers:
        Comment.add_writer(write_comment)
