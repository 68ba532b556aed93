"""Pass 3 — validate: the semantic rules Loki's parser enforces after the grammar.

Messages are Loki's (`pkg/logql/syntax/ast.go`, `parser.go`): matcher requirements,
which range aggregations take `unwrap`, grouping or a parameter, vector aggregation
parameters, binary-operation legs, `unwrap` placement, regexp/pattern parser captures,
`label_replace` regexes. Raises `ParseError`; returns the expression unchanged.
"""

from __future__ import annotations

import re

from logql2sql import ast
from logql2sql.errors import ParseError
from logql2sql.lexical import format_float
from logql2sql.regex import compile_re2, matches_empty
from logql2sql.scalar import apply_binop

MATCHER_REQUIREMENT = (
    "queries require at least one regexp or equality matcher that does not have an "
    'empty-compatible value. For instance, app=~".*" does not meet this requirement, '
    'but app=~".+" will'
)

_UNWRAP_ONLY = {
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "rate_counter",
}
_NO_UNWRAP = {"count_over_time", "bytes_over_time", "bytes_rate"}
_GROUPING_ALLOWED = {
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
}
_LOGICAL = {"and", "or", "unless"}
_PATTERN_CAPTURE = re.compile(r"<(_|[a-zA-Z_][a-zA-Z0-9_]*)>")


def validate(expr: ast.Expr) -> ast.Expr:
    """Check `expr` as Loki's `ParseExpr` does; return it unchanged.

    >>> from logql2sql import parse_unvalidated
    >>> validate(parse_unvalidated('{app=~".*"}'))
    Traceback (most recent call last):
    ...
    logql2sql.errors.ParseError: parse error : queries require at least one regexp or \
equality matcher that does not have an empty-compatible value. For instance, app=~".*" \
does not meet this requirement, but app=~".+" will
    """
    _check(expr)
    return expr


def _check(expr: ast.Expr) -> None:
    if isinstance(expr, ast.LogExpr):
        _check_log(expr, in_range=False)
    elif isinstance(expr, ast.RangeAggregation):
        _check_range_aggregation(expr)
    elif isinstance(expr, ast.VectorAggregation):
        _check_vector_aggregation(expr)
        _check(expr.expr)
    elif isinstance(expr, ast.BinOp):
        _check_bin_op(expr)
    elif isinstance(expr, ast.LabelReplace):
        _check(expr.expr)
        try:
            compile_re2(f"^(?:{expr.regex})$")
        except ParseError as err:
            raise ParseError(f"invalid regex in label_replace: {err.msg}") from None


def _check_log(log: ast.LogExpr, *, in_range: bool) -> None:
    for m in log.matchers:
        if m.op in ("=~", "!~"):
            compile_re2(m.value)
    if not any(not matches_empty(m.op, m.value) for m in log.matchers):
        raise ParseError(MATCHER_REQUIREMENT)
    seen_unwrap = False
    for stage in log.pipeline:
        if isinstance(stage, ast.Unwrap):
            if not in_range or seen_unwrap:
                raise ParseError("syntax error: unexpected unwrap")
            seen_unwrap = True
        elif seen_unwrap and not isinstance(stage, ast.LabelFilterStage):
            raise ParseError("syntax error: unexpected |, expecting [ or )")
        _check_stage(stage)


def _check_stage(stage: ast.Stage) -> None:
    if isinstance(stage, ast.RegexpParser):
        names = re.findall(r"\(\?P?<([^>=!]+)>", stage.pattern)
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ParseError(f"invalid regexp parser: duplicate extracted label name '{name}'")
            seen.add(name)
        try:
            compile_re2(stage.pattern)
        except ParseError as err:
            raise ParseError(f"invalid regexp parser: {err.msg}") from None
        if not names:
            raise ParseError("invalid regexp parser: at least one named capture must be supplied")
    elif isinstance(stage, ast.PatternParser):
        _check_pattern(stage.pattern)
    elif isinstance(stage, ast.LabelFilterStage):
        _check_label_filter(stage.filter)


