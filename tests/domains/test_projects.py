"""The Projects Nouns without any provider: Issue status moves with complete / close / reopen."""

from __future__ import annotations

from typing import Any

import pytest

from hubwire.domains.projects import Comment, Issue, Project
from hubwire.errors import IllegalTransitionError
from hubwire.hub import Hub


async def test_issue_verbs_move_the_status_and_fire_their_hooks(hub: Hub) -> None:
    project = await Project.create(name="Local", full_name="me/local")
    issue = await Issue.create(title="Add dark mode", project=project.id)
    assert issue["status"] == "Open" and issue["is_pull_request"] is False
    seen: list[str] = []

    @Issue.completed
    async def completed(entity: Any, ctx: Any) -> None:
        seen.append(ctx.event.type)

    @Issue.reopened
    async def reopened(entity: Any, ctx: Any) -> None:
        seen.append(ctx.event.type)

    assert (await Issue.complete(issue.id))["status"] == "Completed"
    with pytest.raises(IllegalTransitionError):
        await Issue.complete(issue.id)
    again = await Issue.reopen(issue.id)
    assert again["status"] == "Open" and again["closed_at"] is None
    with pytest.raises(IllegalTransitionError, match="from Open to Open"):
        await Issue.reopen(issue.id)
    assert (await Issue.close(issue.id))["status"] == "Closed"
    assert seen == ["Issue.Completed", "Issue.Reopened"]
    assert [i.id for i in await Issue.find({"status": "Done"})] == [issue.id]  # Completed or Closed

    comment = await Comment.create(body="Nice", issue=issue.id)
    assert comment["issue"] == issue.id
