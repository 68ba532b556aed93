"""Go's `time.ParseDuration` of a label's text, in SQL, exact to the nanosecond.

Loki reads duration labels with Go: `| unwrap duration(took)` takes
`time.ParseDuration(v).Seconds()`, and `| took > 250ms` compares the parsed int64
nanoseconds (`time.Duration`). Both are reproduced bit for bit:

- a `<whole>.<fraction><unit>` part is `whole * unit` plus Go's float product for the
  fraction, `uint64(float64(f) * (float64(unit) / 10^digits))` (`lexical.go_fraction_ns`),
  and the parts' sum must fit an int64 (2^63 for a negative duration), else the text does
  not parse;
- `Seconds()` is `float64(d / 1e9) + float64(d % 1e9) / 1e9`, which is not always the
  double nearest the number times the unit's factor: `988.209ms` is 0.988209 in Go, while
  `988.209 / 1000` is 0.9882089999999999.

`nanoseconds(raw)` is the int64 (NULL when Go refuses the text), for filters in every
dialect. An unwrapped duration takes two query layers, `unwrap_step` then
`unwrap_seconds` over the column holding the step: `Seconds()` reads its input three
times, and a repeated expression is evaluated again each time (binding it in a
one-element list costs an allocation per row, which made unwrapped quantiles 1.5x slower).

Nearly every duration a log line carries is one unsigned number and one unit (`12.3ms`,
`2s`). On DuckDB that form (up to 5 whole digits, and no more fraction digits than keep
it a whole number of nanoseconds) is read as a DECIMAL(18, 9) of seconds: an anchored
regex test per unit tried (the commonest first), a cast and an exact product, no slower
than reading a double as the earlier inexact form did; its whole seconds and its rest
convert to doubles exactly as Go's `d / 1e9` and `d % 1e9` do (DuckDB's decimal-to-double
cast is correctly rounded). Any other text, and every text in other dialects, goes
through the general form: the parts found by a regex, each converted in a list lambda and
summed as DECIMAL(38, 0), so that no step overflows before the int64 range is checked
(about 20 times slower per text, so it is kept out of the common case).
"""

from __future__ import annotations

from sqlglot import exp

from logql2sql.sqlbuild import case, cast, col, fn, lam, let, lit, negate, num, try_cast

_GO_DURATION = r"[-+]?(([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+|[-+]?0"
_PART = r"[0-9]*\.?[0-9]*(?:ns|us|µs|μs|ms|s|m|h)"
_NUMBER = r"^[0-9.]*"
_SECONDS = "DECIMAL(18, 9)"
# The one-unit texts read as decimals: (suffix pattern, suffix length, fraction digits the
# unit keeps to the nanosecond, the number's type, the unit in seconds or None for 1).
# With at most 5 whole digits, 99999h fits 9 whole digits of seconds; a text with more
# fraction digits is truncated by Go's float product, which the general form reproduces.
_FAST: tuple[tuple[str, int, int, str, str | None], ...] = (
    ("ms", 2, 6, "DECIMAL(11, 6)", "0.001"),
    ("s", 1, 9, "DECIMAL(14, 9)", None),
    ("(?:us|µs|μs)", 2, 3, "DECIMAL(8, 3)", "0.000001"),
    ("ns", 2, 0, "DECIMAL(5, 0)", "0.000000001"),
    ("m", 1, 9, "DECIMAL(14, 9)", "60"),
    ("h", 1, 9, "DECIMAL(14, 9)", "3600"),
)
_NS = 10**9
# Unit suffixes, two-letter ones first (`ms` ends in `s`), and their nanoseconds.
_UNITS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("ms",), 10**6),
    (("ns",), 1),
    (("us", "µs", "μs"), 10**3),
    (("s",), _NS),
    (("m",), 60 * _NS),
    (("h",), 3600 * _NS),
)
_OVER = 2**63 + 1
"""Past any int64 of either sign: a part this large makes the whole text fail."""
_GO_FRACTION_LIMIT = "9223372036854775808"
"""Go counts a 19th fraction digit while the number stays within 2^63."""


