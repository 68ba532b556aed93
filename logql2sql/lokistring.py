"""Loki's own text of a query: what `expr.String()` prints in Loki's Go code.

`loki_string(expr)` is that one-line text; `pretty` lays the same pieces out over lines.
Loki's text differs from `logql2sql.format` in many details, all reproduced here:
binary operations are fully parenthesised (`(a + b)`), groupings are written before the
arguments without spaces (`sum by (a,b)(...)`), label filters combined with `and` read
`( a , b )`, ranges hug their selector (`{a="b"}[5m]`), numbers, durations and byte
sizes take Go's forms (`gofmt`), and two literals joined by an operator are folded into
one number, as Loki's parser folds them.

Loki's tree also groups things our AST keeps flat, so `loki_pipeline` reshapes a pipeline
as Loki's parser builds it: consecutive line filters form one stage (`LineFilterChain`),
a negative `or` (`!= "a" or "b"`) becomes one filter per value, and what follows
`unwrap` are its post-filters.
"""

from __future__ import annotations

from dataclasses import dataclass

from logql2sql import ast
from logql2sql.gofmt import (
    go_duration,
    go_float_f,
    go_float_fixed,
    go_float_v,
    humanize_bytes,
    model_duration,
)
from logql2sql.lexical import quote
from logql2sql.regex_simplify import loki_keeps_regex
from logql2sql.scalar import apply_binop

_POSITIVE_LINE_OPS = ("|=", "|~", "|>")
"""Line filter types whose `or` alternatives stay one filter (any may match); the
negative ones (`!=`, `!~`, `!>`) split into one filter per value (none may match)."""


@dataclass(frozen=True)
class LineFilterLink:
    """One filter of a chain: its type, its value and the values `or`-ed with it."""

    op: str
    values: tuple[ast.LineFilterValue, ...]


@dataclass(frozen=True)
class LineFilterChain:
    """Consecutive line filters, which Loki's grammar merges into one pipeline stage."""

    links: tuple[LineFilterLink, ...]


LokiStage = ast.Stage | LineFilterChain


@dataclass(frozen=True)
class LokiPipeline:
    """A log selector's pipeline as Loki holds it: stages, then `unwrap` and its filters."""

    stages: tuple[LokiStage, ...]
    unwrap: ast.Unwrap | None = None
    post_filters: tuple[ast.LabelFilter, ...] = ()


def loki_pipeline(pipeline: tuple[ast.Stage, ...]) -> LokiPipeline:
    """`pipeline` grouped as Loki's parser groups it."""
    stages: list[LokiStage] = []
    links: list[LineFilterLink] = []
    for i, stage in enumerate(pipeline):
        if isinstance(stage, ast.Unwrap):
            if links:
                stages.append(LineFilterChain(tuple(links)))
            posts = tuple(
                s.filter for s in pipeline[i + 1 :] if isinstance(s, ast.LabelFilterStage)
            )
            return LokiPipeline(tuple(stages), stage, posts)
        if isinstance(stage, ast.LineFilter):
            if stage.op in _POSITIVE_LINE_OPS:
                links.append(LineFilterLink(stage.op, stage.values))
            else:
                links.extend(LineFilterLink(stage.op, (v,)) for v in stage.values)
            continue
        if links:
            stages.append(LineFilterChain(tuple(links)))
            links = []
        stages.append(stage)
    if links:
        stages.append(LineFilterChain(tuple(links)))
    return LokiPipeline(tuple(stages))


def fold_literals(expr: ast.Expr) -> ast.Expr:
    """`expr` with every binary operation of two numbers replaced by its value, bottom up,
    as Loki's parser builds it (`1 + 2 * 3` is the literal `7`)."""
    if isinstance(expr, ast.BinOp):
        left, right = fold_literals(expr.left), fold_literals(expr.right)
        if isinstance(left, ast.Literal) and isinstance(right, ast.Literal):
            return ast.Literal(apply_binop(expr.op, left.value, right.value))
        return ast.BinOp(expr.op, left, right, expr.return_bool, expr.matching)
    if isinstance(expr, ast.VectorAggregation):
        return ast.VectorAggregation(expr.op, fold_literals(expr.expr), expr.param, expr.grouping)
    if isinstance(expr, ast.LabelReplace):
        return ast.LabelReplace(
            fold_literals(expr.expr), expr.dst, expr.replacement, expr.src, expr.regex
        )
    return expr


# ---------------------------------------------------------------- leaves


