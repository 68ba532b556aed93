"""Loki's detected-fields routes: `GET/POST /loki/api/v1/detected_fields` and
`/loki/api/v1/detected_field/<name>/values`, as Grafana's Logs Drilldown and the Loki data
source call them (`loglake.query.detected` holds the logic).

The bodies are Loki's `DetectedFieldsResponse` without the `{"status", "data"}` envelope:
Grafana's `metadataRequest` reads `data` first, so these answers must not carry one.
Parameters and errors go through the query API's helpers (form merging, tenants, worker
thread, Loki's plain-text errors).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from loglake.query import detected, openapi
from loglake.routes.query import _answer, _executor, add_route


def register(app: FastAPI) -> None:
    """Add the detected-fields routes to `app` (one route per method, unique ids)."""

    async def detected_fields(request: Request) -> Response:
        executor = _executor(request)
        return await _answer(request, lambda f, t, n: detected.detected_fields(f, t, n, executor))

    async def detected_field_values(request: Request, name: str) -> Response:
        executor = _executor(request)
        return await _answer(
            request, lambda f, t, n: detected.detected_field_values(name, f, t, n, executor)
        )

    routes = (
        ("detected_fields", detected_fields, "loki_detected_fields"),
        ("detected_field/{name}/values", detected_field_values, "loki_detected_field_values"),
    )
    for path, handler, name in routes:
        extra = {"parameters": openapi.query_parameters(path)}
        add_route(app, f"/{path}", handler, name=name, openapi_extra=extra)