def unwrap_step(raw: exp.Expression, dialect: str) -> exp.Expression:
    """The first layer of an unwrapped duration: on DuckDB the seconds of a one-unit text
    as DECIMAL(18, 9) (NULL for any other text), elsewhere `nanoseconds`."""
    if dialect != "duckdb":
        return nanoseconds(raw)
    whens = []
    for suffix, length, digits, number, factor in _FAST:
        whole = r"[0-9]{1,5}"
        pattern = (
            f"{whole}\\.?{suffix}"
            if digits == 0
            else f"({whole}(?:\\.[0-9]{{0,{digits}}})?|\\.[0-9]{{1,{digits}}}){suffix}"
        )
        cut = exp.Sub(this=exp.Length(this=raw.copy()), expression=num(length))
        value: exp.Expression = cast(exp.Left(this=raw.copy(), expression=cut), number)
        if factor is not None:
            value = exp.Mul(
                this=value, expression=cast(exp.Literal.number(factor), _decimal_of(factor))
            )
        whens.append((fn("regexp_full_match", raw.copy(), lit(pattern)), cast(value, _SECONDS)))
    return case(*whens)


def unwrap_seconds(step: exp.Column, raw: exp.Expression, dialect: str) -> exp.Expression:
    """Go's `Duration.Seconds()` of `raw`, from the column `step` holding `unwrap_step`."""
    if dialect != "duckdb":
        return seconds(step, dialect)
    whole = fn("trunc", step.copy())
    exact = exp.Add(
        this=cast(whole, "DOUBLE"),
        expression=cast(exp.Sub(this=step.copy(), expression=whole.copy()), "DOUBLE"),
    )
    # other texts: the general form, its nanoseconds bound once (rare rows: the list the
    # binding allocates does not matter there)
    general = let(nanoseconds(raw), "_dn", seconds(col("_dn"), dialect))
    return case((negate(exp.Is(this=step.copy(), expression=exp.Null())), exact), default=general)


def seconds_literal(ns: int) -> exp.Expression:
    """Nanoseconds as an exact DECIMAL(38, 9) literal of seconds, to compare with
    `unwrap_step`'s decimals.

    >>> seconds_literal(-1_500_000_000).sql("duckdb")
    "CAST('-1.500000000' AS DECIMAL(38, 9))"
    """
    whole, rest = divmod(abs(ns), _NS)
    sign = "-" if ns < 0 else ""
    return cast(lit(f"{sign}{whole}.{rest:09d}"), "DECIMAL(38, 9)")


def seconds(ns: exp.Column, dialect: str) -> exp.Expression:
    """Go's `Duration.Seconds()` of the int64 nanoseconds in the column `ns`.

    >>> seconds(col("d"), "duckdb").sql("duckdb")
    'CAST(d // 1000000000 AS DOUBLE) + CAST(d % 1000000000 AS DOUBLE) / 1000000000.0'
    """
    whole = cast(_int_div(ns.copy(), num(_NS), dialect), "DOUBLE")
    below = cast(exp.Mod(this=ns.copy(), expression=num(_NS)), "DOUBLE")
    return exp.Add(this=whole, expression=exp.Div(this=below, expression=num(1e9)))


def _decimal_of(literal: str) -> str:
    """The DECIMAL type that holds a positive literal exactly (`0.001`: DECIMAL(4, 3))."""
    whole, _, fraction = literal.partition(".")
    return f"DECIMAL({len(whole) + len(fraction)}, {len(fraction)})"


