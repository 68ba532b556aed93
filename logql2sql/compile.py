"""The pipeline of passes, in one visible place, and the compiled-query result.

    text ─ parse.parse_tree ─ transform.to_ast ─ validate.validate ─ stages.check_stages
         ─ lower.Lowerer ─ SQL

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
- `categorize`: log queries also return `stream`, `meta` (the entry's stream labels and
  structured metadata as read) and `parsed_names` (the names `label_format` set), so the
  caller can file each final label under Loki's categories, as Loki answers a request with
  `X-Loki-Response-Encoding-Flags: categorize-labels`.

`CompiledQuery.matchers` are the stream matchers of every selector, and `read_range` the
`(lo, hi]` nanosecond range the SQL can read, so the executor can prune streams and chunks.

`plan()` is the part of `compile()` before lowering: parse, validate, the kind, the
matchers, the read range and the checked parameters, as a `QueryPlan`. The executor needs
these to bind the lake, and only after binding knows the label names of its streams
relation (`stream_labels`), which shape the SQL; so it plans, binds, and lowers once with
`compile_plan(plan.with_params(...))`. Errors of parsing, validation and stage building
(`stages`: a bad regexp, `ip()` or template) come from `plan()`; errors only lowering can
find (`approx_topk` in a range query, a construct a dialect lacks) from `compile_plan()`.
Parsed and validated queries are cached too (an LRU of `CACHE_SIZE` queries), so planning
a query seen before costs a lookup.

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

from logql2sql import ast, clickhouse, spark, trino
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.format import format_expr
from logql2sql.gcpause import collector_paused
from logql2sql.lower import Bounds, Lowerer
from logql2sql.parse import parse_tree
from logql2sql.stages import check_stages
from logql2sql.symbolic import NotSymbolic, Slots, Template
from logql2sql.transform import to_ast
from logql2sql.validate import is_scalar, validate

DIALECTS = ("duckdb", "trino", "spark", "clickhouse")
CACHE_SIZE = 1024


QueryParams = Bounds
"""Evaluation parameters as bound into the SQL: the public name of `lower.Bounds`."""


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
class QueryPlan:
    """A parsed and validated query with its evaluation parameters, not yet lowered.

    `kind`, `matchers` and `read_range` are as in `CompiledQuery`. `query` is the text or
    AST `plan()` was given: it keys the translation cache in `compile_plan()`.
    """

    expr: ast.Expr
    kind: str
    dialect: str
    matchers: tuple[tuple[ast.Matcher, ...], ...]
    params: QueryParams
    read_range: tuple[int, int]
    query: str | ast.Expr | None = dataclasses.field(default=None, repr=False, compare=False)

    def with_params(self, **changes: Any) -> QueryPlan:
        """This plan with some `QueryParams` fields changed (checked as `plan()` checks
        them; the read range follows `start`/`end`).

        >>> p = plan('{app="api"}', start=0, end=10, streams="streams")
        >>> p.with_params(stream_labels={"app"}).params.stream_labels
        frozenset({'app'})
        >>> p.with_params(streams=None, stream_labels={"app"}).params.stream_labels is None
        True
        """
        params = _checked(dataclasses.replace(self.params, **changes))
        return dataclasses.replace(self, params=params, read_range=_read_range(self.expr, params))


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


def plan(
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
    categorize: bool = False,
) -> QueryPlan:
    """Parse (if text) and validate `query` and check the parameters, without lowering:
    what the executor needs to bind the lake (see the module docstring). Raises the
    errors of parsing and validation; the arguments are `compile()`'s.

    >>> p = plan('rate({app="api"}[5m] offset 1m)', start=600 * 10**9, end=900 * 10**9,
    ...          step=60 * 10**9)
    >>> p.kind, [m.name for m in p.matchers[0]], [t // 10**9 for t in p.read_range]
    ('metric', ['app'], [240, 840])
    """
    if dialect not in DIALECTS:
        raise UnsupportedInDialect("SQL generation", dialect)
    params = _checked(
        QueryParams(
            start,
            end,
            step,
            limit,
            direction,
            source,
            streams,
            stream_labels,
            categorize=categorize,
        )
    )
    expr = _validated(query)
    return QueryPlan(
        expr=expr,
        kind=_kind(expr),
        dialect=dialect,
        matchers=_matchers(expr),
        params=params,
        read_range=_read_range(expr, params),
        query=query,
    )


def compile_plan(p: QueryPlan, *, cache: bool = True) -> CompiledQuery:
    """Lower a planned query to SQL (from the translation cache unless `cache` is False).
    Raises the errors only lowering finds.

    >>> p = plan('{app="api"} |= "err"', start=0, end=10**9)
    >>> compile_plan(p).sql == compile('{app="api"} |= "err"', start=0, end=10**9).sql
    True
    """
    bounds = p.params
    query = p.expr if p.query is None else p.query
    shape = _cached_shape(query, bounds, p.dialect) if cache else None
    if shape is not None and shape.template is not None:
        sql = shape.template.bind(start=bounds.start, end=bounds.end)
    else:
        sql = _sql(p.expr, bounds, p.dialect)
    return CompiledQuery(
        expr=p.expr,
        kind=p.kind,
        dialect=p.dialect,
        expression=_Deferred(functools.partial(_lower, p.expr, bounds, p.dialect)),
        sql=sql,
        matchers=p.matchers,
        params=p.params,
        read_range=p.read_range,
    )


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
    categorize: bool = False,
    cache: bool = True,
) -> CompiledQuery:
    """Parse (if text), validate and lower `query` to SQL for `dialect`: `plan()`, then
    `compile_plan()`.

    With `cache` (the default) the SQL text comes from the translation cache (see the
    module docstring); `cache=False` translates from scratch.

    >>> q = compile('count_over_time({app="api"} |= "err" [1m])', start=60 * 10**9,
    ...             end=60 * 10**9)
    >>> q.kind, [m.name for m in q.matchers[0]]
    ('metric', ['app'])
    """
    planned = plan(
        query,
        dialect,
        start=start,
        end=end,
        step=step,
        limit=limit,
        direction=direction,
        source=source,
        streams=streams,
        stream_labels=stream_labels,
        categorize=categorize,
    )
    return compile_plan(planned, cache=cache)


def _checked(params: QueryParams) -> QueryParams:
    """`params` with `direction` checked and `stream_labels` normalised (a frozenset, and
    None without `streams`)."""
    if params.direction not in ("forward", "backward"):
        raise LogQLError(f"invalid direction {params.direction!r}")
    labels = params.stream_labels
    if params.streams is None or labels is None:
        labels = None
    elif type(labels) is not frozenset:
        labels = frozenset(labels)
    if labels is params.stream_labels:
        return params
    return dataclasses.replace(params, stream_labels=labels)


def cache_clear() -> None:
    """Forget every cached translation and parsed query."""
    _shape.cache_clear()
    _validated_cached.cache_clear()


def cache_info() -> functools._CacheInfo:
    """Hits, misses and size of the translation cache."""
    return _shape.cache_info()


@dataclass(frozen=True)
class _Shape:
    """What one translation shares with every other `start`/`end`: `template` is None when
    the query cannot be lowered symbolically (then each call translates from scratch).
    The AST, kind and matchers come from the parse cache (`plan()`)."""

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
        sql = _sql(expr, bounds, dialect)
        template: Template | None = Template.of(sql, slots)
    except NotSymbolic:
        template = None
    return _Shape(template)


def _validated(query: str | ast.Expr) -> ast.Expr:
    """The validated AST of `query`, cached when the query can key a cache (an AST built
    with lists cannot). Errors are not cached."""
    try:
        hash(query)
    except TypeError:
        return _validate(query)
    return _validated_cached(query)


def _validate(query: str | ast.Expr) -> ast.Expr:
    """Validation as Loki's parser does it, then the errors Loki's querier raises when it
    builds the pipeline's stages (`stages.check_stages`)."""
    expr = to_ast(parse_tree(query)) if isinstance(query, str) else query
    return check_stages(validate(expr))


_validated_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_validate)


