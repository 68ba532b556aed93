"""Pass 4 — lower: a validated AST to one sqlglot SELECT.

Input relation (`source`, default `logs`): `fingerprint BIGINT, ts BIGINT (unix ns), line
VARCHAR, labels MAP(VARCHAR, VARCHAR), structured_metadata MAP(VARCHAR, VARCHAR)`.

Output:
- log query: `ts, line, labels, fingerprint`, entries with `start <= ts < end`, newest
  first (`backward`) or oldest first (`forward`), `limit` applied across streams; `labels`
  is the label set after the pipeline (stream labels + structured metadata + extracted).
- metric query: `ts, labels, value`, one row per series and evaluation time
  `t = start, start+step, …, <= end` (one time `start` for instant queries, step 0); range
  windows are left-open `(t - offset - range, t - offset]`, the output time stays `t`.
  A series absent at a step has no row there. A sample-extraction error that survives the
  pipeline (`__error__` set) makes the query fail, as in Loki.

Label maps are kept canonical (entries sorted by key) wherever they are compared.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from logql2sql import ast, buckets, logfmt_labels, unwrap_values
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.pipeline import (
    ERROR,
    ERROR_DETAILS,
    PARSED_NAMES,
    Layers,
    base_labels,
    conversion_error,
    converting_leaf,
    has_error,
    label,
    lower_pipeline,
    no_parsed_names,
    string_match,
)
from logql2sql.regex import group_names
from logql2sql.scalar import apply_binop
from logql2sql.sqlbuild import (
    canonical,
    case,
    cast,
    col,
    compare,
    empty_map,
    fn,
    get,
    ident,
    lit,
    map_of,
    map_only,
    map_set,
    map_without,
    max_ignoring_nan,
    negate,
    num,
    series_text,
    table,
)
from logql2sql.validate import is_scalar

NS = 1_000_000_000

# Functions that raise a query error, per dialect (the only engine-specific choice here
# that sqlglot cannot map on its own). ClickHouse's `throwIf(cond, message)` takes the
# condition first; the others take the message alone.
_RAISE = {"duckdb": "error", "trino": "fail", "spark": "raise_error", "clickhouse": "throwIf"}

# Spark cannot sort or compare maps, so a window partitioned by a label map, or a join on
# label maps, uses their JSON text there (label maps are canonical: equal maps, equal text).
# Trino cannot sort maps (its windows sort their partition keys): their sorted entries.
_MAP_PARTITION_KEY: dict[str, Callable[[exp.Expression], exp.Expression]] = {
    "spark": lambda labels: fn("to_json", labels),
    "trino": lambda labels: fn("array_sort", fn("map_entries", labels)),
}

# Range aggregations computed per step from every sample of the window (no partials).
_PER_STEP = frozenset({"stdvar_over_time", "stddev_over_time", "quantile_over_time"})

# Loki's vector-matching errors (`pkg/logql/evaluator.go`, `vectorBinop`), word for word.
_DUPLICATE_SERIES = (
    "found duplicate series on the {side} hand-side;many-to-many matching not allowed: "
    "matching labels must be unique on one side"
)
_MANY_TO_ONE = (
    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
)
_NOT_UNIQUE = "multiple matches for labels: grouping labels must ensure unique matches"


@dataclass(frozen=True)
class Bounds:
    """The evaluation parameters bound into the SQL as literals."""

    start: int
    end: int
    step: int = 0
    limit: int = 100
    direction: str = "backward"
    source: str = "logs"
    # A relation `fingerprint, labels` with one row per fingerprint of `source` (the labels
    # a function of it), or None. With it, selectors are matched and label maps are read
    # once per stream instead of once per entry (the label column is the costliest to scan).
    streams: str | None = None
    # With `streams`: the label names its maps hold, when known (other names are absent).
    stream_labels: frozenset[str] | None = None
    # Every entry of `source` belongs to a stream that every selector of the query matches
    # (the caller checked it when binding `source`): the selectors are not evaluated again,
    # which spares each entry a lookup of its stream.
    selected: bool = False
    # False when every entry of `source` has empty structured metadata (the caller checked
    # it when binding `source`): then metadata sets no pipeline error.
    metadata: bool = True
    # Log queries also return each entry's stream labels and structured metadata as read
    # (`stream`, `meta`) and the names `label_format` set (`parsed_names`), from which the
    # caller sorts the final labels into Loki's categories (`categorize-labels`).
    categorize: bool = False


class Lowerer:
    """Lowers one query for one dialect and one set of bounds."""

    def __init__(self, bounds: Bounds, dialect: str) -> None:
        self.b = bounds
        self.dialect = dialect
        self.n = 0

    def alias(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def fail(self, message: exp.Expression, to: str) -> exp.Expression:
        """An expression of type `to` that aborts the query with `message` when evaluated."""
        args = [message] if self.dialect != "clickhouse" else [num(1), message]
        return cast(exp.Anonymous(this=_RAISE[self.dialect], expressions=args), to)

    def partition_key(self, labels: exp.Expression) -> exp.Expression:
        """A label map as a window partition key in this dialect."""
        key = _MAP_PARTITION_KEY.get(self.dialect)
        return labels if key is None else key(labels)

    # ------------------------------------------------------------ reading entries

    def read(
        self,
        log: ast.LogExpr,
        lo: exp.Expression,
        hi: exp.Expression,
        hi_inclusive: bool,
        categorize: bool = False,
    ) -> Layers:
        """Entries of the selected streams with `lo < ts <= hi` (or `lo <= ts < hi`);
        with `categorize`, the layers also carry `PARSED_NAMES` (see `Bounds.categorize`)."""
        labels = col("labels")
        conds: list[exp.Expression] = []
        for m in () if self.b.selected else log.matchers:
            value = exp.Coalesce(this=get(labels, m.name), expressions=[lit("")])
            conds.append(string_match(value, m.op, m.value))
        if conds and self.b.streams is not None:
            picked = (
                exp.select(col("fingerprint"))
                .from_(table(self.b.streams), copy=False)
                .where(exp.and_(*conds, copy=False), copy=False)
            )
            conds = [exp.In(this=col("fingerprint"), query=picked.subquery(copy=False))]
        if hi_inclusive:
            conds += [exp.GT(this=col("ts"), expression=lo), exp.LTE(this=col("ts"), expression=hi)]
        else:
            conds += [exp.GTE(this=col("ts"), expression=lo), exp.LT(this=col("ts"), expression=hi)]
        where = conds[0]
        for c in conds[1:]:
            where = exp.And(this=where, expression=c)
        sel = (
            exp.select(
                col("fingerprint"),
                col("ts"),
                col("line"),
                labels.as_("stream", copy=False),
                col("structured_metadata").as_("meta", copy=False),
                base_labels(labels, col("structured_metadata")).as_("lbls", copy=False),
                *([no_parsed_names()] if categorize else []),
            )
            .from_(table(self.b.source), copy=False)
            .where(where, copy=False)
        )
        layers = Layers(sel)
        if categorize:
            layers.extra.append(PARSED_NAMES)
        lower_pipeline(layers, log.pipeline, self.dialect)
        return layers

    # ------------------------------------------------------------ log queries

    def log_query(self, log: ast.LogExpr) -> exp.Select:
        categorize, neutral = self.b.categorize, buckets.label_neutral(log.pipeline)
        layers = self.read(
            log,
            num(self.b.start),
            num(self.b.end),
            hi_inclusive=False,
            categorize=categorize and not neutral,
        )
        desc = self.b.direction == "backward"
        if neutral:
            # Every entry keeps its stream labels plus metadata: pick the entries first and
            # build the label maps of those `limit` alone.
            streams = self.b.streams
            picked = (
                exp.select(
                    col("ts"),
                    col("line"),
                    *([col("stream")] if streams is None else []),
                    col("meta"),
                    col("fingerprint"),
                )
                .from_(layers.rel.subquery(self.alias("q"), copy=False), copy=False)
                .order_by(exp.Ordered(this=col("ts"), desc=desc), copy=False)
                .limit(self.b.limit, copy=False)
            )
            if streams is not None:
                q, s = self.alias("q"), self.alias("s")
                labels = base_labels(col("labels", s), col("meta", q))
                read = [col("labels", s).as_("stream", copy=False), col("meta", q)]
                return (
                    exp.select(
                        col("ts", q),
                        col("line", q),
                        canonical(labels).as_("labels", copy=False),
                        col("fingerprint", q),
                        *(read if categorize else []),
                    )
                    .from_(picked.subquery(q, copy=False), copy=False)
                    .join(
                        table(streams).as_(s),
                        on=exp.EQ(this=col("fingerprint", s), expression=col("fingerprint", q)),
                        copy=False,
                    )
                    .order_by(exp.Ordered(this=col("ts", q), desc=desc), copy=False)
                )
            labels = base_labels(col("stream"), col("meta"))
            return (
                exp.select(
                    col("ts"),
                    col("line"),
                    canonical(labels).as_("labels", copy=False),
                    col("fingerprint"),
                    *([col("stream"), col("meta")] if categorize else []),
                )
                .from_(picked.subquery(self.alias("q"), copy=False), copy=False)
                .order_by(exp.Ordered(this=col("ts"), desc=desc), copy=False)
            )
        read = [col("stream"), col("meta"), col(PARSED_NAMES)]
        return (
            exp.select(
                col("ts"),
                col("line"),
                canonical(col("lbls")).as_("labels", copy=False),
                col("fingerprint"),
                *(read if categorize else []),
            )
            .from_(layers.rel.subquery(self.alias("q"), copy=False), copy=False)
            .order_by(exp.Ordered(this=col("ts"), desc=desc), copy=False)
            .limit(self.b.limit, copy=False)
        )

    # ------------------------------------------------------------ metric queries

    def steps(self) -> exp.Select:
        """One row `t` per evaluation time."""
        if self.b.step <= 0:
            return exp.select(num(self.b.start).as_("t", copy=False))
        series = exp.GenerateSeries(
            start=num(self.b.start), end=num(self.b.end), step=num(self.b.step)
        )
        return exp.select(exp.Unnest(expressions=[series]).as_("t", copy=False))

    def metric(self, expr: ast.Expr) -> exp.Select:
        """A relation `ts, labels, value` for a sample expression."""
        if is_scalar(expr):
            return self.scalar_series(_fold(expr), empty_map())
        if isinstance(expr, ast.RangeAggregation):
            return self.range_aggregation(expr)
        if isinstance(expr, ast.VectorAggregation):
            return self.vector_aggregation(expr)
        if isinstance(expr, ast.BinOp):
            return self.bin_op(expr)
        if isinstance(expr, ast.VectorExpr):
            return self.scalar_series(expr.value, empty_map())
        if isinstance(expr, ast.LabelReplace):
            return self.label_replace(expr)
        raise LogQLError(f"unexpected expression {type(expr).__name__}")

    def scalar_series(self, value: float, labels: exp.Expression) -> exp.Select:
        return exp.select(
            col("t").as_("ts", copy=False),
            labels.as_("labels", copy=False),
            num(value).as_("value", copy=False),
        ).from_(self.steps().subquery(self.alias("s"), copy=False), copy=False)

    def range_aggregation(
        self, agg: ast.RangeAggregation, summed: ast.VectorAggregation | None = None
    ) -> exp.Select:
        """A range aggregation; with `summed`, that `sum` over it folded in (see `buckets`)."""
        r = agg.range
        lo = num(self.b.start - r.offset_ns - r.range_ns)
        hi = num(self.b.end - r.offset_ns)
        unwraps = [s for s in r.log.pipeline if isinstance(s, ast.Unwrap)]
        unwrapped = bool(unwraps)
        labels: exp.Expression = col("lbls")
        if unwraps:
            # The unwrapped label leaves the series' labels (post-filters still see it).
            labels = map_without(labels, [unwraps[0].label])
        # An error names every label of the entry, grouped or not (`GroupedLabels`).
        message = _error_message(label(ERROR), canonical(labels.copy()))
        if agg.grouping is not None:
            labels = _group_labels(labels, agg.grouping)
        key = labels
        if summed is not None:
            key = _group_labels(labels, summed.grouping) if summed.grouping else empty_map()
        if agg.grouping is None:
            labels = canonical(labels)
            if summed is None:
                key = labels
        fail = self.fail(message, "DOUBLE")
        # The sample of each entry; the error check sits in it, so every aggregate reads it
        # (an aggregate that ignored it would let the engine prune the check away).
        if unwrapped:
            value = col("_value")
        elif agg.op in ("bytes_over_time", "bytes_rate"):
            value = cast(fn("strlen", col("line")), "DOUBLE")
        else:
            value = num(1.0)
        fast = self.logfmt_samples(agg, summed, lo, hi, value)
        if fast is not None:
            return fast
        layers = self.read(r.log, lo, hi, hi_inclusive=True)
        if agg.op in buckets.DECOMPOSABLE:
            neutral = not unwrapped and buckets.label_neutral(r.log.pipeline)
            return self.bucketed(agg, layers, key, value, message, neutral)
        samples = exp.select(
            col("ts"),
            col("line"),
            labels.as_("labels", copy=False),
            case((has_error(), fail), default=value).as_("value", copy=False),
        ).from_(layers.rel.subquery(self.alias("x"), copy=False), copy=False)
        if agg.op == "rate_counter":
            # The previous sample of the series, to detect counter resets inside a window.
            order = exp.Order(expressions=[exp.Ordered(this=col("ts"))])
            lags = [
                exp.Window(
                    this=exp.Anonymous(this="lag", expressions=[col(source)]),
                    partition_by=[self.partition_key(col("labels"))],
                    order=order.copy(),
                ).as_(name)
                for name, source in (("prev", "value"), ("prev_ts", "ts"))
            ]
            samples = exp.select(col("ts"), col("line"), col("labels"), col("value"), *lags).from_(
                samples.subquery(self.alias("x"), copy=False), copy=False
            )
        if agg.op == "absent_over_time":
            return self.absent(r, samples)
        x = self.alias("x")
        carried = ["labels", "value", "ts", "prev", "prev_ts"]
        expanded = self.in_windows(r, samples, carried if agg.op == "rate_counter" else carried[:2])
        if agg.op == "rate_counter":
            return self._rate_counter(r, expanded.subquery(x, copy=False), x)
        return self.per_step(agg, expanded, ["labels"], col("value"))

    def in_windows(self, r: ast.LogRange, rows: exp.Select, columns: list[str]) -> exp.Select:
        """`rows` (with `ts`) repeated once per evaluation time `t` whose window holds `ts`.

        The window `(t - offset - range, t - offset]` holds `ts` for `ts + offset <= t < ts +
        offset + range`: a run of consecutive steps computed from `ts` (none when steps are
        farther apart than the range and `ts` falls between two windows), so no join of
        every step with every entry. An instant query's one window holds every entry read.
        """
        t = buckets.steps_of_cell(col("ts"), self.b.start, self.b.end, self.b.step, r)
        return exp.select(t.as_("t", copy=False), *[col(c) for c in columns]).from_(
            rows.subquery(self.alias("w"), copy=False), copy=False
        )

    def per_step(
        self,
        agg: ast.RangeAggregation,
        expanded: exp.Select,
        groups: list[str],
        value: exp.Expression,
        skips: bool = False,
    ) -> exp.Select:
        """A non-decomposable range aggregation (`stdvar`, `stddev`, `quantile`) of
        `value` over `expanded` (see `in_windows`), per step `t` and `groups`: rows `ts`,
        the groups, `value`. With `skips`, a NULL `value` is a skipped entry (the
        aggregates ignore it) and a window of skipped entries alone has no row."""
        op = agg.op
        if op == "stdvar_over_time":
            aggregate = fn("var_pop", value)
        elif op == "stddev_over_time":
            aggregate = fn("stddev_pop", value)
        elif op == "quantile_over_time":
            q = agg.param if agg.param is not None else 0.0
            if q < 0 or q > 1 or math.isnan(q):
                aggregate = num(-math.inf if q < 0 else math.inf)
            else:
                aggregate = fn("quantile_cont", value, num(float(q)))
        else:
            raise UnsupportedInDialect(agg.op, self.dialect)
        keys = [col("t"), *[col(g) for g in groups]]
        stepped = (
            exp.select(
                keys[0].as_("ts"), *[k.copy() for k in keys[1:]], aggregate.as_("value", copy=False)
            )
            .from_(expanded.subquery(self.alias("x"), copy=False), copy=False)
            .group_by(*[k.copy() for k in keys], copy=False)
        )
        return stepped.having(_any_value(), copy=False) if skips else stepped

    def absent(self, r: ast.LogRange, samples: exp.Select) -> exp.Select:
        """`absent_over_time`: the steps whose window holds no sample, labelled with the
        selector's equality matchers."""
        st, e = self.alias("st"), self.alias("e")
        t = col("t", st)
        labels = map_only(_eq_matcher_map(r.log), [m.name for m in r.log.matchers if m.op == "="])
        held = (
            exp.select(num(1))
            .from_(self.in_windows(r, samples, []).subquery(e, copy=False), copy=False)
            .where(exp.EQ(this=col("t", e), expression=t.copy()), copy=False)
        )
        return (
            exp.select(
                t.as_("ts", copy=False),
                labels.as_("labels", copy=False),
                num(1.0).as_("value", copy=False),
            )
            .from_(self.steps().subquery(st, copy=False), copy=False)
            .where(negate(exp.Exists(this=held)), copy=False)
        )

    def bucketed(
        self,
        agg: ast.RangeAggregation,
        layers: Layers,
        key: exp.Expression,
        value: exp.Expression,
        message: exp.Expression,
        neutral: bool,
    ) -> exp.Select:
        """A decomposable range aggregation: partials per (series, grid cell), then per step.

        `key` is the output label map over `lbls`, `message` the pipeline-error text. With a
        label-neutral pipeline the entries are grouped by their raw stream labels and
        metadata, and `lbls` (with its error check) is built once per group.
        """
        x = self.alias("x")
        if neutral:
            groups = ["stream", "structured_metadata"]
            stream, meta = col("stream"), col("meta")
            if self.dialect == "duckdb":
                # Grouping by a map hashes it entry by entry; its JSON text groups the same
                # rows at a fraction of the cost, and the maps come back once per group.
                # With a streams relation the fingerprint stands for the stream's labels.
                stream, meta = fn("to_json", stream), fn("to_json", meta)
                if self.b.streams is not None:
                    stream = col("fingerprint")
            samples = exp.select(
                col("ts"),
                stream.as_("stream", copy=False),
                meta.as_("structured_metadata", copy=False),
                value.as_("value", copy=False),
            ).from_(layers.rel.subquery(x, copy=False), copy=False)
        else:
            guarded = case((has_error(), self.fail(message, "DOUBLE")), default=value)
            groups = ["labels"]
            samples = exp.select(
                col("ts"), key.as_("labels", copy=False), guarded.as_("value", copy=False)
            ).from_(layers.rel.subquery(x, copy=False), copy=False)
        cells = self.cells(agg, samples, groups)
        names = [name for name, _ in buckets.PARTIALS[agg.op].parts]
        if neutral and self.dialect == "duckdb":
            cells = self.labelled_by_json(cells, names, key, message)
        elif neutral:
            with_labels = exp.select(
                col("edge"),
                *[col(n) for n in names],
                base_labels(col("stream"), col("structured_metadata")).as_("lbls", copy=False),
            ).from_(cells.subquery(self.alias("g"), copy=False), copy=False)
            guard = case((has_error(), self.fail(message, "BOOLEAN")), default=exp.true())
            cells = (
                exp.select(key.as_("labels", copy=False), col("edge"), *[col(n) for n in names])
                .from_(with_labels.subquery(self.alias("g"), copy=False), copy=False)
                .where(guard, copy=False)
            )
        return self.over_steps(agg, cells)

    def cells(
        self,
        agg: ast.RangeAggregation,
        samples: exp.Select,
        groups: list[str],
        skips: bool = False,
    ) -> exp.Select:
        """Partial aggregates of `samples` (`ts`, `value`, `groups`) per group and grid cell
        (`edge`, the cell's right end). With `skips`, a NULL `value` is a skipped entry: the
        partials ignore it and a cell of skipped entries alone is left out (cells do not
        overlap in time, so a first/last sample's cell order holds without them)."""
        r = agg.range
        size = buckets.cell_size(self.b.step, r.range_ns)
        origin = self.b.start - r.offset_ns - r.range_ns
        edge = buckets.cell_edge(col("ts"), origin, size).as_("edge", copy=False)
        with_edge = exp.select(col("ts"), *[col(g) for g in groups], edge, col("value")).from_(
            samples.subquery(self.alias("x"), copy=False), copy=False
        )
        partials = (
            exp.select(
                *[col(g) for g in groups],
                col("edge"),
                *buckets.partial_columns(agg.op, col("value"), col("ts")),
            )
            .from_(with_edge.subquery(self.alias("x"), copy=False), copy=False)
            .group_by(*[col(g) for g in groups], col("edge"), copy=False)
        )
        return partials.having(_any_value(), copy=False) if skips else partials

    def over_steps(self, agg: ast.RangeAggregation, cells: exp.Select) -> exp.Select:
        """`ts, labels, value` per step from labelled cells (`labels, edge`, partials)."""
        r = agg.range
        names = [name for name, _ in buckets.PARTIALS[agg.op].parts]
        steps = buckets.steps_of_cell(col("edge"), self.b.start, self.b.end, self.b.step, r)
        expanded = exp.select(
            steps.as_("t", copy=False), col("labels"), *[col(n) for n in names]
        ).from_(cells.subquery(self.alias("c"), copy=False), copy=False)
        e = self.alias("e")
        return (
            exp.select(
                col("t", e).as_("ts", copy=False),
                col("labels", e).as_("labels", copy=False),
                buckets.combined(agg.op, e, num(r.range_ns / NS)).as_("value", copy=False),
            )
            .from_(expanded.subquery(e, copy=False), copy=False)
            .group_by(col("t", e), col("labels", e), copy=False)
        )

    def labelled_by_json(
        self, cells: exp.Select, names: list[str], key: exp.Expression, message: exp.Expression
    ) -> exp.Select:
        """Cells keyed by the JSON text of stream labels (or the fingerprint, with a streams
        relation) and of metadata, labelled with `key`.

        The label maps (and the error check) are built once per distinct stream and
        metadata, then joined to the cells by their key.
        """
        g, d, k = self.alias("g"), self.alias("d"), self.alias("k")
        streams = (
            exp.select(col("stream"), col("structured_metadata"))
            .distinct()
            .from_(exp.Table(this=ident(g)), copy=False)
        )
        meta = _json_map(col("structured_metadata", d))
        if self.b.streams is None:
            stream = _json_map(col("stream", d))
        else:  # `stream` holds the fingerprint: the labels come from the streams relation
            s = self.alias("s")
            stream = col("labels", s)
        with_lbls = exp.select(
            col("stream", d),
            col("structured_metadata", d),
            base_labels(stream, meta).as_("lbls", copy=False),
        ).from_(streams.subquery(d, copy=False), copy=False)
        if self.b.streams is not None:
            with_lbls = with_lbls.join(
                table(self.b.streams).as_(s),
                on=exp.EQ(this=col("fingerprint", s), expression=col("stream", d)),
                copy=False,
            )
        guard = case((has_error(), self.fail(message, "BOOLEAN")), default=exp.true())
        keys = (
            exp.select(col("stream"), col("structured_metadata"), key.as_("labels", copy=False))
            .from_(with_lbls.subquery(self.alias("d"), copy=False), copy=False)
            .where(guard, copy=False)
        )
        joined = exp.and_(
            exp.EQ(this=col("stream", g), expression=col("stream", k)),
            exp.EQ(this=col("structured_metadata", g), expression=col("structured_metadata", k)),
            copy=False,
        )
        return (
            exp.select(col("labels", k), col("edge", g), *[col(n, g) for n in names])
            .from_(exp.Table(this=ident(g)), copy=False)
            .join(keys.subquery(k, copy=False), on=joined, copy=False)
            .with_(g, as_=cells, materialized=True, copy=False)
        )

    def logfmt_samples(
        self,
        agg: ast.RangeAggregation,
        summed: ast.VectorAggregation | None,
        lo: exp.Expression,
        hi: exp.Expression,
        value: exp.Expression,
    ) -> exp.Select | None:
        """The aggregation with each entry's labels, and its unwrapped value, read without
        label maps (see `logfmt_labels`, `unwrap_values`).

        Applies on DuckDB (its regex functions) to a pipeline of line filters, one plain
        `logfmt` and string label filters, optionally followed by `unwrap` and string label
        filters, when the output labels are a known set of names: `sum [by (…)]` folded into
        a range aggregation, or a range aggregation `by (…)`. None otherwise.
        """
        grouping = agg.grouping if summed is None else summed.grouping
        if self.dialect != "duckdb" or (summed is None) == (agg.grouping is None):
            return None
        if agg.op not in buckets.DECOMPOSABLE and agg.op not in _PER_STEP:
            return None
        if grouping is not None and grouping.without:
            return None
        r = agg.range
        plan = logfmt_labels.plan(r.log.pipeline)
        if plan is None:
            return None
        unwrap = plan.unwrap
        dropped = {unwrap.label} if unwrap is not None else set()
        names = tuple(sorted(set(grouping.labels) - dropped)) if grouping is not None else ()
        if not logfmt_labels.readable(names):
            return None
        setters = unwrap is not None or any(logfmt_labels.converting(f) for f in plan.filters)
        if setters and {ERROR, ERROR_DETAILS} & set(names):
            return None  # an unwrap or a filter may set them: the general lowering has them
        filter_names = logfmt_labels.filter_names(plan.filters + plan.after_unwrap)
        read_names = sorted(set(names) | filter_names | dropped)
        # Loki checks for pipeline errors on the sample's labels after grouping
        # (`LabelsBuilder.GroupedLabels`), and on this path the extractor always has the
        # grouping: the range aggregation's own, or a `sum`'s pushed into an additive
        # operation (`buckets.ADDITIVE` is Loki's `canInjectVectorGrouping` set). So an
        # `__error__` that is only a label (a line's key sanitised to it, a stream label)
        # is grouped away unless the grouping names it; the error state is kept, which
        # before the unwrap only structured metadata's `__error__` sets
        # (`LabelsBuilder.Add`), and which `__error__` filters read.
        labels_error = grouping is not None and ERROR in grouping.labels
        layers = self.read(
            ast.LogExpr(r.log.matchers, plan.line_stages), lo.copy(), hi.copy(), hi_inclusive=True
        )
        line, stream, meta = col("line"), col("stream"), col("meta")
        columns = {n: f"_l{i}" for i, n in enumerate(read_names)}
        x = self.alias("x")
        streams = self.b.streams
        own: dict[str, str] = {}
        if streams is None:
            taken = {n: get(stream.copy(), n) for n in [*read_names, ERROR]}
        else:
            # The stream's own values of the names, joined per entry by fingerprint: a few
            # short strings instead of the entry's label map. Names no stream has (when the
            # streams' label names are known) need no join.
            s = self.alias("s")
            known = self.b.stream_labels
            has = [n for n in [*read_names, ERROR] if known is None or n in known]
            own = {n: f"_s{i}" for i, n in enumerate(has)}
            per_stream = exp.select(
                col("fingerprint"), *[get(col("labels"), n).as_(c) for n, c in own.items()]
            ).from_(table(streams), copy=False)
            absent = cast(exp.Null(), "TEXT")
            taken = {n: col(own[n], s) if n in own else absent.copy() for n in [*read_names, ERROR]}

        def value_of(name: str) -> exp.Expression:
            return logfmt_labels.value(name, line.copy(), taken[name], meta.copy())

        # A user's label is read in two layers (see `logfmt_labels.first_layer`): the
        # value known before parsing, the one found before the first quote and the
        # scan's parts, then the label from those; Loki's own labels in one expression.
        staged = {n: c for n, c in columns.items() if logfmt_labels.staged(n)}
        first: list[exp.Expression] = []
        for n, c in columns.items():
            if n not in staged:
                first.append(value_of(n).as_(c, copy=False))
                continue
            known = taken[n].copy()
            if self.b.metadata:
                known = exp.Coalesce(this=known, expressions=[get(meta.copy(), n)])
            found, parts = logfmt_labels.first_layer(line.copy(), n, known)
            first += [
                known.as_(f"{c}k", copy=False),
                found.as_(f"{c}f", copy=False),
                parts.as_(f"{c}p", copy=False),
            ]
        carried = ["ts", "fingerprint", "line", *(["stream"] if streams is None else []), "meta"]
        entries = exp.select(
            *[col(c, x) for c in carried],
            *first,
            exp.Coalesce(
                this=value_of(ERROR) if labels_error else get(meta.copy(), ERROR),
                expressions=[lit("")],
            ).as_("_err", copy=False),
        ).from_(layers.rel.subquery(x, copy=False), copy=False)
        if unwrap is not None:
            may_have = logfmt_labels.may_have(unwrap.label, line.copy(), taken[unwrap.label], meta)
            if may_have is not None:
                entries = entries.where(may_have, copy=False)
        if streams is not None and own:
            entries = entries.join(
                per_stream.subquery(s, copy=False),
                on=exp.EQ(this=col("fingerprint", s), expression=col("fingerprint", x)),
                copy=False,
            )
        if staged:
            second = [
                logfmt_labels.second_layer(
                    col("line"), n, col(f"{c}k"), col(f"{c}f"), col(f"{c}p")
                ).as_(c, copy=False)
                if n in staged
                else col(c)
                for n, c in columns.items()
            ]
            entries = exp.select(*[col(c) for c in carried], *second, col("_err")).from_(
                entries.subquery(self.alias("x"), copy=False), copy=False
            )
        read = {n: col(c) for n, c in columns.items()}
        pre_filters = plan.filters
        extra: list[str] = []
        if any(logfmt_labels.converting(f) for f in plan.filters):
            # Numeric, duration and bytes filters set Loki's error state: the filters
            # before the unwrap run in one layer, in order, each string filter reading the
            # state the earlier ones left; the details of `LabelFilterErr` go along.
            entries = self.converting_filters(
                entries, plan.filters, read, [*carried, *columns.values()]
            )
            pre_filters, extra = (), ["_det"]
        before = col("_err")
        error: exp.Expression = before
        skipped: exp.Expression | None = None
        if unwrap is not None:
            # Lines without the label are skipped: their value is NULL, which every
            # aggregate ignores (a WHERE on the label would be pushed down by the engine,
            # which then parses the label twice). A value that does not convert is
            # Loki's `SampleExtractionErr`, over any error set before.
            raw = read[unwrap.label]
            entries = exp.select(
                *[col(c) for c in carried],
                *[col(c) for c in columns.values()],
                col("_err"),
                *[col(c) for c in extra],
                unwrap_values.value(unwrap.conversion, raw.copy()).as_("_v", copy=False),
            ).from_(entries.subquery(self.alias("x"), copy=False), copy=False)
            finished = unwrap_values.finish(unwrap.conversion, col("_v"), raw.copy())
            if finished is not None:
                entries = exp.select(
                    *[col(c) for c in carried],
                    *[col(c) for c in columns.values()],
                    col("_err"),
                    *[col(c) for c in extra],
                    finished.as_("_v", copy=False),
                ).from_(entries.subquery(self.alias("x"), copy=False), copy=False)
            skipped = exp.EQ(
                this=exp.Coalesce(this=raw.copy(), expressions=[lit("")]), expression=lit("")
            )
            value = col("_v")
            error = case(
                (skipped.copy(), lit("")),
                (exp.Is(this=col("_v"), expression=exp.Null()), lit("SampleExtractionErr")),
                default=before.copy(),
            )
        e = self.alias("x")
        # A failing entry's error names all its labels, not the grouped ones: Loki's
        # `GroupedLabels` returns every label once the error state is set. Not so for a
        # range aggregation's own `by (…)`: there the message names the group, because
        # the full labels need each entry's line carried to this layer, which costs such
        # a query about 25% when nothing fails (`quantile_over_time … by`, 3M lines).
        if summed is None:
            series: exp.Expression = map_of([(n, read[n].copy()) for n in names])
        else:
            if streams is not None:
                # The failing entry's stream labels, joined for failing entries only.
                s = self.alias("s")
                stream = col("labels", s)
            series = logfmt_labels.labels(col("line", e), stream, col("meta", e))
            if extra:  # a converting filter's error and its details are labels too
                set_by_filter = negate(exp.Is(this=col("_det", e), expression=exp.Null()))
                errors = map_of([(ERROR, col("_err", e)), (ERROR_DETAILS, col("_det", e))])
                series = case(
                    (set_by_filter, canonical(fn("map_concat", series, errors))),
                    default=series.copy(),
                )
            if unwrap is not None:
                details = conversion_error(unwrap.conversion, read[unwrap.label].copy())
                failed = map_of([(ERROR, lit("SampleExtractionErr")), (ERROR_DETAILS, details)])
                unconverted = exp.Is(this=col("_v"), expression=exp.Null())
                with_error = case(
                    (unconverted, fn("map_concat", series, failed)), default=series.copy()
                )
                series = canonical(map_without(with_error, [unwrap.label]))
        # Without metadata, only a converting filter or the unwrap can set an error state.
        fails = self.b.metadata or labels_error or unwrap is not None or bool(extra)
        whens = [(skipped, cast(exp.Null(), "DOUBLE"))] if skipped is not None else []
        if fails:
            fail = self.fail(_error_message(error.copy(), series), "DOUBLE")
            whens.append((exp.NEQ(this=error.copy(), expression=lit("")), fail))
        samples = exp.select(
            col("ts", e),
            *[read[n].copy() for n in names],
            (case(*whens, default=value) if whens else value).as_("value", copy=False),
        ).from_(entries.subquery(e, copy=False), copy=False)
        if streams is not None and summed is not None and fails:
            failing = exp.and_(
                exp.EQ(this=col("fingerprint", s), expression=col("fingerprint", e)),
                exp.NEQ(this=error.copy(), expression=lit("")),
                copy=False,
            )
            samples = samples.join(table(streams).as_(s), on=failing, join_type="left", copy=False)
        for f in pre_filters:
            samples = samples.where(
                logfmt_labels.filter_condition(f, read, before), append=True, copy=False
            )
        for f in plan.after_unwrap:
            samples = samples.where(
                logfmt_labels.filter_condition(f, read, error), append=True, copy=False
            )
        groups = [columns[n] for n in names]
        skips = skipped is not None
        labels = map_of([(n, col(columns[n])) for n in names])
        if agg.op in buckets.DECOMPOSABLE:
            labelled = exp.select(
                labels.as_("labels", copy=False),
                col("edge"),
                *[col(p) for p, _ in buckets.PARTIALS[agg.op].parts],
            ).from_(
                self.cells(agg, samples, groups, skips).subquery(self.alias("g"), copy=False),
                copy=False,
            )
            return self.over_steps(agg, labelled)
        expanded = self.in_windows(r, samples, [*groups, "value"])
        return exp.select(col("ts"), labels.as_("labels", copy=False), col("value")).from_(
            self.per_step(agg, expanded, groups, col("value"), skips).subquery(
                self.alias("q"), copy=False
            ),
            copy=False,
        )

    def converting_filters(
        self,
        entries: exp.Select,
        filters: tuple[ast.LabelFilter, ...],
        read: dict[str, exp.Expression],
        kept: list[str],
    ) -> exp.Select:
        """`entries` (with `kept` columns and the error state `_err`) filtered by a
        pipeline's label filters in order, with the error state after them and `_det`, the
        details of a `LabelFilterErr` they set (NULL otherwise): a converting filter sets
        the error only where none is set, as Loki's filters do."""
        state: exp.Expression = col("_err")
        details: exp.Expression = cast(exp.Null(), "TEXT")
        conditions = []
        for f in filters:
            if not logfmt_labels.converting(f):
                conditions.append(logfmt_labels.filter_condition(f, read, state.copy()))
                continue
            passes, failed, why = converting_leaf(f, read[f.name].copy(), self.dialect)
            sets = exp.and_(exp.EQ(this=state.copy(), expression=lit("")), failed, copy=False)
            conditions.append(passes)
            details = case((sets.copy(), why), default=details)
            state = case((sets, lit("LabelFilterErr")), default=state)
        return (
            exp.select(
                *[col(c) for c in kept],
                state.as_("_err", copy=False),
                details.as_("_det", copy=False),
            )
            .from_(entries.subquery(self.alias("x"), copy=False), copy=False)
            .where(exp.and_(*conditions, copy=False), copy=False)
        )

    def _rate_counter(
        self,
        r: ast.LogRange,
        expanded: exp.Subquery,
        x: str,
    ) -> exp.Select:
        """`rate_counter`: Prometheus' extrapolated counter rate, as Loki's newest engine has it.

        Per window `(end - range, end]` (`end = t - offset`): the increase from the first to
        the last sample plus, for every drop inside the window, the value before the drop;
        extrapolated to each window edge unless the edge is farther than 1.1 average sample
        intervals (then half an interval), and never back past the counter's zero point;
        divided by the range in seconds. Fewer than two samples give 0.
        """
        v, ts, t = col("value", x), col("ts", x), col("t", x)
        lo = _sub(t, num(r.offset_ns + r.range_ns))
        reset = case(
            (
                exp.and_(
                    exp.GT(this=col("prev_ts", x), expression=lo),
                    exp.LT(this=v, expression=col("prev", x)),
                    copy=False,
                ),
                col("prev", x),
            ),
            default=num(0.0),
        )
        first = fn("arg_min", v, ts)
        parts = (
            exp.select(
                t.as_("ts", copy=False),
                col("labels", x).as_("labels", copy=False),
                exp.Count(this=v).as_("n", copy=False),
                first.as_("f0", copy=False),
                _add(_sub(fn("arg_max", v, ts), first.copy()), exp.Sum(this=reset)).as_(
                    "inc", copy=False
                ),
                _div(_sub(exp.Min(this=ts), lo.copy()), num(1e9)).as_("d_start", copy=False),
                _div(_sub(_sub(t, num(r.offset_ns)), exp.Max(this=ts)), num(1e9)).as_(
                    "d_end", copy=False
                ),
                _div(_sub(exp.Max(this=ts), exp.Min(this=ts)), num(1e9)).as_("sampled", copy=False),
            )
            .from_(expanded, copy=False)
            .group_by(t, col("labels", x), copy=False)
        )
        avg = _div(col("sampled"), _sub(col("n"), num(1)))
        threshold = _mul(avg, num(1.1))
        half = _div(avg, num(2.0))
        d_start = case(
            (exp.GTE(this=col("d_start"), expression=threshold), half),
            default=col("d_start"),
        )
        to_zero = case(
            (
                exp.and_(
                    exp.GT(this=col("inc"), expression=num(0.0)),
                    exp.GTE(this=col("f0"), expression=num(0.0)),
                    copy=False,
                ),
                _mul(col("sampled"), _div(col("f0"), col("inc"))),
            ),
            default=d_start.copy(),
        )
        d_start = fn("least", d_start, to_zero)
        d_end = case(
            (exp.GTE(this=col("d_end"), expression=threshold.copy()), half.copy()),
            default=col("d_end"),
        )
        interval = _add(_add(col("sampled"), d_start), d_end)
        rate = _div(_mul(col("inc"), _div(interval, col("sampled"))), num(r.range_ns / NS))
        value = case((exp.LT(this=col("n"), expression=num(2)), num(0.0)), default=rate)
        return exp.select(col("ts"), col("labels"), value.as_("value", copy=False)).from_(
            parts.subquery(self.alias("rc"), copy=False), copy=False
        )

    def vector_aggregation(self, agg: ast.VectorAggregation) -> exp.Select:
        op = agg.op
        inner = agg.expr
        if op == "sum" and isinstance(inner, ast.RangeAggregation) and inner.op in buckets.ADDITIVE:
            return self.range_aggregation(inner, summed=agg)
        child = self.metric(agg.expr).subquery(self.alias("c"), copy=False)
        key = (
            _group_labels(col("labels"), agg.grouping) if agg.grouping is not None else empty_map()
        )
        if op in ("sort", "sort_desc"):
            return exp.select(col("ts"), col("labels"), col("value")).from_(child, copy=False)
        if op in ("topk", "bottomk", "approx_topk"):
            if op == "approx_topk" and self.b.step > 0:
                raise LogQLError("approx_topk is only supported on instant queries")
            k = int(agg.param or "0")
            # NaN ranks last for both topk and bottomk.
            nan_last = exp.Ordered(this=fn("isnan", col("value")))
            order = exp.Ordered(this=col("value"), desc=op != "bottomk")
            rank = exp.Window(
                this=exp.RowNumber(),
                partition_by=[col("ts"), self.partition_key(key)],
                order=exp.Order(expressions=[nan_last, order]),
            )
            ranked = exp.select(
                col("ts"), col("labels"), col("value"), rank.as_("rn", copy=False)
            ).from_(child, copy=False)
            return (
                exp.select(col("ts"), col("labels"), col("value"))
                .from_(ranked.subquery(self.alias("r"), copy=False), copy=False)
                .where(exp.LTE(this=col("rn"), expression=num(k)), copy=False)
            )
        value = col("value")
        aggregate = {
            "sum": lambda: exp.Sum(this=value),
            "avg": lambda: exp.Avg(this=value),
            "min": lambda: exp.Min(this=value),
            "max": lambda: max_ignoring_nan(value),
            "count": lambda: cast(exp.Count(this=exp.Star()), "DOUBLE"),
            "stddev": lambda: fn("stddev_pop", value),
            "stdvar": lambda: fn("var_pop", value),
        }[op]()
        return (
            exp.select(col("ts"), key.as_("labels", copy=False), aggregate.as_("value", copy=False))
            .from_(child, copy=False)
            .group_by(col("ts"), key, copy=False)
        )

    def bin_op(self, op: ast.BinOp) -> exp.Select:
        if is_scalar(op.right):
            return self.vector_scalar(op, self.metric(op.left), _fold(op.right), scalar_left=False)
        if is_scalar(op.left):
            return self.vector_scalar(op, self.metric(op.right), _fold(op.left), scalar_left=True)
        return self.vector_vector(op)

    def vector_scalar(
        self, op: ast.BinOp, vec: exp.Select, scalar: float, scalar_left: bool
    ) -> exp.Select:
        child = vec.subquery(self.alias("v"), copy=False)
        v, c = col("value"), num(scalar)
        left, right = (c, v) if scalar_left else (v, c)
        if op.op in _COMPARISONS:
            cond = compare(left, op.op, right)
            if op.return_bool:
                value = case((cond, num(1.0)), default=num(0.0))
                return exp.select(col("ts"), col("labels"), value.as_("value", copy=False)).from_(
                    child, copy=False
                )
            return (
                exp.select(col("ts"), col("labels"), v.as_("value", copy=False))
                .from_(child, copy=False)
                .where(cond, copy=False)
            )
        return exp.select(
            col("ts"), col("labels"), _arith(op.op, left, right).as_("value", copy=False)
        ).from_(child, copy=False)

    def vector_vector(self, op: ast.BinOp) -> exp.Select:
        m = op.matching
        la, ra = self.alias("l"), self.alias("r")

        def key(table: str | None) -> exp.Expression:
            labels = col("labels", table)
            if m.on:
                return map_only(labels, list(m.labels))
            return map_without(labels, list(m.labels))

        same = exp.And(
            this=exp.EQ(this=col("ts", la), expression=col("ts", ra)),
            expression=exp.EQ(
                this=self.partition_key(key(la)), expression=self.partition_key(key(ra))
            ),
        )
        if op.op in ("and", "unless", "or"):
            left = self.metric(op.left).subquery(la, copy=False)
            right = self.metric(op.right).subquery(ra, copy=False)
        if op.op in ("and", "unless"):
            exists = exp.Exists(
                this=exp.select(num(1)).from_(right, copy=False).where(same, copy=False)
            )
            cond = exists if op.op == "and" else negate(exists)
            return (
                exp.select(
                    col("ts", la).as_("ts", copy=False),
                    col("labels", la).as_("labels", copy=False),
                    col("value", la).as_("value", copy=False),
                )
                .from_(left, copy=False)
                .where(cond, copy=False)
            )
        if op.op == "or":
            right_only = (
                exp.select(
                    col("ts", ra).as_("ts", copy=False),
                    col("labels", ra).as_("labels", copy=False),
                    col("value", ra).as_("value", copy=False),
                )
                .from_(right, copy=False)
                .where(
                    negate(exp.Exists(this=exp.select(num(1)).from_(left).where(same))),
                    copy=False,
                )
            )
            left_all = exp.select(col("ts"), col("labels"), col("value")).from_(
                self.metric(op.left).subquery(self.alias("l"), copy=False), copy=False
            )
            return exp.select(col("ts"), col("labels"), col("value")).from_(
                exp.union(left_all, right_only, distinct=False).subquery(
                    self.alias("u"), copy=False
                ),
                copy=False,
            )
        many, one = (la, ra) if m.card != "one-to-many" else (ra, la)
        # Loki rejects a "one" side with two series of the same match key at a step, even
        # when neither matches anything (`vectorBinop` indexes the whole side first).
        side = "right" if m.card != "one-to-many" else "left"
        if one == ra:
            left = self.metric(op.left).subquery(la, copy=False)
            right = self.unique_side(op.right, key(None), side).subquery(ra, copy=False)
        else:
            left = self.unique_side(op.left, key(None), side).subquery(la, copy=False)
            right = self.metric(op.right).subquery(ra, copy=False)
        lv, rv = col("value", la), col("value", ra)
        if m.card == "one-to-one":
            labels_out: exp.Expression = key(la) if m.on else canonical(key(la))
        else:
            labels_out = col("labels", many)
            for name in m.include:
                labels_out = case(
                    (
                        exp.NEQ(
                            this=exp.Coalesce(
                                this=get(col("labels", one), name), expressions=[lit("")]
                            ),
                            expression=lit(""),
                        ),
                        map_set(labels_out, name, get(col("labels", one), name)),
                    ),
                    default=map_without(labels_out, [name]),
                )
            if m.include:
                labels_out = canonical(labels_out)
        keep: exp.Expression = exp.true()
        if op.op in _COMPARISONS:
            cond = compare(lv, op.op, rv)
            if op.return_bool:
                value: exp.Expression = case((cond, num(1.0)), default=num(0.0))
            else:
                value, keep = lv, cond
        else:
            value = _arith(op.op, lv, rv)
        # Two matches of one key (one-to-one) or two equal result label sets (group_*) are
        # Loki errors, checked before the comparison filters anything out.
        partition = [col("ts", la), self.partition_key(key(la))]
        if m.card == "one-to-one":
            ambiguous = _MANY_TO_ONE
        else:
            ambiguous = _NOT_UNIQUE
            partition.append(self.partition_key(labels_out.copy()))
        matches = exp.Window(this=exp.Count(this=exp.Star()), partition_by=partition)
        joined = (
            exp.select(
                col("ts", la).as_("ts", copy=False),
                labels_out.as_("labels", copy=False),
                value.as_("value", copy=False),
                keep.as_("keep", copy=False),
                matches.as_("matches", copy=False),
            )
            .from_(left, copy=False)
            .join(right, on=same, copy=False)
        )
        guard = case(
            (
                exp.GT(this=col("matches"), expression=num(1)),
                self.fail(lit(ambiguous), "BOOLEAN"),
            ),
            default=col("keep"),
        )
        return (
            exp.select(col("ts"), col("labels"), col("value"))
            .from_(joined.subquery(self.alias("j"), copy=False), copy=False)
            .where(guard, copy=False)
        )

    def unique_side(self, expr: ast.Expr, key: exp.Expression, side: str) -> exp.Select:
        """The series of `expr`, failing as Loki does when two share a match key at a step."""
        counted = exp.select(
            col("ts"),
            col("labels"),
            col("value"),
            exp.Window(
                this=exp.Count(this=exp.Star()), partition_by=[col("ts"), self.partition_key(key)]
            ).as_("n", copy=False),
        ).from_(self.metric(expr).subquery(self.alias("o"), copy=False), copy=False)
        guard = case(
            (
                exp.GT(this=col("n"), expression=num(1)),
                self.fail(lit(_DUPLICATE_SERIES.format(side=side)), "BOOLEAN"),
            ),
            default=exp.true(),
        )
        return (
            exp.select(col("ts"), col("labels"), col("value"))
            .from_(counted.subquery(self.alias("u"), copy=False), copy=False)
            .where(guard, copy=False)
        )

    def label_replace(self, lr: ast.LabelReplace) -> exp.Select:
        child = self.metric(lr.expr).subquery(self.alias("c"), copy=False)
        src = exp.Coalesce(this=get(col("labels"), lr.src), expressions=[lit("")])
        anchored = f"^(?:{lr.regex})$"
        matched = fn("regexp_matches", src, lit(anchored))
        expanded = fn(
            "regexp_replace", src, lit(anchored), lit(_replacement(lr.replacement, lr.regex))
        )
        new_labels = case(
            (exp.EQ(this=expanded, expression=lit("")), map_without(col("labels"), [lr.dst])),
            default=canonical(map_set(col("labels"), lr.dst, expanded)),
        )
        return exp.select(
            col("ts"),
            case((matched, new_labels), default=col("labels")).as_("labels", copy=False),
            col("value"),
        ).from_(child, copy=False)


