"""Loki's query endpoints without HTTP: form in, Loki's JSON body out.

`handle(path, form, tenants, now, executor)` answers a path under `/loki/api/v1/` from its
parsed form; the HTTP routes and the CLI's `--lake` mode both call it, so both give the
same answers. The route table `ENDPOINTS` (with `LABEL_VALUES`) also names the form
parameters each path reads, which `/openapi.json` declares (`loglake.query.openapi`).
Range metric queries are step-aligned as Loki's query frontend aligns them; log queries
are not. Errors are `QueryError`s with Loki's status and text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import logql2sql
from loglake.query import detected, encode, metadata, params
from loglake.query.errors import QueryError
from loglake.query.executor import Executor, QueryRequest
from loglake.query.params import Form
from logql2sql.errors import LogQLError

Handler = Callable[[Form, list[str], int, Executor], Any]


def instant(
    form: Form, tenants: list[str], now: int, executor: Executor, flags: tuple[str, ...] = ()
) -> Any:
    """`/query`; `flags`: the request's response encoding flags (`encode.encoding_flags`)."""
    q = params.instant_query(form, now)
    req = QueryRequest(q.query, q.time, q.time, 0, 0, q.limit, q.direction, flags)
    return executor.run(tenants, req).to_json()


def query_range(
    form: Form, tenants: list[str], now: int, executor: Executor, flags: tuple[str, ...] = ()
) -> Any:
    """`/query_range`; `flags` as for `instant`."""
    q = params.range_query(form, now)
    start, end = q.start, q.end
    if not _is_log_query(q.query):
        start, end = params.align_to_step(start, end, q.step)
    req = QueryRequest(q.query, start, end, q.step, q.interval, q.limit, q.direction, flags)
    return executor.run(tenants, req).to_json()


FLAGGED = frozenset({"query", "query_range"})
"""The paths whose answers follow `X-Loki-Response-Encoding-Flags`."""


def _streams(form: Form, tenants: list[str], now: int, executor: Executor):
    start, end = params.bounds(form, now)
    text = params.query(form)
    selectors = [metadata.parse_selector(text)] if text else []
    _check_length(executor, tenants, start, end)
    return metadata.streams(executor.lake.store, tenants, selectors, start, end)


def _check_length(executor: Executor, tenants: list[str], start: int, end: int) -> None:
    """`max_query_length`, which Loki's query frontend applies to the metadata endpoints
    as to queries."""
    if not tenants:
        raise QueryError("no org id", 401)
    executor.limits(tenants).check_length(start, end)


