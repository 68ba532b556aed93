"""Label and series metadata over the lake: labels, label values, series, index stats,
volume — answered from the pinned manifests' stream table plus landing streams, without
reading chunk files (volume reads the entries of the selected streams).

Streams count when their data overlaps `[start, end]`; selectors are matched as in queries
(`source.matcher_predicate`, RE2). Multi-tenant requests add `__tenant_id__` to the labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

import logql2sql
from loglake.query.errors import QueryError, parse_log_query
from loglake.query.source import TENANT_LABEL, bind_logs, matcher_predicate
from logql2sql import ast
from logql2sql.errors import LogQLError
from storage import duck
from storage.objectstore import ObjectStore
from storage.snapshot import take_snapshot


@dataclass(frozen=True)
class StreamInfo:
    """One stream in the range: labels, entries, line bytes, chunk files holding it."""

    labels: dict[str, str]
    entries: int
    bytes: int
    chunks: frozenset[str]


ONLY_LABEL_MATCHERS = "only label matchers are supported"


def parse_selector(text: str) -> tuple[ast.Matcher, ...]:
    """The matchers of a stream selector (a full log query is accepted; its pipeline is
    ignored, as Loki's metadata endpoints do)."""
    return parse_log_query(text, ONLY_LABEL_MATCHERS).matchers


def parse_series_selectors(texts: Sequence[str]) -> list[tuple[ast.Matcher, ...]]:
    """The groups of the series API's `match[]`, as Loki's `ParseAndValidateSeriesQuery`
    reads them: deduplicated and sorted; a lone `{}` (spaces ignored) means every stream;
    each group parsed without the query validation (so `{app=~".*"}` is allowed) and
    holding label matchers only (no pipeline), at least one.

    >>> [[m.name for m in g] for g in parse_series_selectors(['{b="1"}', '{a=~".*"}'])]
    [['a'], ['b']]
    >>> parse_series_selectors(["{ }"])
    []
    """
    groups = sorted(set(texts))
    if len(groups) == 1 and groups[0].replace(" ", "") == "{}":
        return []
    out = []
    for text in groups:
        try:
            expr = logql2sql.parse_unvalidated(text)
        except LogQLError as exc:
            raise QueryError(str(exc)) from None
        if not isinstance(expr, ast.LogExpr) or expr.pipeline:
            raise QueryError(ONLY_LABEL_MATCHERS)
        if not expr.matchers:
            raise QueryError(f"0 matchers in group: {text}")
        out.append(tuple(expr.matchers))
    return out


def streams(
    store: ObjectStore,
    tenants: Sequence[str],
    selectors: Sequence[Sequence[ast.Matcher]],
    start: int,
    end: int,
) -> list[StreamInfo]:
    """Streams of the tenants matching any selector (all streams when none) in range."""
    con = duck.query_connection()
    out: dict[tuple, dict] = {}
    try:
        for tenant in tenants:
            snapshot = take_snapshot(store, tenant, start, end)
            refs = snapshot.chunk_refs(start, end)
            extra = {TENANT_LABEL: tenant} if len(tenants) > 1 else {}
            predicate = matcher_predicate(selectors, tenant if extra else None)
            rows = _select(
                con, refs, ["chunk", "fingerprint", "labels", "rows", "bytes"], predicate
            )
            landing = snapshot.landing
            if landing.num_rows:
                landing = landing.append_column(
                    "rows", pa.array([1] * landing.num_rows, pa.int64())
                )
                landing = landing.append_column(
                    "bytes", pc.binary_length(landing.column("line")).cast(pa.int64())
                )
                landing = landing.append_column(
                    "chunk", pa.array([None] * landing.num_rows, pa.string())
                )
                rows += _select(
                    con, landing, ["chunk", "fingerprint", "labels", "rows", "bytes"], predicate
                )
            for chunk, fingerprint, labels, count, size in rows:
                info = out.setdefault(
                    (tenant, fingerprint),
                    {
                        "labels": {**dict(labels), **extra},
                        "entries": 0,
                        "bytes": 0,
                        "chunks": set(),
                    },
                )
                info["entries"] += count
                info["bytes"] += size
                if chunk is not None:
                    info["chunks"].add(chunk)
    finally:
        con.close()
    return [
        StreamInfo(v["labels"], v["entries"], v["bytes"], frozenset(v["chunks"]))
        for v in out.values()
    ]


def _select(
    con: duckdb.DuckDBPyConnection, table: pa.Table, columns: list[str], predicate: exp.Expression
) -> list[tuple]:
    if table.num_rows == 0:
        return []
    con.register("_meta_rows", table)
    try:
        query = exp.select(*columns).from_("_meta_rows").where(predicate.copy())
        return con.execute(query.sql(dialect="duckdb")).fetchall()
    finally:
        con.unregister("_meta_rows")


def label_names(found: Sequence[StreamInfo]) -> list[str]:
    """Distinct label names, sorted."""
    return sorted({name for s in found for name in s.labels})


def label_values(found: Sequence[StreamInfo], name: str) -> list[str]:
    """Distinct values of one label, sorted."""
    return sorted({s.labels[name] for s in found if name in s.labels})


def series(found: Sequence[StreamInfo]) -> list[dict[str, str]]:
    """Distinct label sets, each with sorted keys, sorted by labels."""
    unique = {tuple(sorted(s.labels.items())) for s in found}
    return [dict(k) for k in sorted(unique)]


def index_stats(found: Sequence[StreamInfo]) -> dict[str, int]:
    """Loki's `/index/stats`: streams, chunks, bytes, entries."""
    chunks: set[str] = set()
    for s in found:
        chunks |= s.chunks
    return {
        "streams": len(found),
        "chunks": len(chunks),
        "bytes": sum(s.bytes for s in found),
        "entries": sum(s.entries for s in found),
    }


def volume(
    store: ObjectStore,
    tenants: Sequence[str],
    matchers: Sequence[ast.Matcher],
    start: int,
    end: int,
    target_labels: Sequence[str],
    step: int = 0,
    by_label_name: bool = False,
) -> list[tuple[dict[str, str], list[tuple[int, int]]]]:
    """Bytes of the selected streams' lines grouped by `target_labels` (default: the
    selector's label names), over the range or per `step` bucket ending at each step.
    With `by_label_name` (`aggregateBy=labels`), grouped by label *name* instead: each
    stream counts once for every label it has (or every target label), as `{name: ""}`.

    Returns `(labels, [(bucket end ns, bytes), …])` sorted by total volume, largest first.
    """
    entries = (
        exp.select(
            exp.alias_(exp.cast(_bucket(step, end), "BIGINT"), "bucket"),
            exp.alias_(_line_bytes(), "v"),
        )
        .from_("logs")
        .where(matcher_predicate([tuple(matchers)], None))
    )
    if by_label_name:
        names = exp.Unnest(expressions=[exp.func("map_keys", exp.column("labels"))])
        entries = entries.select(exp.alias_(names, "l0"))
        keys = [exp.column("l0")]
        query = exp.select(*keys).from_(entries.subquery("e"))
        if target_labels:
            wanted = [exp.Literal.string(n) for n in target_labels]
            query = query.where(exp.In(this=exp.column("l0"), expressions=wanted))
    else:
        names_of = list(target_labels) or list(dict.fromkeys(m.name for m in matchers))
        labels = exp.column("labels")
        for i, n in enumerate(names_of):
            entries = entries.select(
                exp.alias_(exp.Bracket(this=labels, expressions=[exp.Literal.string(n)]), f"l{i}")
            )
        keys = [exp.column(f"l{i}") for i in range(len(names_of))]
        query = exp.select(*keys).from_(entries.subquery("e"))
    query = query.select(
        exp.column("bucket"), exp.alias_(exp.Sum(this=exp.column("v")), "volume")
    ).group_by(*keys, exp.column("bucket"))
    con = duck.query_connection(store)
    try:
        bind_logs(con, store, tenants, [tuple(matchers)], start - 1, end)
        rows = con.execute(query.sql(dialect="duckdb")).fetchall()
    finally:
        con.close()
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for *values, bucket_ts, size in rows:
        if by_label_name:
            key = ((values[0], ""),)
        else:
            key = tuple((n, v) for n, v in zip(names_of, values, strict=True) if v is not None)
        groups.setdefault(key, []).append((bucket_ts, int(size)))
    return [(dict(k), points) for k, points in _largest_first(groups)]


def _line_bytes() -> exp.Expression:
    """An entry's volume: its line's UTF-8 bytes."""
    line = exp.Anonymous(this="encode", expressions=[exp.column("line")])
    return exp.Anonymous(this="octet_length", expressions=[line])


def _largest_first(groups: dict) -> list[tuple[Any, list[tuple[int, int]]]]:
    """`(key, sorted points)` of each group, by total volume, largest first."""
    ordered = sorted(groups.items(), key=lambda kv: (-sum(v for _, v in kv[1]), kv[0]))
    return [(key, sorted(points)) for key, points in ordered]


def _bucket(step: int, end: int) -> exp.Expression:
    """The time a volume sample is reported at: with a step, the bucket `(t - step, t]`
    an entry falls in, `t` a step multiple; without, the range's end."""
    if step <= 0:
        return exp.Literal.number(end)
    up = exp.Add(this=exp.column("ts"), expression=exp.Literal.number(step - 1))
    return exp.Mul(
        this=exp.IntDiv(this=exp.paren(up), expression=exp.Literal.number(step)),
        expression=exp.Literal.number(step),
    )
