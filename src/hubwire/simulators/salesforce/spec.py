"""Salesforce's request description: a (method, path) table built from its CC0 Postman collection.

The collection (``salesforce/postman/collections/salesforce_apis/<folder>/<request>.json`` under the
specs folder) has no schemas, so the check is the one ``specs/README.md`` recommends: each request's
``url`` turned into a regular expression (``{{_endpoint}}`` / ``{{url}}{{site}}`` dropped, the query
string dropped, ``v{{version}}`` any ``vNN.N``, ``<PLACEHOLDER>`` and ``{{_jobId}}`` one path
segment, a trailing ``/`` optional). A path matching several requests is named by the most literal.
Only reads files; never downloads anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hubwire.simulators.specs import load_json

__all__ = ["COLLECTION", "SalesforceRoutes"]

COLLECTION = Path("salesforce") / "postman" / "collections" / "salesforce_apis"
# Routes Salesforce's REST API guide documents that the 2021 collection has no request for: queryMore
# (the ``nextRecordsUrl`` of a query answer) and "Update Multiple Records" (``PATCH composite/sobjects``;
# the collection's update request puts the sObject type in the path, which the guide does not).
_DOCUMENTED_ELSEWHERE = (
    ("PATCH", r"/services/data/v\d+\.\d+/composite/sobjects", "SObject Collections Update (REST API guide)"),
    ("GET", r"/services/data/v\d+\.\d+/query/01g[0-9A-Za-z]+-\d+", "queryMore (nextRecordsUrl)"),
    ("GET", r"/services/data/v\d+\.\d+/queryAll/01g[0-9A-Za-z]+-\d+", "queryMore of queryAll (nextRecordsUrl)"),
)
_HOST = re.compile(r"^\{\{(_endpoint|url)\}\}(\{\{site\}\})?")
_PLACEHOLDER = re.compile(r"<[^>]+>|\{\{_jobId\}\}")


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    placeholders: int


def _regex(url: str) -> tuple[re.Pattern[str], int] | None:
    path = _HOST.sub("", url).split("?", 1)[0].rstrip("/")
    if not path.startswith("/") or "{{" in path.replace("v{{version}}", "").replace("{{_jobId}}", ""):
        return None
    parts, count = [], 0
    for piece in re.split(r"(v\{\{version\}\}|<[^>]+>|\{\{_jobId\}\})", path):
        if piece == "v{{version}}":
            parts.append(r"v\d+\.\d+")
        elif _PLACEHOLDER.fullmatch(piece):
            parts.append("[^/]+")
            count += 1
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts) + "/?"), count


class SalesforceRoutes:
    """Which request of the collection a (method, path) is, if any."""

    def __init__(self, routes: list[_Route]) -> None:
        self.routes = routes

    @classmethod
    def from_specs_dir(cls, specs_dir: Path | None) -> SalesforceRoutes | None:
        folder = None if specs_dir is None else specs_dir / COLLECTION
        if folder is None or not (folder / "index.json").is_file():
            return None
        routes = []
        for path in sorted(folder.glob("*/*.json")):
            request = load_json(path)
            if not isinstance(request, dict) or "method" not in request or "url" not in request:
                continue
            built = _regex(request["url"])
            if built is not None:
                routes.append(_Route(request["method"].upper(), built[0], request.get("name", ""), built[1]))
        for method, pattern, name in _DOCUMENTED_ELSEWHERE:
            routes.append(_Route(method, re.compile(pattern + "/?"), name, 1))
        return cls(routes)

    def operation(self, method: str, path: str) -> str | None:
        """The name of the most literal matching request, or None when the collection has no such request."""
        found = [r for r in self.routes if r.method == method.upper() and r.pattern.fullmatch(path)]
        if not found:
            return None
        return min(found, key=lambda r: r.placeholders).name
