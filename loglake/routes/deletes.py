"""Loki's log deletion API: `POST|PUT|GET|DELETE /loki/api/v1/delete`.

As in Loki (`pkg/compactor/deletion/request_handler.go`) the API exists only when the
compactor's `retention_enabled` is set (otherwise 404, as an unregistered route); a tenant
whose `deletion_mode` is `disabled` gets 403. Requests are stored durably in the lake
(`storage.delete_requests`) and applied by `storage.deletes.process_deletes` once their
`delete_request_cancel_period` is over; until then they can be cancelled.

- POST `query` (selector + optional line filters), `start` (required), `end` (default
  now), `max_interval` → 204 with `X-Delete-Request-ID`. A request with line filters is
  sharded by `max_interval`, by default `compactor.delete_max_interval` (Loki's default
  24h; 0 disables sharding), as Loki shards it;
- GET → 200, JSON list of `{request_id, start_time, end_time, query, status, created_at,
  user_id}` oldest first, shards merged (status `received`, `N% Complete`, `processed`),
  only those overlapping `start`..`end` when both are given;
- DELETE `request_id` (`force=true` past the cancel period or once partly processed) → 204.

Queries leave out the lines of every listed request from the moment it is received
(`storage.snapshot`), in `filter-only` as in `filter-and-delete` mode.
"""

from __future__ import annotations

import datetime as dt
import math
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from loglake.config import Settings
from loglake.ingest.errors import PushError
from loglake.ops_config import parse_delete_query
from loglake.server import error_response
from logql2sql.errors import LogQLError
from logql2sql.gofmt import go_duration
from logql2sql.lexical import parse_duration
from storage import delete_requests

PATH = "/loki/api/v1/delete"
_TIME_ERROR = "invalid {} time: require unix seconds or RFC3339 format"


class BadRequest(Exception):
    """A parameter error answered 400 with Loki's message."""


def parse_time_ms(text: str, now_ms: int) -> int:
    """Loki's delete-API time: empty is now; RFC3339; else exactly 10 digits of Unix
    seconds (with an optional fraction parsed as Loki's `util.ParseTime`)."""
    if text == "":
        return now_ms
    if "T" in text:
        try:
            return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    if len(text) != 10:
        raise ValueError("not unix seconds")
    value = float(text)
    whole = math.trunc(value)
    return whole * 1000 + round((value - whole) * 1000)


def _guard(request: Request) -> tuple[str, Settings] | Response:
    """The tenant and settings, or the response Loki gives before reaching the handler."""
    settings: Settings = request.app.state.settings
    if not settings.compactor.retention_enabled:
        return error_response(404, "404 page not found")
    try:
        tenant = request.app.state.ingester.tenant(request)
    except PushError as exc:
        return error_response(400, exc.message)
    if settings.limits_for(tenant).deletion_mode == "disabled":
        return error_response(403, "deletion is not available for this tenant")
    return tenant, settings


def shard_interval_ns(params: dict[str, str], start_ms: int, end_ms: int, limit_ns: int) -> int:
    """The interval a request with line filters is sharded by, checked as Loki's
    `DeleteRequestHandler.interval` checks it (`limit_ns` 0: no upper bound)."""
    text = params.get("max_interval", "")
    if not text:
        return limit_ns
    try:  # Loki reads it with Go's time.ParseDuration: no d/w/y
        interval = parse_duration(text, syntax="go")
    except LogQLError:
        interval = 0
    if interval < 1_000_000_000:
        raise BadRequest("invalid max_interval: valid time units are 's', 'm', 'h'")
    if limit_ns and interval > limit_ns:
        raise BadRequest(f"max_interval can't be greater than {go_duration(limit_ns)}")
    if interval > (end_ms - start_ms) * 1_000_000:
        span = go_duration((end_ms - start_ms) * 1_000_000)
        raise BadRequest(f"max_interval can't be greater than the interval to be deleted ({span})")
    return interval


