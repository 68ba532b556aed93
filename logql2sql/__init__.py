"""logql2sql — LogQL (Grafana Loki 3.x) parsed with lark and lowered to SQL with sqlglot.

Public interface:

- `parse(text) -> Expr`: parse and validate, raising `ParseError` worded like Loki.
- `format(expr) -> str`: canonical LogQL; `parse(format(e)) == e`.
- `pretty(expr) -> str`: Loki's own layout (`syntax.Prettify`), as `format_query` answers.
- `compile(query, dialect="duckdb", ...) -> CompiledQuery`: the SQL (text and sqlglot
  expression), the query kind, the stream matchers and the parameters to bind.
- `plan(query, dialect="duckdb", ...) -> QueryPlan`: `compile` without lowering (parse,
  validate, kind, matchers, read range, checked parameters) — what an executor needs to
  bind its data; `compile_plan(plan) -> CompiledQuery` lowers it (the executor plans,
  binds, then lowers once with `plan.with_params(stream_labels=...)`).
- `translate(query, ...) -> str` and `translate_expression(...)`: the SQL alone.

Passes, one module each: `parse` (with `lexer`, the lexing Loki does by hand) →
`transform` → `validate` → `stages` (the errors Loki's querier raises when it builds a
pipeline: `parse` leaves them to translation, as Loki's parser does) → `lower` → SQL
generation, chained in `compile.plan` and `compile.compile_plan`.

>>> e = parse('sum by (app) (count_over_time({app="api"} |= "error" [5m]))')
>>> format(e)
'sum by (app) (count_over_time({app="api"} |= "error" [5m]))'
"""

from __future__ import annotations

from logql2sql import ast
from logql2sql.errors import LogQLError, ParseError, UnsupportedInDialect
from logql2sql.format import format_expr
from logql2sql.parse import parse_tree
from logql2sql.pretty import pretty
from logql2sql.transform import to_ast
from logql2sql.validate import validate


def parse_unvalidated(text: str) -> ast.Expr:
    """The AST of `text` after the grammar only (no semantic validation)."""
    return to_ast(parse_tree(text))


def parse(text: str) -> ast.Expr:
    """Parse and validate a LogQL query; raises `ParseError` like Loki's `ParseExpr`."""
    return validate(parse_unvalidated(text))


def format(expr: ast.Expr) -> str:  # noqa: A001 - the public name the issue fixes
    """Canonical LogQL text of `expr`."""
    return format_expr(expr)


from logql2sql.compile import (  # noqa: E402 - compile imports parse from this package
    CompiledQuery,
    QueryParams,
    QueryPlan,
    compile,
    compile_plan,
    plan,
    translate,
    translate_expression,
)

__all__ = [
    "CompiledQuery",
    "LogQLError",
    "ParseError",
    "QueryParams",
    "QueryPlan",
    "UnsupportedInDialect",
    "ast",
    "compile",
    "compile_plan",
    "format",
    "parse",
    "plan",
    "pretty",
    "translate",
    "translate_expression",
]
