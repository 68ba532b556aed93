"""The LogQL abstract syntax tree: frozen dataclasses, tuples instead of lists.

Roles follow Loki's `ast.go`: an `Expr` is either a `LogExpr` (a stream selector plus a
pipeline of `Stage`s, answered with log lines) or a `SampleExpr` (range and vector
aggregations, binary operations, literals, `vector()`, `label_replace`, answered with
samples). Nodes compare by value, so `parse(format(e)) == e` is a meaningful test.
Parentheses leave no node; `format` puts them back where precedence needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Matcher:
    """A label matcher `name op "value"` with op one of `=`, `!=`, `=~`, `!~`."""

    name: str
    op: str
    value: str


# ---------------------------------------------------------------- label filter expressions


@dataclass(frozen=True)
class LabelFilter:
    """Base of the predicates used by `| <label filter>` stages and after `unwrap`."""


@dataclass(frozen=True)
class StringLabelFilter(LabelFilter):
    """`| name="v"` and the other string matchers, applied to the current label set."""

    matcher: Matcher


@dataclass(frozen=True)
class NumericLabelFilter(LabelFilter):
    """`| name > 5`: the label value is parsed as a float and compared."""

    name: str
    op: str
    value: float


@dataclass(frozen=True)
class DurationLabelFilter(LabelFilter):
    """`| name > 250ms`: the label value is parsed as a Go duration (value in ns)."""

    name: str
    op: str
    value: int


@dataclass(frozen=True)
class BytesLabelFilter(LabelFilter):
    """`| name > 20KB`: the label value is parsed as a byte size (value in bytes)."""

    name: str
    op: str
    value: int


@dataclass(frozen=True)
class IpLabelFilter(LabelFilter):
    """`| name = ip("10.0.0.0/8")` (op `=` or `!=`)."""

    name: str
    op: str
    pattern: str


@dataclass(frozen=True)
class AndLabelFilter(LabelFilter):
    """Both predicates (`and`, `,` or juxtaposition)."""

    left: LabelFilter
    right: LabelFilter


@dataclass(frozen=True)
class OrLabelFilter(LabelFilter):
    """Either predicate."""

    left: LabelFilter
    right: LabelFilter


# ---------------------------------------------------------------- pipeline stages


@dataclass(frozen=True)
class Stage:
    """Base of pipeline stages."""


@dataclass(frozen=True)
class LineFilterValue:
    """One operand of a line filter: a string, or `ip("...")` when `ip` is true."""

    value: str
    ip: bool = False


@dataclass(frozen=True)
class LineFilter(Stage):
    """`|= "a" or "b"` etc.; every alternative takes the operator of the first (Loki)."""

    op: str
    values: tuple[LineFilterValue, ...]


@dataclass(frozen=True)
class Extraction:
    """A parser parameter `name="expression"` (a bare `name` means `name="name"`)."""

    name: str
    expression: str


@dataclass(frozen=True)
class JsonParser(Stage):
    """`| json` (all fields, nested keys joined with `_`) or `| json a="x.y", b`."""

    params: tuple[Extraction, ...] = ()


@dataclass(frozen=True)
class LogfmtParser(Stage):
    """`| logfmt [--strict] [--keep-empty] [params]`."""

    strict: bool = False
    keep_empty: bool = False
    params: tuple[Extraction, ...] = ()


@dataclass(frozen=True)
class RegexpParser(Stage):
    """`| regexp "<RE2 with named groups>"`."""

    pattern: str


@dataclass(frozen=True)
class PatternParser(Stage):
    """`| pattern "<ip> - <_> ..."`."""

    pattern: str


@dataclass(frozen=True)
class UnpackParser(Stage):
    """`| unpack`: JSON object of packed labels, `_entry` becomes the line."""


@dataclass(frozen=True)
class Decolorize(Stage):
    """`| decolorize`: strips ANSI colour sequences from the line."""


@dataclass(frozen=True)
class LabelFilterStage(Stage):
    """`| <label filter expression>`."""

    filter: LabelFilter


@dataclass(frozen=True)
class LineFormat(Stage):
    """`| line_format "<Go template>"`."""

    template: str


@dataclass(frozen=True)
class LabelFormatItem:
    """`dst=src` (rename, `template` false) or `dst="<template>"`."""

    dst: str
    src: str
    template: bool


@dataclass(frozen=True)
class LabelFormat(Stage):
    """`| label_format a=b, c="{{.d}}"`."""

    items: tuple[LabelFormatItem, ...]


@dataclass(frozen=True)
class NamedMatcher:
    """An item of `drop`/`keep`: a bare label name, or a matcher conditioning it."""

    name: str
    matcher: Matcher | None = None


@dataclass(frozen=True)
class Drop(Stage):
    """`| drop a, b="v"`."""

    items: tuple[NamedMatcher, ...]


@dataclass(frozen=True)
class Keep(Stage):
    """`| keep a, b="v"`."""

    items: tuple[NamedMatcher, ...]


@dataclass(frozen=True)
class Unwrap(Stage):
    """`| unwrap [conv(]label[)]`; only valid in range aggregations (checked by validation)."""

    label: str
    conversion: str | None = None


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Expr:
    """Any LogQL query."""


@dataclass(frozen=True)
class LogExpr(Expr):
    """`{matchers} pipeline`: a log query, or the inside of a range."""

    matchers: tuple[Matcher, ...]
    pipeline: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class LogRange:
    """`<log expr> [range] offset d`; `unwrap` and its post-filters live in the pipeline."""

    log: LogExpr
    range_ns: int
    offset_ns: int = 0


@dataclass(frozen=True)
class Grouping:
    """`by (labels)` or `without (labels)`."""

    labels: tuple[str, ...]
    without: bool = False


@dataclass(frozen=True)
class SampleExpr(Expr):
    """Base of metric queries."""


@dataclass(frozen=True)
class RangeAggregation(SampleExpr):
    """`op([param,] <log range>) [grouping]`, e.g. `rate({a="b"}[5m])`."""

    op: str
    range: LogRange
    param: float | None = None
    grouping: Grouping | None = None


@dataclass(frozen=True)
class VectorAggregation(SampleExpr):
    """`op [grouping] ([param,] expr) [grouping]`; `param` kept as written (`topk(5, ...)`)."""

    op: str
    expr: Expr
    param: str | None = None
    grouping: Grouping | None = None


@dataclass(frozen=True)
class VectorMatching:
    """`on/ignoring (labels)` and `group_left/group_right (include)` of a binary operation."""

    on: bool = False
    labels: tuple[str, ...] = ()
    card: str = "one-to-one"
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class BinOp(SampleExpr):
    """`left op [bool] [on/ignoring ...] [group_left/right ...] right`."""

    op: str
    left: Expr
    right: Expr
    return_bool: bool = False
    matching: VectorMatching = VectorMatching()


@dataclass(frozen=True)
class Literal(SampleExpr):
    """A number; a scalar on its own, a constant in arithmetic."""

    value: float


@dataclass(frozen=True)
class VectorExpr(SampleExpr):
    """`vector(n)`: one sample without labels at every step."""

    value: float


@dataclass(frozen=True)
class LabelReplace(SampleExpr):
    """`label_replace(expr, "dst", "replacement", "src", "regex")`."""

    expr: Expr
    dst: str
    replacement: str
    src: str
    regex: str


RANGE_OPS = (
    "count_over_time",
    "rate",
    "rate_counter",
    "bytes_over_time",
    "bytes_rate",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "absent_over_time",
)
VECTOR_OPS = (
    "sum",
    "avg",
    "count",
    "max",
    "min",
    "stddev",
    "stdvar",
    "bottomk",
    "topk",
    "sort",
    "sort_desc",
    "approx_topk",
)


def log_selectors(expr: Expr) -> Iterator[LogExpr]:
    """The log selectors (with their pipelines) of `expr`, left leg first: the order Loki
    evaluates them in."""
    if isinstance(expr, LogExpr):
        yield expr
    elif isinstance(expr, RangeAggregation):
        yield expr.range.log
    elif isinstance(expr, VectorAggregation | LabelReplace):
        yield from log_selectors(expr.expr)
    elif isinstance(expr, BinOp):
        yield from log_selectors(expr.left)
        yield from log_selectors(expr.right)
