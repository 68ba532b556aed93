"""The pipeline of passes, in one visible place, and the compiled-query result.

    text ─ parse.parse_tree ─ transform.to_ast ─ validate.validate ─ lower.Lowerer ─ SQL

`compile()` binds the evaluation parameters as SQL literals:

- `start`, `end`: unix nanoseconds. Log queries read `start <= ts < end`. Metric queries are
  evaluated at `start, start+step, …, <= end` (instant queries: `step=0`, time `start`).
  No step alignment happens here; the HTTP layer aligns as Loki's API does.
- `step`: nanoseconds between evaluations (0 = instant query).
- `limit`, `direction`: log queries only (`backward` = newest first).
- `source`: name of the relation with the entry schema the SQL reads (default `logs`); the
  executor binds it (a view over the chunk files chosen by the manifest and landing data).
- `streams`: optionally, the name of a relation `fingerprint, labels` with one row per
  stream of `source` that a selector can match, the labels a function of the fingerprint
  (the executor builds it from the manifests). The SQL then matches selectors and builds
  label maps once per stream instead of reading every entry's label map.
- `stream_labels`: with `streams`, optionally the label names its maps hold (the executor
  knows them): a name no stream has is then known absent, which spares the per-entry
  lookup of the streams' own values of labels a parser extracts.

`CompiledQuery.matchers` are the stream matchers of every selector, and `read_range` the
`(lo, hi]` nanosecond range the SQL can read, so the executor can prune streams and chunks.

Translations are cached (LRU, `CACHE_SIZE` shapes, thread-safe): a dashboard re-issues
the same query with shifted `start`/`end` on every refresh. An entry is keyed on everything
the lowering branches on (the query, dialect and every field of `lower.Bounds` but the
times: step, limit, direction, source, streams) but not on `start`/`end`: the query is lowered once
with symbolic times (`symbolic.Symbol`) whose values print as tokens, and each call binds
its integers into that text. The text equals the uncached translation byte for byte
(`compile(..., cache=False)`; `tests/logql2sql/test_cache.py` checks it over random times).

SQL text is generated from a tree nobody else sees (sqlglot's generators rewrite the tree
they print unless told to copy it first, and copying costs more than the printing). So
`CompiledQuery.expression` is built when first read: a fresh lowering with the concrete
bounds, the same tree the text was printed from, which the caller may change freely.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from logql2sql import ast, spark
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.format import format_expr
from logql2sql.lower import Bounds, Lowerer
from logql2sql.parse import parse_tree
from logql2sql.symbolic import NotSymbolic, Slots, Template
from logql2sql.transform import to_ast
from logql2sql.validate import is_scalar, validate

DIALECTS = ("duckdb", "trino", "spark", "clickhouse")
CACHE_SIZE = 1024


@dataclass(frozen=True)
class QueryParams:
    """Evaluation parameters as bound into the SQL."""

    start: int
    end: int
    step: int
    limit: int
    direction: str
    source: str
    streams: str | None = None
    stream_labels: frozenset[str] | None = None


class _Deferred:
    """A value computed on first use (see `_DeferredField`)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build


