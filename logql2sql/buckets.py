"""Range aggregations evaluated by time bucket instead of by entry.

A range aggregation at step `t` reads the entries of the window `(t - offset - range,
t - offset]`. Every window boundary lies on the grid `start - offset - range + k * g` with
`g = gcd(step, range)` (`g = range` for an instant query), so the entries of one grid cell
`(edge - g, edge]` fall into exactly the windows that the point `edge` falls into. The
aggregations whose value can be combined from partial results (counts, sums, minima,
maxima, first and last samples) are therefore computed in two passes: once per series and
cell over the entries, then once per series and step over the cells. The step join then
reads one row per (series, cell) instead of one per entry, and the partials of a series
with many entries per minute collapse early.

Two more savings apply on top:
- a pipeline that never changes the label set (line filters, `decolorize`, `line_format`,
  label filters that do not convert) leaves every entry with its stream's labels plus its
  structured metadata, so the first pass groups by the raw `stream`/`meta` columns and the
  label map is built once per group instead of once per entry;
- `sum [by|without (…)]` over an additive range aggregation (count, sum, bytes, rate) is
  pushed into the first pass: the sum of the series' values at a step equals the value
  aggregated over all entries of the group, so the series are never materialised.

Semantics do not change: partials combine exactly for counts and byte sums; float sums may
round in another order, as they already do in a parallel engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from logql2sql import ast
from logql2sql.pipeline import converts
from logql2sql.sqlbuild import cast, col, fn, max_ignoring_nan, num
from logql2sql.templates import can_fail

# Range aggregations whose per-window value combines from per-cell partial aggregates.
DECOMPOSABLE = frozenset(
    {
        "count_over_time",
        "rate",
        "bytes_over_time",
        "bytes_rate",
        "sum_over_time",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "first_over_time",
        "last_over_time",
    }
)

# Range aggregations a `sum` over series may be pushed into (values add up across series).
ADDITIVE = frozenset({"count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time"})

# Pipeline stages that never change the label set of an entry.
_NEUTRAL_STAGES = (ast.LineFilter, ast.Decolorize)


def label_neutral(stages: tuple[ast.Stage, ...]) -> bool:
    """True when no stage of the pipeline adds, removes or changes a label."""
    for stage in stages:
        if isinstance(stage, _NEUTRAL_STAGES):
            continue
        if isinstance(stage, ast.LineFormat) and not can_fail(stage.template):
            continue  # a template that can fail sets `__error__` on the lines it fails on
        if isinstance(stage, ast.LabelFilterStage) and not converts(stage.filter):
            continue
        return False
    return True


def cell_size(step_ns: int, range_ns: int) -> int:
    """The grid spacing on which every window boundary lies."""
    return math.gcd(step_ns, range_ns) if step_ns > 0 else range_ns


def cell_edge(ts: exp.Expression, grid_origin: int, size: int) -> exp.Expression:
    """The right edge of the grid cell `(edge - size, edge]` holding `ts` (`ts > origin`).

    Integer arithmetic only (modulo, not division): some engines divide through DOUBLE,
    which is not exact for nanosecond timestamps.
    """
    above = exp.Paren(
        this=exp.Add(
            this=exp.Paren(this=exp.Sub(this=ts, expression=num(grid_origin))),
            expression=num(size - 1),
        )
    )
    floor = exp.Paren(
        this=exp.Sub(
            this=above, expression=exp.Paren(this=exp.Mod(this=above.copy(), expression=num(size)))
        )
    )
    return exp.Add(this=num(grid_origin), expression=floor)


def _ceil_multiple(value: exp.Expression, step: int) -> exp.Expression:
    """The least multiple of `step` at or above `value` (`value >= 0`), in integers."""
    above = exp.Paren(this=exp.Add(this=value, expression=num(step - 1)))
    return exp.Paren(
        this=exp.Sub(
            this=above, expression=exp.Paren(this=exp.Mod(this=above.copy(), expression=num(step)))
        )
    )


def steps_of_cell(
    edge: exp.Expression, start: int, end: int, step: int, r: ast.LogRange
) -> exp.Expression:
    """The evaluation times whose window holds the cell ending at `edge`, one row each.

    Window `(t - offset - range, t - offset]` holds `edge` for `edge + offset <= t <
    edge + offset + range`; `t` runs over `start + i * step <= end`. An instant query has
    the single time `start`, whose window holds every cell read.
    """
    if step <= 0:
        return num(start)
    # `reach = edge + offset + range - start` is positive: edges lie above the first window.
    reach = exp.Paren(this=exp.Sub(this=edge, expression=num(start - r.offset_ns - r.range_ns)))
    lowest = fn("greatest", exp.Sub(this=reach, expression=num(r.range_ns)), num(0))
    first = exp.Add(this=num(start), expression=_ceil_multiple(lowest, step))
    last = fn(
        "least",
        exp.Sub(
            this=exp.Add(this=num(start), expression=_ceil_multiple(reach.copy(), step)),
            expression=num(step),
        ),
        num(end),
    )
    series = exp.GenerateSeries(start=first, end=last, step=num(step))
    return exp.Unnest(expressions=[series])


@dataclass(frozen=True)
class Partial:
    """How one range aggregation splits into per-cell partials and their combination."""

    parts: tuple[tuple[str, Callable[[exp.Expression, exp.Expression], exp.Expression]], ...]
    combine: Callable[[Callable[[str], exp.Expression], exp.Expression], exp.Expression]


def _sum(v: exp.Expression, _ts: exp.Expression) -> exp.Expression:
    return exp.Sum(this=v)


def _as_double_sum(p: Callable[[str], exp.Expression], _seconds: exp.Expression) -> exp.Expression:
    return cast(exp.Sum(this=p("s")), "DOUBLE")


def _per_second(p: Callable[[str], exp.Expression], seconds: exp.Expression) -> exp.Expression:
    return exp.Div(this=cast(exp.Sum(this=p("s")), "DOUBLE"), expression=seconds)


PARTIALS: dict[str, Partial] = {
    "count_over_time": Partial(
        (("n", lambda v, ts: exp.Count(this=v)),),
        lambda p, s: cast(exp.Sum(this=p("n")), "DOUBLE"),
    ),
    "rate": Partial((("s", _sum),), _per_second),
    "bytes_rate": Partial((("s", _sum),), _per_second),
    "bytes_over_time": Partial((("s", _sum),), _as_double_sum),
    "sum_over_time": Partial((("s", _sum),), lambda p, s: exp.Sum(this=p("s"))),
    "avg_over_time": Partial(
        (("s", _sum), ("n", lambda v, ts: exp.Count(this=v))),
        lambda p, s: exp.Div(
            this=exp.Sum(this=p("s")), expression=cast(exp.Sum(this=p("n")), "DOUBLE")
        ),
    ),
    "min_over_time": Partial(
        (("m", lambda v, ts: exp.Min(this=v)),), lambda p, s: exp.Min(this=p("m"))
    ),
    "max_over_time": Partial(
        (("m", lambda v, ts: max_ignoring_nan(v)),), lambda p, s: max_ignoring_nan(p("m"))
    ),
    "first_over_time": Partial(
        (("f", lambda v, ts: fn("arg_min", v, ts)), ("fts", lambda v, ts: exp.Min(this=ts))),
        lambda p, s: fn("arg_min", p("f"), p("fts")),
    ),
    "last_over_time": Partial(
        (("l", lambda v, ts: fn("arg_max", v, ts)), ("lts", lambda v, ts: exp.Max(this=ts))),
        lambda p, s: fn("arg_max", p("l"), p("lts")),
    ),
}


def partial_columns(op: str, value: exp.Expression, ts: exp.Expression) -> list[exp.Expression]:
    """The per-cell partial aggregates of `op`, aliased by their part names."""
    return [
        make(value.copy(), ts.copy()).as_(name, copy=False) for name, make in PARTIALS[op].parts
    ]


def combined(op: str, table: str, seconds: exp.Expression) -> exp.Expression:
    """The window value of `op` from the partials of the cells in the window."""
    return PARTIALS[op].combine(lambda name: col(name, table), seconds)