def _kind(expr: ast.Expr) -> str:
    if isinstance(expr, ast.LogExpr):
        return "log"
    return "scalar" if is_scalar(expr) else "metric"


def _matchers(expr: ast.Expr) -> tuple[tuple[ast.Matcher, ...], ...]:
    return tuple(s.matchers for s in ast.log_selectors(expr))


# Dialects whose SQL is the lowered (DuckDB-flavoured) tree rewritten by an adapter.
_ADAPTERS = {"clickhouse": clickhouse.adapt, "spark": spark.adapt, "trino": trino.adapt}


def _lower(expr: ast.Expr, bounds: Bounds, dialect: str) -> exp.Select:
    """A fresh sqlglot tree of `expr` (the passes before SQL generation)."""
    lowerer = Lowerer(bounds, dialect)
    if isinstance(expr, ast.LogExpr):
        tree = _unshared(lowerer.log_query(expr))
    else:
        tree = _unshared(lowerer.metric(expr))
    adapt = _ADAPTERS.get(dialect)
    return tree if adapt is None else adapt(tree)


def _sql(expr: ast.Expr, bounds: Bounds, dialect: str) -> str:
    """The SQL text of `expr`: lowered and printed with the cyclic collector paused (see
    `gcpause`)."""
    with collector_paused():
        return _lower(expr, bounds, dialect).sql(dialect=dialect, copy=False)