class _DeferredField:
    """A dataclass field whose stored value may be a `_Deferred`, computed once when read.

    Assigning sets the value (so `dataclasses.replace(q, expression=tree)` keeps working);
    raising `AttributeError` on class access tells `dataclass` the field has no default.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self.slot[1:])
        value = obj.__dict__[self.slot]
        if isinstance(value, _Deferred):
            value = obj.__dict__[self.slot] = value.build()
        return value

    def __set__(self, obj: object, value: Any) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True)
class CompiledQuery:
    """A query translated for one dialect.

    `kind` is `log` (rows `ts, line, labels, fingerprint`), `metric` (rows `ts, labels,
    value`) or `scalar` (rows `ts, labels, value` with empty labels; Loki answers a
    `scalar` result for instant queries).
    """

    expr: ast.Expr
    kind: str
    dialect: str
    expression: exp.Expression = _DeferredField()  # type: ignore[assignment]
    sql: str
    matchers: tuple[tuple[ast.Matcher, ...], ...]
    params: QueryParams
    read_range: tuple[int, int]


def compile(  # noqa: A001 - the public name the issue fixes
    query: str | ast.Expr,
    dialect: str = "duckdb",
    *,
    start: int,
    end: int,
    step: int = 0,
    limit: int = 100,
    direction: str = "backward",
    source: str = "logs",
    streams: str | None = None,
    stream_labels: frozenset[str] | None = None,
    cache: bool = True,
) -> CompiledQuery:
    """Parse (if text), validate and lower `query` to SQL for `dialect`.

    With `cache` (the default) the SQL text comes from the translation cache (see the
    module docstring); `cache=False` translates from scratch.

    >>> q = compile('count_over_time({app="api"} |= "err" [1m])', start=60 * 10**9,
    ...             end=60 * 10**9)
    >>> q.kind, [m.name for m in q.matchers[0]]
    ('metric', ['app'])
    """
    if dialect not in DIALECTS:
        raise UnsupportedInDialect("SQL generation", dialect)
    if direction not in ("forward", "backward"):
        raise LogQLError(f"invalid direction {direction!r}")
    if streams is None:
        stream_labels = None
    elif stream_labels is not None:
        stream_labels = frozenset(stream_labels)
    bounds = Bounds(start, end, step, limit, direction, source, streams, stream_labels)
    shape = _cached_shape(query, bounds, dialect) if cache else None
    if shape is not None and shape.template is not None:
        expr, kind, matchers = shape.expr, shape.kind, shape.matchers
        sql = shape.template.bind(start=start, end=end)
    else:
        expr = _validated(query)
        kind = _kind(expr)
        matchers = _matchers(expr)
        sql = _lower(expr, bounds, dialect).sql(dialect=dialect, copy=False)
    return CompiledQuery(
        expr=expr,
        kind=kind,
        dialect=dialect,
        expression=_Deferred(functools.partial(_lower, expr, bounds, dialect)),
        sql=sql,
        matchers=matchers,
        params=QueryParams(start, end, step, limit, direction, source, streams, stream_labels),
        read_range=_read_range(expr, bounds),
    )


def cache_clear() -> None:
    """Forget every cached translation."""
    _shape.cache_clear()


def cache_info() -> functools._CacheInfo:
    """Hits, misses and size of the translation cache."""
    return _shape.cache_info()


@dataclass(frozen=True)
class _Shape:
    """What one translation shares with every other `start`/`end`: `template` is None when
    the query cannot be lowered symbolically (then each call translates from scratch)."""

    expr: ast.Expr
    kind: str
    matchers: tuple[tuple[ast.Matcher, ...], ...]
    template: Template | None


def _cached_shape(query: str | ast.Expr, b: Bounds, dialect: str) -> _Shape | None:
    """The cached shape for these parameters, or None when they cannot key the cache.

    The key is every parameter but the times (all of `Bounds` with `start = end = 0`, so a
    parameter added to `Bounds` keys the cache without more ado). Only exact ints key it:
    `60` and `60.0` hash alike but print differently.
    """
    if not all(type(v) is int for v in (b.start, b.end, b.step, b.limit)):
        return None
    key = dataclasses.replace(b, start=0, end=0)
    try:
        hash((query, key))
    except TypeError:  # an AST built with lists: nothing to key on
        return None
    return _shape(query, dialect, key)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _shape(query: str | ast.Expr, dialect: str, key: Bounds) -> _Shape:
    expr = _validated(query)
    text = query if isinstance(query, str) else format_expr(expr)
    slots = Slots(avoid="\0".join([text, *(str(v) for v in dataclasses.astuple(key))]))
    bounds = dataclasses.replace(key, start=slots.start, end=slots.end)
    try:
        sql = _lower(expr, bounds, dialect).sql(dialect=dialect, copy=False)
        template: Template | None = Template.of(sql, slots)
    except NotSymbolic:
        template = None
    return _Shape(expr, _kind(expr), _matchers(expr), template)


def _validated(query: str | ast.Expr) -> ast.Expr:
    return validate(to_ast(parse_tree(query))) if isinstance(query, str) else validate(query)


def _kind(expr: ast.Expr) -> str:
    if isinstance(expr, ast.LogExpr):
        return "log"
    return "scalar" if is_scalar(expr) else "metric"


def _matchers(expr: ast.Expr) -> tuple[tuple[ast.Matcher, ...], ...]:
    return tuple(s.matchers for s in _selectors(expr))


def _lower(expr: ast.Expr, bounds: Bounds, dialect: str) -> exp.Select:
    """A fresh sqlglot tree of `expr` (the passes before SQL generation)."""
    lowerer = Lowerer(bounds, dialect)
    if isinstance(expr, ast.LogExpr):
        tree = _unshared(lowerer.log_query(expr))
    else:
        tree = _unshared(lowerer.metric(expr))
    return spark.adapt(tree) if dialect == "spark" else tree


def _unshared(tree: exp.Select) -> exp.Select:
    """`tree` with every node that sits in more than one place copied, in place.

    The builders reuse subexpressions (a value tested and then returned), so one node can
    hang under several parents while its `parent` names only the last. sqlglot's
    generators read `parent` (e.g. to parenthesise a JSON arrow), so printing such a tree
    gives other text than printing its copy (which rebuilds every position). Copying only
    the misplaced nodes gives the same tree as a full copy at a fraction of the cost.
    """
    stack: list[exp.Expr] = [tree]
    while stack:
        node = stack.pop()
        for key, value in node.args.items():
            if isinstance(value, list):
                if any(
                    isinstance(c, exp.Expr)
                    and (c.parent is not node or c.arg_key != key or c.index != i)
                    for i, c in enumerate(value)
                ):
                    seen: set[int] = set()
                    fixed = []
                    for c in value:
                        if isinstance(c, exp.Expr) and (
                            c.parent is not node or c.arg_key != key or id(c) in seen
                        ):
                            c = c.copy()
                        seen.add(id(c))
                        fixed.append(c)
                    node.set(key, fixed)
                    value = fixed
                stack.extend(c for c in value if isinstance(c, exp.Expr))
            elif isinstance(value, exp.Expr):
                if value.parent is not node or value.arg_key != key:
                    value = value.copy()
                    node.set(key, value)
                stack.append(value)
    return tree


def translate(query: str | ast.Expr, *, dialect: str = "duckdb", **kwargs) -> str:
    """The SQL text of `query` (see `compile` for the keyword arguments)."""
    return compile(query, dialect, **kwargs).sql


def translate_expression(
    query: str | ast.Expr, *, dialect: str = "duckdb", **kwargs
) -> exp.Expression:
    """The sqlglot expression of `query` (see `compile` for the keyword arguments)."""
    return compile(query, dialect, **kwargs).expression


def _selectors(expr: ast.Expr):
    if isinstance(expr, ast.LogExpr):
        yield expr
    elif isinstance(expr, ast.RangeAggregation):
        yield expr.range.log
    elif isinstance(expr, ast.VectorAggregation | ast.LabelReplace):
        yield from _selectors(expr.expr)
    elif isinstance(expr, ast.BinOp):
        yield from _selectors(expr.left)
        yield from _selectors(expr.right)


def _ranges(expr: ast.Expr):
    if isinstance(expr, ast.RangeAggregation):
        yield expr.range
    elif isinstance(expr, ast.VectorAggregation | ast.LabelReplace):
        yield from _ranges(expr.expr)
    elif isinstance(expr, ast.BinOp):
        yield from _ranges(expr.left)
        yield from _ranges(expr.right)


def _read_range(expr: ast.Expr, b: Bounds) -> tuple[int, int]:
    if isinstance(expr, ast.LogExpr):
        return b.start - 1, b.end - 1
    ranges = list(_ranges(expr))
    if not ranges:
        return b.start, b.start
    lo = min(b.start - r.offset_ns - r.range_ns for r in ranges)
    hi = max(b.end - r.offset_ns for r in ranges)
    return lo, hi
