"""OpenAPI declarations of the parameters Loki's query endpoints read.

The query routes read their parameters from the merged form (query string and form body,
as Loki does), so FastAPI cannot infer them; without declarations `/openapi.json` would
show parameterless operations and a schema-driven fuzzer (schemathesis) would never send a
`query`, `start` or `step`. Every value is declared as a string: Loki parses them itself
(ns, float seconds, RFC 3339, durations) and answers malformed ones with a 400.

The parameter names come from the route table (`api.ENDPOINTS`, `api.LABEL_VALUES`), and
for the few paths routed elsewhere from `_ELSEWHERE` here.

`parameters(path)` gives the declarations of one path under `/loki/api/v1/`;
`describe(schema)` fills them into an OpenAPI document for every Loki operation that
declares no query parameters (routes may also pass them as `openapi_extra`).

>>> [p["name"] for p in parameters("detected_field/{name}/values")][:3]
['name', 'query', 'start']
>>> doc = {"paths": {"/loki/api/v1/labels": {"get": {}}}}
>>> [p["name"] for p in describe(doc)["paths"]["/loki/api/v1/labels"]["get"]["parameters"]]
['start', 'end', 'since', 'query']
"""

from __future__ import annotations

from typing import Any

from loglake.query import api

PREFIX = "/loki/api/v1/"

_ELSEWHERE: dict[str, tuple[str, ...]] = {
    "detected_fields": ("query", *api.BOUNDS, "line_limit", "limit", "field_limit", "step"),
    "detected_field/{name}/values": ("query", *api.BOUNDS, "line_limit", "limit", "step"),
    "format_query": ("query",),
    "tail": ("query", "start", "limit", "delay_for"),
}
"""The paths routed outside `api`'s table (`loglake.routes.detected`, `format_query` and
the websocket `tail` in `loglake.routes.query`) and the parameters they read."""
_BY_PATH: dict[str, tuple[str, ...]] = {**api.parameter_names(), **_ELSEWHERE}


def parameters(path: str) -> list[dict[str, Any]]:
    """The OpenAPI parameter objects of `/loki/api/v1/<path>` (path parameters first)."""
    out: list[dict[str, Any]] = []
    if "{name}" in path:
        out.append({"name": "name", "in": "path", "required": True, "schema": {"type": "string"}})
    for name in _BY_PATH.get(path, ()):
        schema: dict[str, Any] = {"type": "string"}
        if name == "match[]":
            schema = {"type": "array", "items": {"type": "string"}}
        out.append({"name": name, "in": "query", "required": False, "schema": schema})
    return out


def query_parameters(path: str) -> list[dict[str, Any]]:
    """Only the query-string parameters (for routes whose path parameters FastAPI declares)."""
    return [p for p in parameters(path) if p["in"] == "query"]


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """Fill Loki's parameters into the operations of `schema` that declare none (in place;
    returns it)."""
    for url, operations in schema.get("paths", {}).items():
        if not url.startswith(PREFIX):
            continue
        path = url[len(PREFIX) :]
        if path not in _BY_PATH:
            continue
        for operation in operations.values():
            declared = operation.get("parameters", [])
            if any(p.get("in") == "query" for p in declared):
                continue
            others = [p for p in declared if p.get("in") != "path"]
            operation["parameters"] = parameters(path) + others
    return schema