def _int_div(a: exp.Expression, b: exp.Expression, dialect: str) -> exp.Expression:
    """Integer division truncated towards zero, as Go's `/` on int64 (sqlglot's integer
    division goes through DOUBLE in some dialects, inexact past 2^53)."""
    if dialect == "trino":
        return exp.Div(this=a, expression=b, typed=True)  # BIGINT / BIGINT
    if dialect == "clickhouse":
        return exp.Anonymous(this="intDiv", expressions=[a, b])
    return exp.IntDiv(this=a, expression=b)


def _fraction_ns(digits: exp.Expression, unit: exp.Expression) -> exp.Expression:
    """Go's `uint64(float64(f) * (float64(unit) / scale))` of fraction digits (`scale` is
    10^digits, an exact double); 0 for no digits."""
    scale = fn("power", num(10), exp.Length(this=digits.copy()))
    product = exp.Mul(
        this=try_cast(digits, "DOUBLE"),
        expression=exp.Paren(this=exp.Div(this=unit, expression=scale)),
    )
    return exp.Coalesce(this=cast(fn("floor", product), "BIGINT"), expressions=[num(0)])


def _over() -> exp.Expression:
    """`_OVER` typed as the parts' sum (a bare literal past BIGINT types differently)."""
    return cast(num(_OVER), "DECIMAL(38, 0)")


def nanoseconds(raw: exp.Expression) -> exp.Expression:
    """Go's `time.ParseDuration(raw)` as int64 nanoseconds, NULL when Go refuses `raw`: the
    general form, for Go's whole syntax (an optional sign and one or more `<number><unit>`
    parts, or a bare `0`)."""
    p = col("_dp")  # a part, e.g. `1.5h`
    number = fn("regexp_extract", p, lit(_NUMBER), num(0))
    unit = fn("regexp_replace", p.copy(), lit(_NUMBER), lit(""))

    def per_unit(value) -> exp.Expression:
        # A simple CASE names the unit once (a searched one would repeat it per suffix).
        whens = [
            exp.If(this=lit(suffix), true=value(unit_ns))
            for suffixes, unit_ns in _UNITS[:-1]
            for suffix in suffixes
        ]
        return exp.Case(this=unit.copy(), ifs=whens, default=value(_UNITS[-1][1]))

    whole = fn("ltrim", fn("split_part", number, lit("."), num(1)), lit("0"))
    fraction = fn("split_part", number.copy(), lit("."), num(2))
    # the fraction digits Go reads: 18, or 19 while they stay within 2^63
    digits = case(
        (
            exp.and_(
                exp.GT(this=exp.Length(this=fraction), expression=num(18)),
                exp.LTE(
                    this=exp.Left(this=fraction.copy(), expression=num(19)),
                    expression=lit(_GO_FRACTION_LIMIT),
                ),
                copy=False,
            ),
            exp.Left(this=fraction.copy(), expression=num(19)),
        ),
        default=exp.Left(this=fraction.copy(), expression=num(18)),
    )
    whole_ns = exp.Mul(
        this=cast(exp.DPipe(this=lit("0"), expression=whole), "DECIMAL(38, 0)"),
        expression=per_unit(num),
    )
    part_ns = case(
        # more than 19 digits is past 2^63 whatever the unit (and past DECIMAL(38, 0) once
        # multiplied by one)
        (exp.GT(this=exp.Length(this=whole.copy()), expression=num(19)), _over()),
        default=exp.Add(
            this=whole_ns,
            expression=_fraction_ns(digits, per_unit(lambda ns: num(float(ns)))),
        ),
    )
    capped = fn("least", part_ns, _over())
    parts = fn("regexp_extract_all", raw.copy(), lit(_PART), num(0))
    total = exp.Coalesce(
        this=fn("list_sum", fn("list_transform", parts, lam(["_dp"], capped))),
        expressions=[num(0)],
    )
    sign = case((fn("starts_with", raw.copy(), lit("-")), num(-1)), default=num(1))
    signed = try_cast(exp.Mul(this=total, expression=sign), "BIGINT")  # NULL past int64
    return case((fn("regexp_full_match", raw, lit(_GO_DURATION)), signed))