def _unshared(tree: exp.Select) -> exp.Select:
    """`tree` with every node that sits in more than one place copied, in place.

    The builders reuse subexpressions (a value tested and then returned), so one node can
    hang under several parents while its `parent` names only the last. sqlglot's
    generators read `parent` (e.g. to parenthesise a JSON arrow), so printing such a tree
    gives other text than printing its copy (which rebuilds every position). Copying only
    the misplaced nodes gives the same tree as a full copy at a fraction of the cost.

    Identifiers and literals hold no nodes, so they are checked where they hang and not
    visited; a list is rebuilt only when one of its members is out of place.
    """
    expr, leaves = exp.Expr, _LEAVES
    stack: list[exp.Expr] = [tree]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        for key, value in node.args.items():
            if value is None or value.__class__ in _SCALARS:
                continue
            if value.__class__ is list:
                for i, c in enumerate(value):
                    if isinstance(c, expr) and (
                        c.parent is not node or c.arg_key != key or c.index != i
                    ):
                        value = _placed(node, key, value)
                        break
                for c in value:
                    if isinstance(c, expr) and c.__class__ not in leaves:
                        push(c)
            elif isinstance(value, expr):
                if value.parent is not node or value.arg_key != key:
                    value = value.copy()
                    node.set(key, value)
                if value.__class__ not in leaves:
                    push(value)
    return tree


_LEAVES = frozenset({exp.Identifier, exp.Literal})
_SCALARS = frozenset({str, bool, int})


def _placed(node: exp.Expr, key: str, members: list) -> list:
    """`node`'s list `key` set anew from `members`, copying those placed elsewhere or
    listed twice."""
    seen: set[int] = set()
    fixed = []
    for c in members:
        if isinstance(c, exp.Expr) and (c.parent is not node or c.arg_key != key or id(c) in seen):
            c = c.copy()
        seen.add(id(c))
        fixed.append(c)
    node.set(key, fixed)
    return fixed


def translate(query: str | ast.Expr, *, dialect: str = "duckdb", **kwargs) -> str:
    """The SQL text of `query` (see `compile` for the keyword arguments)."""
    return compile(query, dialect, **kwargs).sql


def translate_expression(
    query: str | ast.Expr, *, dialect: str = "duckdb", **kwargs
) -> exp.Expression:
    """The sqlglot expression of `query` (see `compile` for the keyword arguments)."""
    return compile(query, dialect, **kwargs).expression


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
