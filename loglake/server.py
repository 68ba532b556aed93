"""The HTTP server: Loki's push API over the lake, plus `/ready` and `/metrics`.

`create_app(settings)` builds the ASGI app; `serve(settings)` runs it with uvicorn. Routes
are thin: they resolve the tenant, hand the body to the ingest decoder and validator, wait
for the landing group commit, and shape the answer exactly as Loki does (204 once the data
is durable; Loki's status codes and plain-text messages otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
import threading
import time
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException

from loglake import routes
from loglake.config import Settings
from loglake.ingest.errors import PushError
from loglake.ingest.labels import tenant_from_org_id
from loglake.ingest.push import build_entries, decode_push_batch
from loglake.ingest.ratelimit import IngestionRateLimiter
from loglake.lake import Lake
from loglake.metrics import Metrics
from loglake.query.openapi import describe
from storage.flush import FlushError
from storage.landing import GroupCommitter, list_landing

log = logging.getLogger("loglake.server")


def error_response(status: int, message: str) -> PlainTextResponse:
    """A Loki-style error: the message as plain text with a trailing newline (Go's
    `http.Error`)."""
    return PlainTextResponse(
        message + "\n", status_code=status, headers={"X-Content-Type-Options": "nosniff"}
    )


class Ingester:
    """Push handling without HTTP: decode, validate, rate-limit, land durably, count."""

    def __init__(self, lake: Lake, metrics: Metrics) -> None:
        self.lake = lake
        self.settings = lake.settings
        self.metrics = metrics
        self.committer = GroupCommitter(lake.store, lake.settings.lake.group_commit_max_bytes)
        metrics.watch_landing(self.committer.stats)
        self.rate_limiter = IngestionRateLimiter()

    def tenant(self, request: Request) -> str:
        """The tenant of a request: `X-Scope-OrgID`, or `no_auth_tenant` without auth."""
        if not self.settings.auth_enabled:
            return self.settings.no_auth_tenant
        return tenant_from_org_id(request.headers.get("X-Scope-OrgID"))

    async def push(
        self, tenant: str, body: bytes, content_type: str | None, encoding: str | None
    ) -> None:
        """Land one push request; raises PushError with Loki's status and message."""
        limits = self.settings.limits_for(tenant)
        landed = None
        with self.committer.announce():  # the writer holds its next object open for this one
            batch = decode_push_batch(body, content_type, encoding)
            result = build_entries(batch, limits, tenant, time.time_ns())
            for reason, discarded in result.discarded.items():
                self.metrics.discarded_samples.labels(reason, tenant).inc(discarded.lines)
                self.metrics.discarded_bytes.labels(reason, tenant).inc(discarded.bytes)
            if result.lines:
                limited = self.rate_limiter.check(tenant, limits, result.lines, result.bytes)
                if limited is not None:
                    self.metrics.discarded_samples.labels("rate_limited", tenant).inc(result.lines)
                    self.metrics.discarded_bytes.labels("rate_limited", tenant).inc(result.bytes)
                    raise limited
                landed = self.committer.submit_parts(tenant, result.rows, result.stream_labels)
        if landed is not None:
            await asyncio.wrap_future(landed)
            self.metrics.lines_received.labels(tenant).inc(result.lines)
            self.metrics.bytes_received.labels(tenant).inc(result.bytes)
        if result.error is not None:
            raise result.error

    def close(self) -> None:
        """Finish pending landing writes."""
        self.committer.close()


