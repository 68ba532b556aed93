"""Loki's multi-line layout of a query: `pretty(expr)`, what `syntax.Prettify` answers on
`/loki/api/v1/format_query` (Grafana's "Format query" button shows it).

A node whose one-line text (`lokistring`) fits in `MAX_CHARS_PER_LINE` bytes stays on one
line, indented two spaces per level; a longer one puts its children on their own lines one
level deeper: an aggregation's arguments, a binary operation's legs around the operator
line, a pipeline's stages (a long chain of line filters one filter per line). The layout
follows Loki's `prettier.go` exactly, its quirks included: a split binary operation loses
its parentheses, a split line filter chain prints each filter without its `or`
alternatives, `| decolorize` is never indented, and a split range or offset takes
Prometheus' short durations (`[5m]`, `offset 1h`) where the one-line text has Go's
(`offset 1h0m0s`).
"""

from __future__ import annotations

from logql2sql import ast
from logql2sql.gofmt import go_float_v, model_duration
from logql2sql.lexical import quote
from logql2sql.lokistring import (
    LineFilterChain,
    LokiStage,
    expr_string,
    fold_literals,
    label_filter_string,
    line_filter_link_string,
    log_string,
    loki_pipeline,
    selector_string,
    stage_string,
    unwrap_head,
    vector_param,
)

MAX_CHARS_PER_LINE = 100


def _indent(level: int) -> str:
    return "  " * level


def _too_long(text: str) -> bool:
    """Loki measures Go strings, that is UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogateescape")) > MAX_CHARS_PER_LINE


def _chain(chain: LineFilterChain, level: int) -> str:
    text = stage_string(chain)
    if not _too_long(text):
        return _indent(level) + text
    head = ""
    if len(chain.links) > 1:
        head = _chain(LineFilterChain(chain.links[:-1]), level) + "\n"
    return head + _indent(level) + line_filter_link_string(chain.links[-1], with_or=False)


def _stage(stage: LokiStage, level: int) -> str:
    if isinstance(stage, LineFilterChain):
        return _chain(stage, level)
    if isinstance(stage, ast.Decolorize):
        return stage_string(stage)
    return _indent(level) + stage_string(stage)


def _log(matchers: tuple[ast.Matcher, ...], stages: tuple[LokiStage, ...], level: int) -> str:
    text = log_string(matchers, stages)
    if not stages or not _too_long(text):
        return _indent(level) + text
    head = _indent(level) + selector_string(matchers)
    return head + "\n" + "\n".join(_stage(s, level + 1) for s in stages)


def _range(r: ast.LogRange, level: int) -> str:
    pipe = loki_pipeline(r.log.pipeline)
    text = _log(r.log.matchers, pipe.stages, level)
    if pipe.unwrap is not None:
        text += "\n" + _indent(level + 1) + unwrap_head(pipe.unwrap)
        for f in pipe.post_filters:
            text += "\n" + _indent(level + 1) + "| " + label_filter_string(f)
    text += f" [{model_duration(r.range_ns)}]"
    if r.offset_ns:
        text += f" offset {model_duration(r.offset_ns)}"
    return text


def _grouping(g: ast.Grouping) -> str:
    text = " without" if g.without else (" by" if g.labels else "")
    return text + (f" ({', '.join(g.labels)})" if g.labels else "")


def _binop_operator(op: ast.BinOp) -> str:
    text = op.op + (" bool" if op.return_bool else "")
    m = op.matching
    if m.labels:
        group = {"many-to-one": "group_left", "one-to-many": "group_right"}.get(m.card, "")
        if m.include:
            group += f" ({', '.join(m.include)})"
        text += f" {'on' if m.on else 'ignoring'} ({', '.join(m.labels)}) {group}"
    return text


def _arguments(args: list[str], level: int) -> str:
    return "(\n" + ",\n".join(args) + "\n" + _indent(level) + ")"


def _expr(expr: ast.Expr, level: int) -> str:
    if isinstance(expr, ast.LogExpr):
        return _log(expr.matchers, loki_pipeline(expr.pipeline).stages, level)
    text = expr_string(expr)
    if not _too_long(text) or isinstance(expr, ast.Literal | ast.VectorExpr):
        return _indent(level) + text
    if isinstance(expr, ast.RangeAggregation):
        param = [] if expr.param is None else [_indent(level + 1) + go_float_v(expr.param)]
        body = _arguments([*param, _range(expr.range, level + 1)], level)
        grouping = _grouping(expr.grouping) if expr.grouping is not None else ""
        return _indent(level) + expr.op + body + grouping
    if isinstance(expr, ast.VectorAggregation):
        param = vector_param(expr)
        args = [] if param is None else [_indent(level + 1) + param]
        args.append(_expr(expr.expr, level + 1))
        grouping = _grouping(expr.grouping or ast.Grouping(()))
        return _indent(level) + expr.op + grouping + _arguments(args, level)
    if isinstance(expr, ast.BinOp):
        left, right = _expr(expr.left, level + 1), _expr(expr.right, level + 1)
        return f"{left}\n{_indent(level)}{_binop_operator(expr)}\n{right}"
    if isinstance(expr, ast.LabelReplace):
        strings = (expr.dst, expr.replacement, expr.src, expr.regex)
        args = [_expr(expr.expr, level + 1), *(_indent(level + 1) + quote(s) for s in strings)]
        return _indent(level) + "label_replace" + _arguments(args, level)
    raise TypeError(f"not a LogQL expression: {expr!r}")


def pretty(expr: ast.Expr) -> str:
    """Loki's `syntax.Prettify` of `expr`: the text `/loki/api/v1/format_query` answers.

    >>> from logql2sql import parse
    >>> pretty(parse('sum by (app) (rate({app="api"} |= "error" [5m])) > 1'))
    '(sum by (app)(rate({app="api"} |= "error"[5m])) > 1)'
    >>> print(pretty(parse('{app="api", env="production", cluster="eu-west-1"} |= "error"'
    ...                    ' | json | level="error" | line_format "{{.msg}}"')))
    {app="api", env="production", cluster="eu-west-1"}
      |= "error"
      | json
      | level="error"
      | line_format "{{.msg}}"
    """
    return _expr(fold_literals(expr), 0)
