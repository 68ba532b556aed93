"""LogQL text of an AST: canonical, and parsed back to the same AST.

Strings are printed as double-quoted Go literals, durations with their largest units
(`1h30m`), byte sizes in bytes, grouping after the aggregation, every nested binary
operation in parentheses. `parse(format(e)) == e` holds for every valid expression.
"""

from __future__ import annotations

from logql2sql import ast
from logql2sql.lexical import format_bytes, format_duration, format_float, quote


def format_expr(expr: ast.Expr) -> str:
    """Canonical LogQL text of `expr`.

    >>> from logql2sql import parse
    >>> format_expr(parse('SUM BY (app) (Rate({app="x"} |= `a` [90s]))'))
    'sum by (app) (rate({app="x"} |= "a" [1m30s]))'
    """
    if isinstance(expr, ast.LogExpr):
        return _log(expr)
    if isinstance(expr, ast.RangeAggregation):
        param = f"{format_float(expr.param)}, " if expr.param is not None else ""
        text = f"{expr.op}({param}{_range(expr.range)})"
        return text + _grouping(expr.grouping)
    if isinstance(expr, ast.VectorAggregation):
        param = f"{expr.param}, " if expr.param is not None else ""
        return f"{expr.op}{_grouping(expr.grouping)} ({param}{format_expr(expr.expr)})"
    if isinstance(expr, ast.BinOp):
        return f"{_operand(expr.left)} {expr.op}{_modifier(expr)} {_operand(expr.right)}"
    if isinstance(expr, ast.Literal):
        return format_float(expr.value)
    if isinstance(expr, ast.VectorExpr):
        return f"vector({format_float(expr.value)})"
    if isinstance(expr, ast.LabelReplace):
        args = ", ".join(quote(s) for s in (expr.dst, expr.replacement, expr.src, expr.regex))
        return f"label_replace({format_expr(expr.expr)}, {args})"
    raise TypeError(f"not a LogQL expression: {expr!r}")


def _operand(expr: ast.Expr) -> str:
    text = format_expr(expr)
    if isinstance(expr, ast.BinOp) or (isinstance(expr, ast.Literal) and expr.value < 0):
        return f"({text})"
    return text


def _modifier(op: ast.BinOp) -> str:
    parts = []
    if op.return_bool:
        parts.append("bool")
    m = op.matching
    if m != ast.VectorMatching():
        parts.append(f"{'on' if m.on else 'ignoring'} ({', '.join(m.labels)})")
        if m.card != "one-to-one":
            kind = "group_left" if m.card == "many-to-one" else "group_right"
            parts.append(f"{kind} ({', '.join(m.include)})")
    return "".join(" " + p for p in parts)


def _grouping(g: ast.Grouping | None) -> str:
    if g is None:
        return ""
    return f" {'without' if g.without else 'by'} ({', '.join(g.labels)})"


def _range(r: ast.LogRange) -> str:
    text = f"{_log(r.log)} [{format_duration(r.range_ns)}]"
    if r.offset_ns:
        text += f" offset {format_duration(r.offset_ns)}"
    return text


def _matcher(m: ast.Matcher) -> str:
    return f"{m.name}{m.op}{quote(m.value)}"


def _log(log: ast.LogExpr) -> str:
    text = "{" + ", ".join(_matcher(m) for m in log.matchers) + "}"
    for stage in log.pipeline:
        text += " " + format_stage(stage)
    return text


def format_stage(stage: ast.Stage) -> str:
    """LogQL text of one pipeline stage (with its leading `|` where it has one)."""
    if isinstance(stage, ast.LineFilter):
        values = " or ".join(
            f"ip({quote(v.value)})" if v.ip else quote(v.value) for v in stage.values
        )
        return f"{stage.op} {values}"
    if isinstance(stage, ast.JsonParser):
        return "| json" + _params(stage.params)
    if isinstance(stage, ast.LogfmtParser):
        flags = (" --strict" if stage.strict else "") + (
            " --keep-empty" if stage.keep_empty else ""
        )
        return "| logfmt" + flags + _params(stage.params)
    if isinstance(stage, ast.RegexpParser):
        return f"| regexp {quote(stage.pattern)}"
    if isinstance(stage, ast.PatternParser):
        return f"| pattern {quote(stage.pattern)}"
    if isinstance(stage, ast.UnpackParser):
        return "| unpack"
    if isinstance(stage, ast.Decolorize):
        return "| decolorize"
    if isinstance(stage, ast.LabelFilterStage):
        return "| " + format_label_filter(stage.filter)
    if isinstance(stage, ast.LineFormat):
        return f"| line_format {quote(stage.template)}"
    if isinstance(stage, ast.LabelFormat):
        items = ", ".join(f"{i.dst}={quote(i.src) if i.template else i.src}" for i in stage.items)
        return f"| label_format {items}"
    if isinstance(stage, ast.Drop | ast.Keep):
        word = "drop" if isinstance(stage, ast.Drop) else "keep"
        items = ", ".join(_matcher(i.matcher) if i.matcher else i.name for i in stage.items)
        return f"| {word} {items}"
    if isinstance(stage, ast.Unwrap):
        if stage.conversion:
            return f"| unwrap {stage.conversion}({stage.label})"
        return f"| unwrap {stage.label}"
    raise TypeError(f"not a pipeline stage: {stage!r}")


def _params(params: tuple[ast.Extraction, ...]) -> str:
    if not params:
        return ""
    return " " + ", ".join(
        p.name if p.expression == p.name else f"{p.name}={quote(p.expression)}" for p in params
    )


def format_label_filter(f: ast.LabelFilter) -> str:
    """LogQL text of a label filter expression, parenthesised where precedence needs it."""
    if isinstance(f, ast.OrLabelFilter):
        right = format_label_filter(f.right)
        if isinstance(f.right, ast.OrLabelFilter):
            right = f"({right})"
        return f"{format_label_filter(f.left)} or {right}"
    if isinstance(f, ast.AndLabelFilter):
        left, right = format_label_filter(f.left), format_label_filter(f.right)
        if isinstance(f.left, ast.OrLabelFilter):
            left = f"({left})"
        if isinstance(f.right, ast.OrLabelFilter | ast.AndLabelFilter):
            right = f"({right})"
        return f"{left} and {right}"
    if isinstance(f, ast.StringLabelFilter):
        return _matcher(f.matcher)
    if isinstance(f, ast.NumericLabelFilter):
        return f"{f.name} {f.op} {format_float(f.value)}"
    if isinstance(f, ast.DurationLabelFilter):
        return f"{f.name} {f.op} {format_duration(f.value)}"
    if isinstance(f, ast.BytesLabelFilter):
        return f"{f.name} {f.op} {format_bytes(f.value)}"
    if isinstance(f, ast.IpLabelFilter):
        return f"{f.name} {f.op} ip({quote(f.pattern)})"
    raise TypeError(f"not a label filter: {f!r}")