class BackgroundFlusher:
    """Flushes the lake every `interval` seconds in a thread, when configured."""

    def __init__(self, lake: Lake, metrics: Metrics, interval_s: float) -> None:
        self.lake, self.metrics, self.interval_s = lake, metrics, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flusher", daemon=True)

    def start(self) -> None:
        """Start flushing in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the flush in progress, if any."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            run_flush(self.lake, self.metrics)


def run_flush(lake: Lake, metrics: Metrics) -> None:
    """One flush, recorded in the metrics; failures are logged and counted, not raised (a
    tenant that failed does not hide what the others' flush did)."""
    started = time.perf_counter()
    outcome = "success"
    try:
        result = lake.flush()
    except FlushError as err:
        for tenant, failure in err.errors.items():
            log.error("flush failed for tenant %r", tenant, exc_info=failure)
        result, outcome = err.result, "error"
    except Exception:
        log.exception("flush failed")
        metrics.flushes.labels("error").inc()
        return
    metrics.flushes.labels(outcome).inc()
    metrics.flush_seconds.observe(time.perf_counter() - started)
    metrics.flushed_rows.inc(result.rows)
    metrics.landing_backlog.set(len(list_landing(lake.store)))


def create_app(settings: Settings, lake: Lake | None = None) -> FastAPI:
    """The ASGI app serving the push API, readiness and metrics for one lake."""
    lake = lake or Lake.open(settings)
    metrics = Metrics()
    ingester = Ingester(lake, metrics)
    flusher = (
        BackgroundFlusher(lake, metrics, settings.lake.flush_interval / 1e9)
        if settings.lake.flush_interval > 0
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if flusher:
            flusher.start()
        yield
        if flusher:
            flusher.stop()
        ingester.close()

    app = FastAPI(title="loglake", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.lake = lake
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.ingester = ingester

    async def push(request: Request) -> Response:
        try:
            tenant = ingester.tenant(request)
            body = await request.body()
            await ingester.push(
                tenant,
                body,
                request.headers.get("Content-Type"),
                request.headers.get("Content-Encoding"),
            )
        except PushError as exc:
            metrics.request_errors.labels("push", str(exc.status)).inc()
            return error_response(exc.status, exc.message)
        return Response(status_code=204)

    # A plain Starlette route: the push body is read as bytes, so FastAPI's per-request
    # parameter resolution and validation would only add work to the hottest path.
    app.add_route("/loki/api/v1/push", push, methods=["POST"])
    _document_openapi(app)

    @app.get("/ready")
    async def ready() -> Response:
        return PlainTextResponse("ready\n")

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.exception_handler(HTTPException)
    async def unrouted(request: Request, exc: HTTPException) -> Response:
        """A path or method no route serves gets Loki's router's answers (Go's plain
        `404 page not found`, an empty 405), not a JSON `detail`."""
        if exc.status_code == 404 and exc.detail == "Not Found":
            return PlainTextResponse("404 page not found\n", status_code=404)
        if exc.status_code == 405 and exc.detail == "Method Not Allowed":
            return Response(status_code=405, headers=exc.headers)
        return await http_exception_handler(request, exc)

    _register_routes(app)
    return app


def _register_routes(app: FastAPI) -> None:
    """Add the routes of every module in `loglake.routes`."""
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda i: i.name):
        importlib.import_module(f"{routes.__name__}.{info.name}").register(app)


def serve(settings: Settings) -> None:
    """Run the server with uvicorn on the configured address (Loki's port 3100 by default)."""
    uvicorn.run(
        create_app(settings),
        host=settings.server.http_listen_address,
        port=settings.server.http_listen_port,
        log_level="warning",
        access_log=False,
    )


# The push operation as `/openapi.json` describes it (a plain route is not listed by itself).
_PUSH_OPERATION = {
    "summary": "Push log entries (Loki's push API)",
    "operationId": "push",
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {
        "204": {"description": "Landed durably"},
        "400": {"description": "Invalid request (Loki's message)"},
        "401": {"description": "No tenant (X-Scope-OrgID) while auth is enabled"},
        "413": {"description": "Request too large"},
        "422": {"description": "No streams in the request"},
        "429": {"description": "Ingestion rate limit exceeded"},
    },
}


def _document_openapi(app: FastAPI) -> None:
    """Complete the app's OpenAPI document when it is first built: the push operation and
    the parameters Loki's query routes read from the merged form (`query.openapi`)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("paths", {})["/loki/api/v1/push"] = {"post": _PUSH_OPERATION}
            describe(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
