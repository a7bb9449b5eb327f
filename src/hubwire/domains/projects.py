"""Projects Nouns of the seed: ``Project`` (a repository), ``Issue`` (issues and pull requests), ``Comment``.

GitHub is their truth source once connected (``hubwire.connectors.github``): syncs fill them, and
their verbs write through to GitHub first. An Issue's ``status`` moves with its verbs:

    Open --complete--> Completed      (closed as done: GitHub state_reason "completed")
    Open --close-----> Closed         (closed without doing it: GitHub state_reason "not_planned")
    Completed | Closed --reopen--> Open

so ``@Issue.completed`` runs when an issue is finished, as in the seed
(``Issue.completed((issue, $) => ...)``), ``Issue.Closed`` is a won't-do, and ``Issue.Reopened``
is emitted when either comes back. Pull requests are Issues with ``is_pull_request`` true; their
``merged`` says whether they were merged (and ``merged_at`` when); an issue's ``merged`` is null.
"""

from __future__ import annotations

from hubwire.nouns.entity import Entity
from hubwire.nouns.noun import Noun

__all__ = ["Comment", "Issue", "Project"]

Project = Noun(
    "Project",
    {
        "name": "string!",
        "fullName": "string##",
        "description": "text",
        "url": "string",
        "private": "boolean",
        "defaultBranch": "string",
        "owner": "string#",
        "topics": "string[]",
        "openIssues": "integer",
    },
    description="A code project: a GitHub repository.",
)

ISSUE_SCHEMA = {
    "title": "string!",
    "body": "text",
    "status": "Open | Completed | Closed",
    "number": "integer#",
    "labels": "string[]",
    "assignees": "string[]",
    "url": "string",
    "isPullRequest": "boolean",
    "merged": "boolean",
    "mergedAt": "datetime",
    "project": "-> Project",
    "author": "string",
    "comments": "integer",
    "openedAt": "datetime",
    "closedAt": "datetime",
    "complete": "Completed",
    "close": "Closed",
    "reopen": "Reopened",
}

ISSUE_STATES = {
    "status": {
        "Open": ["Completed", "Closed"],
        "Completed": ["Open", "Closed"],
        "Closed": ["Open", "Completed"],
    }
}


Issue = Noun(
    "Issue",
    ISSUE_SCHEMA,
    defaults={"status": "Open", "is_pull_request": False},
    states=ISSUE_STATES,
    # Reopened is an event, not a state: reopening moves the status back to Open (from Open: refused).
    verb_states={"reopen": "Open"},
    aliases={"status": {"Done": ["Completed", "Closed"]}},
    description="An issue or pull request of a Project.",
)


@Issue.reopening
def _forget_closed_at(issue: Entity) -> None:
    issue["closed_at"] = None


Comment = Noun(
    "Comment",
    {
        "body": "text!",
        "issue": "-> Issue",
        "author": "string",
        "url": "string",
        "postedAt": "datetime",
    },
    description="A comment on an Issue.",
)