def labels(form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
    """`/labels`."""
    return encode.success(metadata.label_names(_streams(form, tenants, now, executor)))


def label_values(name: str) -> Handler:
    """`/label/<name>/values`."""

    def handler(form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
        found = _streams(form, tenants, now, executor)
        return encode.success(metadata.label_values(found, name))

    return handler


def series(form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
    """`/series` (`match[]`; a lone `{}` means every stream)."""
    start, end = params.bounds(form, now)
    selectors = metadata.parse_series_selectors(params.match_selectors(form))
    _check_length(executor, tenants, start, end)
    found = metadata.streams(executor.lake.store, tenants, selectors, start, end)
    return encode.success(metadata.series(found))


def index_stats(form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
    """`/index/stats`; its parameters are checked as a range query's (Loki's
    `ParseIndexStatsQuery`)."""
    params.range_query(form, now)
    return metadata.index_stats(_streams(form, tenants, now, executor))


def detected_labels(form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
    """`/detected_labels`: the labels of the matching streams worth offering as filters,
    with their cardinality: Loki leaves out a label whose values are all IDs (numbers or
    UUIDs; two values that are `0`/`1` are a flag, not IDs), except `cluster`,
    `namespace`, `instance` and `pod`."""
    found = _streams(form, tenants, now, executor)
    offered = []
    for name in metadata.label_names(found):
        values = metadata.label_values(found, name)
        if name in DETECTED_STATIC_LABELS or not detected.all_ids(values):
            offered.append({"label": name, "cardinality": len(values)})
    return {"detectedLabels": offered}


DETECTED_STATIC_LABELS = frozenset({"cluster", "namespace", "instance", "pod"})


def volume(ranged: bool) -> Handler:
    """`/index/volume` (a vector) or `/index/volume_range` (a matrix), as the query
    frontend answers them; the parameters are checked as Loki's `ParseVolumeInstantQuery`
    and `ParseVolumeRangeQuery` check them (a `limit` of 0 is the default 100)."""

    def handler(form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
        limit = params.volume_limit(form)
        form = params.with_value(form, "limit", str(limit))
        if ranged:
            q = params.range_query(form, now)
            start, end, step = q.start, q.end, q.step
        else:
            params.instant_query(form, now)
            start, end = params.bounds(form, now)
            if end < start:
                raise QueryError(params.ERR_END_BEFORE_START)
            step = 0
        aggregate_by = form.get("aggregateBy") or "series"
        if aggregate_by not in ("series", "labels"):
            raise QueryError("invalid aggregation option")
        matchers = metadata.parse_selector(params.query(form))
        targets = [t for t in (form.get("targetLabels") or "").split(",") if t]
        _check_length(executor, tenants, start, end)
        found = metadata.volume(
            executor.lake.store,
            tenants,
            matchers,
            start,
            end,
            targets,
            step,
            by_label_name=aggregate_by == "labels",
        )[:limit]
        if not ranged:
            result = [
                {
                    "metric": encode.labels_object(lbls),
                    "value": [
                        encode.sample_time(end),
                        encode.format_value(float(sum(v for _, v in points))),
                    ],
                }
                for lbls, points in found
            ]
            return encode.success({"resultType": "vector", "result": result})
        result = [
            {
                "metric": encode.labels_object(lbls),
                "values": [
                    [encode.sample_time(ts), encode.format_value(float(v))] for ts, v in points
                ],
            }
            for lbls, points in found
        ]
        return encode.success({"resultType": "matrix", "result": result})

    return handler


@dataclass(frozen=True)
class Endpoint:
    """A path's handler and the form parameters it reads, in the order Loki reads them."""

    handler: Handler
    parameters: tuple[str, ...]


BOUNDS = ("start", "end", "since")
"""The time range parameters (`params.bounds`)."""

ENDPOINTS: dict[str, Endpoint] = {
    "query": Endpoint(instant, ("query", "limit", "time", "direction")),
    "query_range": Endpoint(
        query_range, ("query", *BOUNDS, "step", "interval", "limit", "direction")
    ),
    "labels": Endpoint(labels, (*BOUNDS, "query")),
    "label": Endpoint(labels, (*BOUNDS, "query")),
    "series": Endpoint(series, ("match[]", *BOUNDS)),
    "index/stats": Endpoint(index_stats, ("query", *BOUNDS)),
    "index/volume": Endpoint(
        volume(False), ("query", *BOUNDS, "limit", "targetLabels", "aggregateBy")
    ),
    "index/volume_range": Endpoint(
        volume(True), ("query", *BOUNDS, "step", "limit", "targetLabels", "aggregateBy")
    ),
    "detected_labels": Endpoint(detected_labels, ("query", *BOUNDS)),
}
"""The fixed paths under `/loki/api/v1/` and their endpoints: with `LABEL_VALUES`, the
query routes the HTTP server registers (`loglake.routes.query`) and the CLI answers."""
LABEL_VALUES = "label/{name}/values"
LABEL_VALUES_PARAMETERS = (*BOUNDS, "query")
"""The form parameters of `LABEL_VALUES` (its path parameter `name` aside)."""


def parameter_names() -> dict[str, tuple[str, ...]]:
    """The form parameters of every path of the route table, `LABEL_VALUES` included."""
    names = {path: endpoint.parameters for path, endpoint in ENDPOINTS.items()}
    names[LABEL_VALUES] = LABEL_VALUES_PARAMETERS
    return names


def handler_for(path: str) -> Handler:
    """The handler of a path under `/loki/api/v1/` (`QueryError` 404 when none)."""
    if path in ENDPOINTS:
        return ENDPOINTS[path].handler
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == "label" and parts[2] == "values":
        return label_values(parts[1])
    raise QueryError("404 page not found", 404)


def handle(path: str, form: Form, tenants: list[str], now: int, executor: Executor) -> Any:
    """Answer `/loki/api/v1/<path>`."""
    return handler_for(path)(form, tenants, now, executor)


def _is_log_query(text: str) -> bool:
    """Whether `text` is a log query (False when it does not parse: the executor answers
    that). Planned, not parsed: the executor's own plan then finds the parse cached."""
    try:
        return logql2sql.plan(text, start=0, end=0).kind == "log"
    except LogQLError:
        return False
