"""`Executor`: LogQL over the lake, answered as Loki answers.

    text ─ logql2sql.plan ─ limits ─ source.bind_logs (manifest pruning + landing) ─
    logql2sql.compile_plan ─ DuckDB (interrupted at `query_timeout`) ─ Loki-shaped result

A query is lowered to SQL once, after binding: the SQL depends on what the binding found
(the label names of the streams relation, or no streams relation at all after a
fingerprint collision), while binding needs only the plan (matchers, read range). Errors
of parsing and validation are raised before anything is read; errors only lowering finds
(e.g. `approx_topk` in a range query) after binding, with the same 400 and text.

Log queries return `streams` (entries grouped by their labels, including labels added by
parsers and structured metadata; `limit` counts entries across all streams; `interval`
thins entries as Loki does). Metric queries return a `vector` (instant), a `matrix`
(range) or a `scalar` (instant literal). Results and series are sorted by labels, vector
results by value for a top-level `sort`/`sort_desc`. At most `max_concurrent` queries run
at once (Loki's `querier.max_concurrent`, from the lake's settings unless given); the others
queue (their wait is the stats' `queueTime`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

import logql2sql
from loglake.lake import Lake
from loglake.query import encode
from loglake.query.errors import UNSUPPORTED_INSTANT_LOG_QUERY, QueryError, deadline
from loglake.query.limits import QueryLimits
from loglake.query.source import STREAMS, Plan, bind_logs
from loglake.query.stats import build_stats
from logql2sql import ast
from logql2sql.errors import LogQLError
from storage import duck

CATEGORIZE_LABELS = "categorize-labels"
"""The encoding flag that files each entry's labels under stream, structured metadata
and parsed (Loki's `httpreq.FlagCategorizeLabels`)."""
_ERROR_LABELS = frozenset({"__error__", "__error_details__"})

_ALL_ENTRIES = 2**62
"""The SQL limit of a log query thinned by `interval`: every entry in range is read."""


@dataclass(frozen=True)
class QueryRequest:
    """One LogQL evaluation: instant (`step == 0`, evaluated at `end`) or range."""

    query: str
    start: int
    end: int
    step: int = 0
    interval: int = 0
    limit: int = 100
    direction: str = "backward"
    encoding_flags: tuple[str, ...] = ()
    """`X-Loki-Response-Encoding-Flags`, echoed in the result; with `categorize-labels`
    log entries carry their structured metadata and parsed labels apart (`_categorized`)."""

    @property
    def instant(self) -> bool:
        """Instant queries are evaluated once, at `end`."""
        return self.step == 0

    @property
    def categorize(self) -> bool:
        """Whether the client asked for categorized labels (Grafana always does)."""
        return CATEGORIZE_LABELS in self.encoding_flags


@dataclass
class QueryResult:
    """A result as Loki's `data`: `resultType`, `result`, `stats`."""

    result_type: str
    result: Any
    stats: dict[str, Any] = field(default_factory=dict)
    encoding_flags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The whole response body."""
        return encode.query_response(self.result_type, self.result, self.stats, self.encoding_flags)


class Executor:
    """Runs LogQL for tenants of one lake, under their limits."""

    def __init__(
        self,
        lake: Lake,
        max_concurrent: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.lake = lake
        self.threads = threads
        if max_concurrent is None:
            max_concurrent = lake.settings.querier.max_concurrent
        if max_concurrent < 1:  # no slot at all: every query would wait forever
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.max_concurrent = max_concurrent
        self._slots = threading.BoundedSemaphore(self.max_concurrent)

    def limits(self, tenants: Sequence[str]) -> QueryLimits:
        """The limits a query of these tenants runs under."""
        return QueryLimits.of([self.lake.settings.limits_for(t) for t in tenants])

    def run(self, tenants: Sequence[str], request: QueryRequest) -> QueryResult:
        """Evaluate `request` over the tenants' data; raises `QueryError`."""
        if not tenants:
            raise QueryError("no org id", 401)
        try:
            planned = logql2sql.plan(
                request.query,
                start=request.end if request.instant else request.start,
                end=request.end,
                step=request.step,
                # with an interval Loki counts the limit in the entries kept after thinning
                # (`_streams`), so the SQL must not cut them before; metric queries ignore it
                limit=_ALL_ENTRIES if request.interval > 0 else request.limit,
                direction=request.direction,
                streams=STREAMS if len(tenants) == 1 else None,
                categorize=request.categorize,
            )
        except LogQLError as exc:
            raise QueryError(str(exc)) from None
        limits = self.limits(tenants)
        is_log = planned.kind == "log"
        if is_log and request.instant:
            raise QueryError(UNSUPPORTED_INSTANT_LOG_QUERY)
        if is_log:
            limits.check_entries(request.limit)
        limits.check_length(request.start, request.end)
        queued = time.perf_counter_ns()
        with self._slots:
            began = time.perf_counter_ns()
            table, plan = self._execute(tenants, planned, limits)
            exec_ns = time.perf_counter_ns() - began
        queue_ns = began - queued
        flags = request.encoding_flags
        if planned.kind == "log":
            result = _streams(table, request)
            returned = sum(len(s["values"]) for s in result)
            return QueryResult(
                "streams",
                result,
                build_stats(
                    plan,
                    exec_ns=exec_ns,
                    queue_ns=queue_ns,
                    entries_returned=returned,
                    post_filter_lines=returned,
                ),
                flags,
            )
        result_type, result = _samples(table, planned, request, limits)
        # Loki's `resultLength`: a vector's series, a matrix's samples, 0 for a scalar
        if result_type == "matrix":
            returned = sum(len(series["values"]) for series in result)
        else:
            returned = len(result) if result_type == "vector" else 0
        stats = build_stats(plan, exec_ns=exec_ns, queue_ns=queue_ns, entries_returned=returned)
        return QueryResult(result_type, result, stats, flags)

    def execute(
        self,
        tenants: Sequence[str],
        query: logql2sql.CompiledQuery | logql2sql.QueryPlan,
    ) -> tuple[pa.Table, Plan]:
        """Run a query under the tenants' limits and a query slot: a plan (lowered once,
        after binding) or an already compiled query (possibly with its SQL rewritten by
        the caller, as the detected-fields API does; see `runnable`)."""
        if not tenants:
            raise QueryError("no org id", 401)
        with self._slots:
            return self._execute(tenants, query, self.limits(tenants))

    def _execute(
        self,
        tenants: Sequence[str],
        query: logql2sql.CompiledQuery | logql2sql.QueryPlan,
        limits: QueryLimits,
    ) -> tuple[pa.Table, Plan]:
        con = duck.query_connection(self.lake.store, threads=self.threads)
        try:
            with deadline(con, limits.query_timeout, _engine_error):
                lo, hi = query.read_range
                forward = query.kind == "log" and query.params.direction == "forward"
                plan = bind_logs(
                    con, self.lake.store, tenants, query.matchers, lo, hi, oldest_first=forward
                )
                limits.check_bytes(plan.bytes)
                try:
                    sql = runnable(query, plan).sql
                except LogQLError as exc:
                    raise QueryError(str(exc)) from None
                table = con.sql(sql).to_arrow_table()
        finally:
            con.close()
        return table, plan


def bound(query: logql2sql.QueryPlan, plan: Plan) -> logql2sql.QueryPlan:
    """`query` planned for what the binding found: with the label names of the streams
    relation, or without that relation when two of the read streams share a fingerprint
    (a hash collision: then a fingerprint cannot stand for its labels); without matching
    the selectors again when every stream read matches them (`Plan.selected`), and without
    the errors of structured metadata when no entry read has any (`Plan.metadata`)."""
    found = {"selected": plan.selected, "metadata": plan.metadata}
    if query.params.streams is None:
        return query.with_params(**found)
    if plan.streams_unique:
        return query.with_params(stream_labels=plan.stream_labels, **found)
    return query.with_params(streams=None, **found)


def runnable(
    query: logql2sql.CompiledQuery | logql2sql.QueryPlan, plan: Plan
) -> logql2sql.CompiledQuery:
    """The SQL to run for what the binding found (see `bound`): a plan is lowered here,
    once; a compiled query (its SQL possibly rewritten by the caller, as the detected-fields
    API does) runs as it is, so it must not read the streams relation, whose use only the
    binding can decide."""
    if isinstance(query, logql2sql.QueryPlan):
        return logql2sql.compile_plan(bound(query, plan))
    if query.params.streams is not None:
        raise ValueError("a query reading the streams relation is run from its plan")
    return query


def _engine_error(exc: duckdb.Error) -> QueryError:
    """A DuckDB failure: pipeline errors (raised by the SQL as Loki raises them) are the
    client's (400); anything else is the server's (500)."""
    message = str(exc)
    marker = message.find("pipeline error:")
    if marker >= 0:
        return QueryError(message[marker:].strip())
    return QueryError(message, 500)


def _label_pairs(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    return sorted(value.items()) if isinstance(value, dict) else sorted(value)


def _streams(table: pa.Table, request: QueryRequest) -> list[dict[str, Any]]:
    """Entries grouped per label set, streams sorted by labels, entries in `direction`;
    with an `interval`, an entry is kept only at least that long after (forward) or before
    (backward) the last kept one, across streams, until `limit` are kept (Loki's engine).

    With `categorize-labels` a stream is grouped by its stream labels alone and each entry
    is `[ts, line, {"structuredMetadata": …, "parsed": …}]` (empty parts left out)."""
    forward = request.direction == "forward"
    ts_col = table.column("ts").to_pylist()
    lines = table.column("line").to_pylist()
    labels = table.column("labels").to_pylist()
    categorized = _categorized(table) if request.categorize else None
    # The SQL orders by ts only; the tie order of equal timestamps is made stable here.
    order = sorted(range(len(ts_col)), key=lambda i: ts_col[i], reverse=not forward)
    streams: dict[tuple[tuple[str, str], ...], list[list[Any]]] = {}
    last: int | None = None
    kept = 0
    for i in order:
        ts = ts_col[i]
        if request.interval > 0:
            if last is not None and (
                (forward and ts < last + request.interval)
                or (not forward and ts > last - request.interval)
            ):
                continue
            if kept == request.limit:
                break  # the limit counts kept entries, as in Loki's engine
            kept += 1
        last = ts
        if categorized is None:
            key = tuple(_label_pairs(labels[i]))
            streams.setdefault(key, []).append([str(ts), lines[i]])
        else:
            key, parts = categorized(i, labels[i])
            streams.setdefault(key, []).append([str(ts), lines[i], parts])
    ordered = sorted(streams.items(), key=lambda kv: encode.labels_string(dict(kv[0])))
    return [{"stream": dict(k), "values": v} for k, v in ordered]


def _categorized(table: pa.Table):
    """`(row, labels) -> (stream labels, {"structuredMetadata": …, "parsed": …})` over the
    categorizing query's rows, filed as Loki's `LabelsBuilder` files them: `__error__` and
    `__error_details__`, and names `label_format` set, are parsed; other names of the
    entry's stream are stream labels; metadata (a name its stream also has read as
    `<name>_extracted`) keeps its category unless a parser replaced its value; any other
    name was extracted by a parser."""
    read_streams = table.column("stream").to_pylist()
    read_meta = table.column("meta").to_pylist()
    names = (
        table.column("parsed_names").to_pylist()
        if "parsed_names" in table.column_names
        else [None] * table.num_rows
    )

    def file(i: int, final: Any) -> tuple[tuple[tuple[str, str], ...], dict[str, Any]]:
        own = dict(_label_pairs(read_streams[i]))
        meta = {(f"{k}_extracted" if k in own else k): v for k, v in _label_pairs(read_meta[i])}
        formatted = set(names[i] or ())
        stream: list[tuple[str, str]] = []
        metadata: dict[str, str] = {}
        parsed: dict[str, str] = {}
        for name, value in _label_pairs(final):
            if name in _ERROR_LABELS or name in formatted:
                parsed[name] = value
            elif name in own:
                stream.append((name, value))
            elif meta.get(name) == value:
                metadata[name] = value
            else:
                parsed[name] = value
        parts: dict[str, Any] = {}
        if metadata:
            parts["structuredMetadata"] = metadata
        if parsed:
            parts["parsed"] = parsed
        return tuple(stream), parts

    return file


def _top_sort(expr: ast.Expr) -> str | None:
    if isinstance(expr, ast.VectorAggregation) and expr.op in ("sort", "sort_desc"):
        return expr.op
    return None


def _samples(
    table: pa.Table,
    query: logql2sql.QueryPlan,
    request: QueryRequest,
    limits: QueryLimits,
) -> tuple[str, Any]:
    """Metric rows `ts, labels, value` as a vector, matrix or scalar."""
    ts_col = table.column("ts").to_pylist()
    labels = table.column("labels").to_pylist()
    values = table.column("value").to_pylist()
    if query.kind == "scalar" and request.instant:
        value = values[0] if values else float("nan")
        return "scalar", [encode.sample_time(request.end), encode.format_value(value)]
    series: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    for ts, lbls, value in zip(ts_col, labels, values, strict=True):
        if value is None:
            continue
        series.setdefault(tuple(_label_pairs(lbls)), []).append((ts, value))
    limits.check_series(len(series))
    if request.instant:
        vector = [
            {
                "metric": dict(k),
                "value": [encode.sample_time(request.end), encode.format_value(points[-1][1])],
            }
            for k, points in series.items()
        ]
        sort = _top_sort(query.expr)
        if sort is None:
            vector.sort(key=lambda s: sorted(s["metric"].items()))
        else:
            vector.sort(key=lambda s: _sort_value(s["value"][1]), reverse=sort == "sort_desc")
        return "vector", vector
    matrix = [
        {
            "metric": dict(k),
            "values": [
                [encode.sample_time(ts), encode.format_value(v)] for ts, v in sorted(points)
            ],
        }
        for k, points in sorted(series.items())
    ]
    return "matrix", matrix


def _sort_value(text: str) -> float:
    return float(text.replace("+Inf", "inf").replace("-Inf", "-inf"))