def _name_needs_quotes(name: str) -> bool:
    """Prometheus quotes a matcher's label name unless it is a legacy identifier."""
    if not name:
        return True
    return not all(
        c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z") or (i > 0 and "0" <= c <= "9")
        for i, c in enumerate(name)
    )


def matcher_string(m: ast.Matcher) -> str:
    """Prometheus' `Matcher.String()`: `name="value"` with Go quoting."""
    name = quote(m.name) if _name_needs_quotes(m.name) else m.name
    return f"{name}{m.op}{quote(m.value)}"


def label_filter_string(f: ast.LabelFilter) -> str:
    """The `String()` of Loki's label filterers (`pkg/logql/log`)."""
    if isinstance(f, ast.AndLabelFilter | ast.OrLabelFilter):
        sep = " , " if isinstance(f, ast.AndLabelFilter) else " or "
        return f"( {label_filter_string(f.left)}{sep}{label_filter_string(f.right)} )"
    if isinstance(f, ast.StringLabelFilter):
        m = f.matcher
        if m.op == "=~" and loki_keeps_regex(m.value):
            # Loki prints a regex it could not reduce to literal filters from its
            # filter, as a raw string when it can.
            value = quote(m.value) if "`" in m.value else f"`{m.value}`"
            return f"{m.name}{m.op}{value}"
        return matcher_string(m)
    if isinstance(f, ast.NumericLabelFilter):
        return f"{f.name}{f.op}{go_float_f(f.value)}"
    if isinstance(f, ast.DurationLabelFilter):
        return f"{f.name}{f.op}{go_duration(f.value)}"
    if isinstance(f, ast.BytesLabelFilter):
        return f"{f.name}{f.op}{humanize_bytes(f.value)}"
    if isinstance(f, ast.IpLabelFilter):
        op = "!=" if f.op == "!=" else "="
        return f"{f.name}{op}ip({quote(f.pattern)})"
    raise TypeError(f"not a label filter: {f!r}")


def _line_value(v: ast.LineFilterValue) -> str:
    return f"ip({quote(v.value)})" if v.ip else quote(v.value)


def line_filter_link_string(link: LineFilterLink, *, with_or: bool = True) -> str:
    """`|= "a" or "b"`; without the `or` part when `with_or` is false (Loki's layout
    prints a split chain's filters that way)."""
    values = link.values if with_or else link.values[:1]
    return f"{link.op} " + " or ".join(_line_value(v) for v in values)


def _extractions(params: tuple[ast.Extraction, ...]) -> str:
    return ",".join(f"{p.name}={quote(p.expression)}" for p in params)


def _named_matchers(items: tuple[ast.NamedMatcher, ...]) -> str:
    return ",".join(matcher_string(i.matcher) if i.matcher else i.name for i in items)


def stage_string(stage: LokiStage) -> str:
    """Loki's `String()` of one pipeline stage."""
    if isinstance(stage, LineFilterChain):
        return " ".join(line_filter_link_string(link) for link in stage.links)
    if isinstance(stage, ast.LogfmtParser):
        flags = ["--strict"] if stage.strict else []
        flags += ["--keep-empty"] if stage.keep_empty else []
        if stage.params:
            return "| logfmt " + "".join(f + " " for f in flags) + _extractions(stage.params)
        return " ".join(["| logfmt", *flags])
    if isinstance(stage, ast.JsonParser):
        return "| json " + _extractions(stage.params) if stage.params else "| json"
    if isinstance(stage, ast.RegexpParser):
        return f"| regexp {quote(stage.pattern)}"
    if isinstance(stage, ast.PatternParser):
        return f"| pattern {quote(stage.pattern)}"
    if isinstance(stage, ast.UnpackParser):
        return "| unpack"
    if isinstance(stage, ast.Decolorize):
        return "| decolorize"
    if isinstance(stage, ast.LabelFilterStage):
        return "| " + label_filter_string(stage.filter)
    if isinstance(stage, ast.LineFormat):
        return f"| line_format {quote(stage.template)}"
    if isinstance(stage, ast.LabelFormat):
        items = ",".join(f"{i.dst}={quote(i.src) if i.template else i.src}" for i in stage.items)
        return f"| label_format {items}"
    if isinstance(stage, ast.Drop):
        return "| drop " + _named_matchers(stage.items)
    if isinstance(stage, ast.Keep):
        return "| keep " + _named_matchers(stage.items)
    raise TypeError(f"not a pipeline stage: {stage!r}")


