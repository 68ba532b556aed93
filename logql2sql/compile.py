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

`CompiledQuery.matchers` are the stream matchers of every selector, and `read_range` the
`(lo, hi]` nanosecond range the SQL can read, so the executor can prune streams and chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from logql2sql import ast
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.lower import Bounds, Lowerer
from logql2sql.parse import parse_tree
from logql2sql.transform import to_ast
from logql2sql.validate import is_scalar, validate

DIALECTS = ("duckdb", "trino", "spark", "clickhouse")


@dataclass(frozen=True)
class QueryParams:
    """Evaluation parameters as bound into the SQL."""

    start: int
    end: int
    step: int
    limit: int
    direction: str
    source: str


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
    expression: exp.Expression
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
) -> CompiledQuery:
    """Parse (if text), validate and lower `query` to SQL for `dialect`.

    >>> q = compile('count_over_time({app="api"} |= "err" [1m])', start=60 * 10**9,
    ...             end=60 * 10**9)
    >>> q.kind, [m.name for m in q.matchers[0]]
    ('metric', ['app'])
    """
    if dialect not in DIALECTS:
        raise UnsupportedInDialect("SQL generation", dialect)
    if direction not in ("forward", "backward"):
        raise LogQLError(f"invalid direction {direction!r}")
    expr = validate(to_ast(parse_tree(query))) if isinstance(query, str) else validate(query)
    bounds = Bounds(start, end, step, limit, direction, source)
    lowerer = Lowerer(bounds, dialect)
    if isinstance(expr, ast.LogExpr):
        kind = "log"
        select = lowerer.log_query(expr)
    else:
        kind = "scalar" if is_scalar(expr) else "metric"
        select = lowerer.metric(expr)
    sql = select.sql(dialect=dialect)
    selectors = tuple(_selectors(expr))
    return CompiledQuery(
        expr=expr,
        kind=kind,
        dialect=dialect,
        expression=select,
        sql=sql,
        matchers=tuple(s.matchers for s in selectors),
        params=QueryParams(start, end, step, limit, direction, source),
        read_range=_read_range(expr, bounds),
    )


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
