"""Loki's query API over the lake: `/loki/api/v1/query`, `/query_range`, `/labels`,
`/label/<name>/values`, `/series`, `/index/stats`, `/index/volume`, `/index/volume_range`,
`/detected_labels`, `/format_query`, `/status/buildinfo`.

Handlers are thin: merge the query string and a form body (Loki accepts both, GET and
POST), parse each parameter with `loglake.query.params`, call the executor or the metadata
functions in a worker thread, and answer with Loki's JSON envelope, or with Loki's
plain-text error and status (`QueryError`). Range metric queries are step-aligned as Loki's
query frontend aligns them; log queries are not.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pyarrow as pa
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MultiDict

import logql2sql
from loglake.query import api, drilldown, encode, params, sqlapi
from loglake.query.errors import QueryError
from loglake.query.executor import Executor
from loglake.query.tail import stream_tail
from loglake.query.tenants import query_tenants, single_tenant
from loglake.server import error_response
from logql2sql.errors import LogQLError

PREFIX = "/loki/api/v1"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
ENCODING_FLAGS_HEADER = "X-Loki-Response-Encoding-Flags"
BUILD_INFO = {
    "version": "3.7.6",
    "revision": "loglake",
    "branch": "main",
    "buildDate": "",
    "buildUser": "loglake",
    "goVersion": "",
}
"""Loki's buildinfo keys; the version is the Loki API loglake follows (Grafana reads it
to decide which features to offer)."""


async def _form(request: Request) -> MultiDict:
    items = list(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        # Go's ParseForm: body values take precedence over the URL's
        body = (await request.body()).decode("utf-8", "replace")
        items = parse_qsl(body, keep_blank_values=True) + items
    return MultiDict(items)


def _tenants(request: Request | WebSocket) -> list[str]:
    settings = request.app.state.settings
    return query_tenants(
        request.headers.get("X-Scope-OrgID"),
        auth_enabled=settings.auth_enabled,
        no_auth_tenant=settings.no_auth_tenant,
    )


def _executor(request: Request | WebSocket) -> Executor:
    state = request.app.state
    if not hasattr(state, "query_executor"):
        state.query_executor = Executor(state.lake)
    return state.query_executor


def _json(data: Any) -> Response:
    return JSONResponse(data, media_type="application/json; charset=UTF-8")


async def _answer(
    request: Request, handler: Callable[[MultiDict, list[str], int], Any]
) -> Response:
    """Run `handler(form, tenants, now_ns)` in a worker thread; errors as Loki's."""
    try:
        form = await _form(request)
        tenants = _tenants(request)
        return _json(await run_in_threadpool(handler, form, tenants, time.time_ns()))
    except QueryError as exc:
        return error_response(exc.status, exc.message)


def add_route(
    app: FastAPI,
    path: str,
    handler: Callable,
    methods: tuple[str, ...] = ("GET", "POST"),
    name: str = "",
    **route: Any,
) -> None:
    """Add `handler` at `PREFIX + path`, one route per method so that every OpenAPI
    operation id (`<name or handler name>_<method>`) is unique."""
    for method in methods:
        operation_id = f"{name or handler.__name__}_{method.lower()}"
        app.add_api_route(
            PREFIX + path, handler, methods=[method], operation_id=operation_id, **route
        )


def register(app: FastAPI) -> None:
    """Add the query routes to `app`: the endpoints of `loglake.query.api`, live tail,
    `format_query`, `buildinfo` and loglake's SQL API."""

    def endpoint(path: str) -> Callable:
        async def answer(request: Request) -> Response:
            executor = _executor(request)
            name = path.replace("{name}", request.path_params.get("name", ""))
            handler = api.handler_for(name)
            if name in api.FLAGGED:
                header = request.headers.get(ENCODING_FLAGS_HEADER)
                handler = functools.partial(handler, flags=encode.encoding_flags(header))
            return await _answer(request, lambda f, t, n: handler(f, t, n, executor))

        answer.__name__ = "loki_" + path.replace("/", "_").replace("{name}", "name")
        return answer

    for path in (*api.ENDPOINTS, api.LABEL_VALUES):
        add_route(app, f"/{path}", endpoint(path))

    @app.websocket(PREFIX + "/tail")
    async def tail(websocket: WebSocket) -> None:
        """Loki's live tail: new entries of a log query, streamed as they become visible.

        As Loki's handler: bad parameters or tenants are refused before the upgrade with
        Loki's status (400; 401 without a tenant when auth is on) and error text; a query
        the tailer cannot run closes the socket with 1011 (internal error) and the text as
        the reason."""
        try:
            tenants = _tenants(websocket)  # first: the auth middleware runs before Loki's handler
            form = MultiDict(list(websocket.query_params.multi_items()))
            request = params.tail_query(form, time.time_ns())
            tenants = [single_tenant(tenants)]
        except QueryError as exc:
            await websocket.send_denial_response(error_response(exc.status, exc.message))
            return
        await websocket.accept()
        await stream_tail(websocket, _executor(websocket), tenants, request)

    async def format_query(request: Request) -> Response:
        form = await _form(request)
        try:
            text = logql2sql.pretty(logql2sql.parse(form.get("query") or ""))
        except LogQLError as exc:
            return JSONResponse({"status": "invalid-query", "error": str(exc)}, status_code=400)
        return _json(encode.success(text))

    @app.post("/api/v1/sql")
    async def sql(request: Request) -> Response:
        """loglake's SQL API: one read-only statement over the tenant's `logs`."""
        try:
            tenant = single_tenant(_tenants(request))
            text = await _sql_text(request)
            lake = request.app.state.lake
            result = await run_in_threadpool(sqlapi.run_sql, lake, tenant, text)
        except QueryError as exc:
            return error_response(exc.status, exc.message)
        if ARROW_STREAM in request.headers.get("accept", ""):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, result.table.schema) as writer:
                writer.write_table(result.table)
            return Response(sink.getvalue().to_pybytes(), media_type=ARROW_STREAM)
        body = encode.success(
            {
                "columns": [{"name": f.name, "type": str(f.type)} for f in result.table.schema],
                "rows": sqlapi.json_rows(result.table),
                "truncated": result.truncated,
            }
        )
        return Response(
            json.dumps(body, default=str, ensure_ascii=False, allow_nan=False),
            media_type="application/json; charset=UTF-8",
        )

    async def buildinfo() -> Response:
        return _json(BUILD_INFO)

    async def drilldown_limits(request: Request) -> Response:
        """The tenant's limits as Logs Drilldown reads them (`loglake.query.drilldown`)."""
        settings = request.app.state.settings
        org_id = request.headers.get("X-Scope-OrgID")
        try:
            body = drilldown.drilldown_limits(settings, org_id, BUILD_INFO["version"])
        except QueryError as exc:
            return error_response(exc.status, exc.message)
        return Response(body, media_type="application/json")

    add_route(app, "/format_query", format_query)
    add_route(app, "/status/buildinfo", buildinfo, ("GET",))
    add_route(app, "/drilldown-limits", drilldown_limits, ("GET",))


async def _sql_text(request: Request) -> str:
    """The statement: JSON `{"query": …}`, a form field `query`, or the raw body."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if content_type.startswith("application/json"):
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise QueryError(f"invalid JSON body: {exc}") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise QueryError('the JSON body must be {"query": "<SQL>"}')
        return payload["query"]
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(body.decode("utf-8", "replace"))).get("query", "")
    return body.decode("utf-8", "replace")