def unwrap_head(unwrap: ast.Unwrap) -> str:
    """`| unwrap x` or `| unwrap bytes(x)`."""
    if unwrap.conversion:
        return f"| unwrap {unwrap.conversion}({unwrap.label})"
    return f"| unwrap {unwrap.label}"


def selector_string(matchers: tuple[ast.Matcher, ...]) -> str:
    """`{a="b", c=~"d"}`."""
    return "{" + ", ".join(matcher_string(m) for m in matchers) + "}"


def log_string(matchers: tuple[ast.Matcher, ...], stages: tuple[LokiStage, ...]) -> str:
    """A log selector with its stages (without `unwrap`)."""
    text = selector_string(matchers)
    return text + " " + " ".join(stage_string(s) for s in stages) if stages else text


def range_string(r: ast.LogRange) -> str:
    """`{a="b"} | json | unwrap x[5m] offset 1h0m0s` (Loki's `LogRangeExpr.String()`)."""
    pipe = loki_pipeline(r.log.pipeline)
    text = log_string(r.log.matchers, pipe.stages)
    if pipe.unwrap is not None:
        text += " " + unwrap_head(pipe.unwrap)
        text += "".join(" | " + label_filter_string(f) for f in pipe.post_filters)
    text += f"[{model_duration(r.range_ns)}]"
    if r.offset_ns:
        text += f" offset {go_duration(r.offset_ns)}"
    return text


def grouping_string(g: ast.Grouping) -> str:
    """` by (a,b)` or ` without (a,b)`."""
    return f" {'without' if g.without else 'by'} ({','.join(g.labels)})"


def vector_param(expr: ast.VectorAggregation) -> str | None:
    """The integer parameter Loki prints for `topk`-like aggregations, else None."""
    return str(int(expr.param)) if expr.param is not None else None


def binop_modifier_string(op: ast.BinOp) -> str:
    """The operator with `bool`, `on`/`ignoring` and `group_left`/`group_right` as Loki's
    `BinOpExpr.String()` writes them (`ignoring ()` leaves no text, `on ()` does)."""
    text = op.op + (" bool" if op.return_bool else "")
    m = op.matching
    if m.on or m.labels:
        group = {"many-to-one": "group_left", "one-to-many": "group_right"}.get(m.card, "")
        if m.include:
            group += f" ({','.join(m.include)})"
        text += f" {'on' if m.on else 'ignoring'} ({','.join(m.labels)}) {group}"
    return text


def expr_string(expr: ast.Expr) -> str:
    """Loki's `String()` of an expression whose literals are already folded."""
    if isinstance(expr, ast.LogExpr):
        return log_string(expr.matchers, loki_pipeline(expr.pipeline).stages)
    if isinstance(expr, ast.RangeAggregation):
        param = f"{go_float_f(expr.param)}," if expr.param is not None else ""
        text = f"{expr.op}({param}{range_string(expr.range)})"
        return text + (grouping_string(expr.grouping) if expr.grouping is not None else "")
    if isinstance(expr, ast.VectorAggregation):
        g = expr.grouping
        grouping = grouping_string(g) if g is not None and (g.labels or g.without) else ""
        param = vector_param(expr)
        args = ([param] if param is not None else []) + [expr_string(expr.expr)]
        return f"{expr.op}{grouping}({','.join(args)})"
    if isinstance(expr, ast.BinOp):
        left, right = expr_string(expr.left), expr_string(expr.right)
        return f"({left} {binop_modifier_string(expr)} {right})"
    if isinstance(expr, ast.Literal):
        return go_float_v(expr.value)
    if isinstance(expr, ast.VectorExpr):
        return f"vector({go_float_fixed(expr.value)})"
    if isinstance(expr, ast.LabelReplace):
        args = ",".join(quote(s) for s in (expr.dst, expr.replacement, expr.src, expr.regex))
        return f"label_replace({expr_string(expr.expr)},{args})"
    raise TypeError(f"not a LogQL expression: {expr!r}")


def loki_string(expr: ast.Expr) -> str:
    """Loki's one-line text of `expr` (`syntax.ParseExpr(q).String()` in Go).

    >>> from logql2sql import parse
    >>> loki_string(parse('sum(rate({a="b"} | x > 1KB and y="z" [1m])) by (c) * 2'))
    '(sum by (c)(rate({a="b"} | ( x>1.0kB , y="z" )[1m])) * 2)'
    """
    return expr_string(fold_literals(expr))