async def add_delete_request(request: Request) -> Response:
    """POST/PUT: store a delete request."""
    guarded = _guard(request)
    if isinstance(guarded, Response):
        return guarded
    tenant, settings = guarded
    params = dict(request.query_params)
    interval_ns = 0
    now_ms = time.time_ns() // 1_000_000
    try:
        query = params.get("query", "")
        if not query:
            raise BadRequest("query not set")
        try:
            matchers, filters = parse_delete_query(query)
        except (LogQLError, ValueError):
            raise BadRequest("invalid query expression") from None
        if not params.get("start"):
            raise BadRequest("start time not set")
        try:
            start_ms = parse_time_ms(params["start"], now_ms)
        except ValueError:
            raise BadRequest(_TIME_ERROR.format("start")) from None
        try:
            end_ms = parse_time_ms(params.get("end", ""), now_ms)
        except ValueError:
            raise BadRequest(_TIME_ERROR.format("end")) from None
        if end_ms > now_ms:
            raise BadRequest("deletes in the future are not allowed")
        if start_ms >= end_ms:
            raise BadRequest("start time can't be greater than or equal to end time")
        if filters:  # Loki shards only requests with line filters
            interval_ns = shard_interval_ns(
                params, start_ms, end_ms, settings.compactor.delete_max_interval
            )
    except BadRequest as exc:
        return error_response(400, str(exc))
    stored = delete_requests.add_request(
        request.app.state.lake.store,
        tenant,
        query,
        start_ms,
        end_ms,
        matchers,
        filters,
        interval_ms=interval_ns // 1_000_000,
    )
    return Response(status_code=204, headers={"X-Delete-Request-ID": stored.request_id})


async def list_delete_requests(request: Request) -> Response:
    """GET: the tenant's requests with their status, oldest first; with both `start` and
    `end`, only those overlapping that range (as Loki's handler)."""
    guarded = _guard(request)
    if isinstance(guarded, Response):
        return guarded
    tenant, _settings = guarded
    found = delete_requests.list_requests(request.app.state.lake.store, tenant)
    start, end = request.query_params.get("start", ""), request.query_params.get("end", "")
    if start and end:
        now_ms = time.time_ns() // 1_000_000
        try:
            start_ms = parse_time_ms(start, now_ms)
        except ValueError:
            return error_response(400, _TIME_ERROR.format("start"))
        try:
            end_ms = parse_time_ms(end, now_ms)
        except ValueError:
            return error_response(400, _TIME_ERROR.format("end"))
        found = [r for r in found if r.start_ms <= end_ms and r.end_ms >= start_ms]
    return JSONResponse([r.to_loki() for r in found])


async def cancel_delete_request(request: Request) -> Response:
    """DELETE: cancel a request that is still within its cancel period and not partly
    processed (or any unprocessed one with `force=true`)."""
    guarded = _guard(request)
    if isinstance(guarded, Response):
        return guarded
    tenant, settings = guarded
    store = request.app.state.lake.store
    request_id = request.query_params.get("request_id", "")
    found = delete_requests.get_request(store, tenant, request_id)
    if found is None:
        return error_response(404, "could not find delete request with given id")
    if found.status == delete_requests.PROCESSED:
        return error_response(
            400, "deletion of request which is in process or already processed is not allowed"
        )
    period = settings.compactor.delete_request_cancel_period
    past_deadline = found.created_at_ms * 1_000_000 + period < time.time_ns()
    partly_done = found.status != delete_requests.RECEIVED
    if (past_deadline or partly_done) and request.query_params.get("force") != "true":
        return error_response(
            400,
            "Cancellation of partially completed delete request or delete request past the "
            f"deadline of {go_duration(period)} since its creation is not allowed. "
            "To force, use the ?force query parameter",
        )
    delete_requests.cancel_request(store, tenant, request_id)
    return Response(status_code=204)


def register(app: FastAPI) -> None:
    """Add the deletion API routes."""
    for method in ("POST", "PUT"):  # Loki takes both; one OpenAPI operation id each
        app.add_api_route(
            PATH, add_delete_request, methods=[method], operation_id=f"add_delete_request_{method}"
        )
    app.add_api_route(PATH, list_delete_requests, methods=["GET"])
    app.add_api_route(PATH, cancel_delete_request, methods=["DELETE"])
