"""The Noun declarations that ship with Hubwire, a module per domain."""

from hubwire.domains.analytics import Event, Metric
from hubwire.domains.platform import Integration
from hubwire.domains.projects import Comment, Issue, Project

__all__ = ["Comment", "Event", "Integration", "Issue", "Metric", "Project"]