def _any_value() -> exp.Expression:
    """`count(value) > 0`: a group holds a sample that was not skipped."""
    return exp.GT(this=exp.Count(this=col("value")), expression=num(0))


def _error_message(error: exp.Expression, series: exp.Expression) -> exp.Expression:
    """Loki's `PipelineError` text for an error value and the canonical series labels."""
    return _concat(
        lit("pipeline error: '"),
        error,
        lit("' for series: '"),
        series_text(series.copy()),
        lit(f"'.\nUse a label filter to intentionally skip this error. (e.g | {ERROR}!=\""),
        error.copy(),
        lit(
            '").\nTo skip all potential errors you can match empty errors.(e.g __error__="")'
            "\nThe label filter can also be specified after unwrap. "
            '(e.g | unwrap latency | __error__="" )\n'
        ),
    )


def _concat(*parts: exp.Expression) -> exp.Expression:
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p)
    return out


def _sub(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """`(a - b)`, parenthesised: sqlglot prints built trees without adding parentheses."""
    return exp.Paren(this=exp.Sub(this=a, expression=b))


def _add(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Paren(this=exp.Add(this=a, expression=b))


def _mul(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Paren(this=exp.Mul(this=a, expression=b))


def _div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return exp.Paren(this=exp.Div(this=a, expression=b))


_COMPARISONS = {"==": exp.EQ, "!=": exp.NEQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}


def _arith(op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """Arithmetic as Loki evaluates it (x/0 and x%0 are NaN)."""
    if op == "+":
        return exp.Add(this=left, expression=right)
    if op == "-":
        return exp.Sub(this=left, expression=right)
    if op == "*":
        return exp.Mul(this=left, expression=right)
    if op == "^":
        return fn("pow", left, right)
    zero = exp.EQ(this=right, expression=num(0.0))
    if op == "/":
        # Loki's binary operator evaluation answers NaN for any division by zero.
        return case((zero, num(math.nan)), default=exp.Div(this=left, expression=right))
    return case((zero, num(math.nan)), default=fn("fmod", left, right))


def _fold(expr: ast.Expr) -> float:
    if isinstance(expr, ast.Literal):
        return expr.value
    assert isinstance(expr, ast.BinOp)
    return apply_binop(expr.op, _fold(expr.left), _fold(expr.right), expr.return_bool)


def _group_labels(labels: exp.Expression, grouping: ast.Grouping) -> exp.Expression:
    if grouping.without:
        return canonical(map_without(labels, list(grouping.labels)))
    return map_only(labels, list(grouping.labels))


def _json_map(text: exp.Expression) -> exp.Expression:
    """A label map back from its JSON text (`to_json`)."""
    return cast(cast(text, "JSON"), "MAP(VARCHAR, VARCHAR)")


def _eq_matcher_map(log: ast.LogExpr) -> exp.Expression:
    names = [m for m in log.matchers if m.op == "="]
    if not names:
        return empty_map()
    return fn(
        "map",
        exp.Array(expressions=[lit(m.name) for m in names]),
        exp.Array(expressions=[lit(m.value) for m in names]),
    )


def _replacement(template: str, regex: str) -> str:
    """A Prometheus `$1`/`${name}` replacement as an RE2 `\\1` replacement."""
    names = group_names(regex)

    def group(m: re.Match[str]) -> str:
        ref = m.group(1) or m.group(2)
        if ref.isdigit():
            return "\\" + ref
        if ref in names:
            return f"\\{names[ref]}"
        return ""

    escaped = template.replace("\\", "\\\\")
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", group, escaped)
