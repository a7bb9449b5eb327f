"""Sync: pull pages from providers into Nouns, with refs, cursors, runs and conflicts; schedules
(``schedules``, ``frequency``) and the reconciliation of deletions (``reconcile``)."""

from hubwire.sync.engine import Batch, Stream, pull
from hubwire.sync.runs import SyncRun, current_run, finish_run, list_runs, start_run
from hubwire.sync.upsert import Incoming, PageResult, apply_page

__all__ = [
    "Batch",
    "Incoming",
    "PageResult",
    "Stream",
    "SyncRun",
    "apply_page",
    "current_run",
    "finish_run",
    "list_runs",
    "pull",
    "start_run",
]