def _check_label_filter(f: ast.LabelFilter) -> None:
    if isinstance(f, ast.AndLabelFilter | ast.OrLabelFilter):
        _check_label_filter(f.left)
        _check_label_filter(f.right)
    elif isinstance(f, ast.StringLabelFilter) and f.matcher.op in ("=~", "!~"):
        compile_re2(f.matcher.value)


def _check_pattern(pattern: str) -> None:
    captures = list(_PATTERN_CAPTURE.finditer(pattern))
    if not any(m.group(1) != "_" for m in captures):
        raise ParseError("invalid pattern parser: at least one capture is required")
    for prev, nxt in zip(captures, captures[1:], strict=False):
        if prev.end() == nxt.start():
            raise ParseError(
                "invalid pattern parser: found consecutive capture "
                f"'{prev.group(0)}{nxt.group(0)}': expression cannot be parsed"
            )


def _check_range_aggregation(agg: ast.RangeAggregation) -> None:
    _check_log(agg.range.log, in_range=True)
    has_unwrap = any(isinstance(s, ast.Unwrap) for s in agg.range.log.pipeline)
    if agg.grouping is not None and agg.op not in _GROUPING_ALLOWED:
        raise ParseError(f"grouping not allowed for {agg.op} aggregation")
    if agg.op == "quantile_over_time" and agg.param is None:
        raise ParseError("parameter required for operation quantile_over_time")
    if agg.op != "quantile_over_time" and agg.param is not None:
        raise ParseError(
            f"parameter {format_float(agg.param)} not supported for operation {agg.op}"
        )
    if has_unwrap and agg.op in _NO_UNWRAP:
        raise ParseError(f"invalid aggregation {agg.op} with unwrap")
    if not has_unwrap and agg.op in _UNWRAP_ONLY:
        raise ParseError(f"invalid aggregation {agg.op} without unwrap")


def _check_vector_aggregation(agg: ast.VectorAggregation) -> None:
    if agg.op in ("topk", "bottomk", "approx_topk"):
        if agg.param is None:
            raise ParseError(f"parameter required for operation {agg.op}")
        # Go's strconv.Atoi: ASCII digits only (no `_`), within int64
        digits = agg.param.removeprefix("+").removeprefix("-")
        if not (digits.isascii() and digits.isdigit()) or not -(2**63) <= int(agg.param) < 2**63:
            raise ParseError(f"invalid parameter {agg.op}({agg.param},")
        k = int(agg.param)
        if k <= 0:
            raise ParseError(f"invalid parameter (must be greater than 0) {agg.op}({agg.param}")
    elif agg.param is not None:
        raise ParseError(f"unsupported parameter for operation {agg.op}({agg.param},")
    if agg.op in ("sort", "sort_desc") and agg.grouping is not None:
        raise ParseError("sort and sort_desc doesn't allow grouping by ")
    if agg.op == "approx_topk" and agg.grouping is not None:
        raise ParseError("grouping not allowed for approx_topk aggregation")


def is_scalar(expr: ast.Expr) -> bool:
    """True for literals and arithmetic over literals (Loki folds them into one literal)."""
    if isinstance(expr, ast.Literal):
        return True
    if isinstance(expr, ast.BinOp):
        return is_scalar(expr.left) and is_scalar(expr.right)
    return False


def fold_scalar(expr: ast.Expr) -> float:
    """The value of a scalar expression, computed as Loki folds it at parse time."""
    if isinstance(expr, ast.Literal):
        return expr.value
    assert isinstance(expr, ast.BinOp)
    return apply_binop(expr.op, fold_scalar(expr.left), fold_scalar(expr.right), expr.return_bool)


def _check_bin_op(op: ast.BinOp) -> None:
    for side, leg in (("left", op.left), ("right", op.right)):
        if isinstance(leg, ast.LogExpr):
            kind = "*syntax.PipelineExpr" if leg.pipeline else "*syntax.MatchersExpr"
            raise ParseError(
                f"unexpected type for {side} leg of binary operation ({op.op}): {kind}"
            )
    _check(op.left)
    _check(op.right)
    if op.op in _LOGICAL:
        for side, leg in (("left", op.left), ("right", op.right)):
            if is_scalar(leg):
                raise ParseError(
                    f"unexpected literal for {side} leg of logical/set binary operation "
                    f"({op.op}): {fold_scalar(leg):f}"
                )
