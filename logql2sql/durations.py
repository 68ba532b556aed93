"""Go's `time.ParseDuration` of a label's text, in SQL, exact to the nanosecond.

Loki reads duration labels with Go: `| unwrap duration(took)` takes
`time.ParseDuration(v).Seconds()`, and `| took > 250ms` compares the parsed int64
nanoseconds. Both are reproduced bit for bit:

- each `<whole>.<fraction><unit>` part adds `whole * unit` plus Go's float product for the
  fraction (`lexical.go_fraction_ns`), and the sum must fit an int64 (else the text does
  not parse, as in Go);
- `Seconds()` is `float64(d / 1e9) + float64(d % 1e9) / 1e9`, which is not always the
  double nearest `number * unit factor` (`988.209ms` is 0.988209 in Go, while
  `988.209 / 1000` is 0.9882089999999999).

A duration is kept as `{'s': whole seconds, 'n': nanoseconds below a second}` of its
magnitude, with the sign apart, so that no step overflows an int64 in any engine. Values
used more than once are bound with `sqlbuild.let` (the expression stays small); the bound
names start with `_dur`, as a column of the same name would shadow them.

Nearly every duration a log line carries is one unsigned number and one unit (`12.3ms`,
`2s`): `duration` reads that form with one anchored regex test and string cuts, and any
other text with the general form (`go_duration`), which splits the parts with regexes and
list lambdas.
"""

from __future__ import annotations

from sqlglot import exp

from logql2sql.sqlbuild import array, case, cast, col, fn, item, lam, let, lit, num, try_cast

_GO_DURATION = r"[-+]?(([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+|[-+]?0"
_PART = r"([0-9]*)\.?([0-9]*)(ns|us|µs|μs|ms|s|m|h)"
_ONE_UNIT = r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)"
_NS = 10**9
# Unit suffixes, two-letter ones first (`ms` ends in `s`), with their nanoseconds.
_UNITS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("ms",), 10**6),
    (("ns",), 1),
    (("us", "µs", "μs"), 10**3),
    (("s",), _NS),
    (("m",), 60 * _NS),
    (("h",), 3600 * _NS),
)
_MAX_SECONDS, _MAX_NANOS = divmod(2**63, _NS)
"""The largest magnitude, 2^63 ns (an int64 once negated); 2^63 - 1 for positive ones."""
_FRACTION_DIGITS = 18
"""Fraction digits read: any 18 fit an int64. Go may count more when a fraction starts
with zeros; their share is below a nanosecond's billionth of the unit."""


def _scales() -> list[float]:
    """Go's fraction scales, `scale *= 10` from 1 (exact doubles)."""
    scales = [1.0]
    for _ in range(_FRACTION_DIGITS):
        scales.append(scales[-1] * 10)
    return scales


_SCALES = _scales()


def duration(raw: exp.Expression) -> exp.Expression:
    """`{'s', 'n', 'neg'}` of Go's `time.ParseDuration(raw)`; NULL when `raw` does not
    parse (bad syntax, or past an int64 of nanoseconds)."""
    general = exp.Not(this=fn("regexp_full_match", raw.copy(), lit(_ONE_UNIT)))
    whens = []
    for suffixes, unit_ns in _UNITS[:-1]:
        ends = [fn("ends_with", raw.copy(), lit(s)) for s in suffixes]
        matched = exp.or_(*ends, copy=False) if len(ends) > 1 else ends[0]
        whens.append((matched, _unit(unit_ns, len(suffixes[0]))))
    unit = case(*whens, default=_unit(_UNITS[-1][1], len(_UNITS[-1][0][0])))
    return case((general, go_duration(raw.copy())), default=let(unit, "_durk", _one_unit(raw)))


def seconds(raw: exp.Expression) -> exp.Expression:
    """Go's `time.ParseDuration(raw).Seconds()`; NULL when `raw` does not parse.

    >>> from sqlglot import exp
    >>> "REGEXP_FULL_MATCH" in seconds(exp.column("d")).sql("duckdb")
    True
    """
    d = col("_durd")
    negative = _field(d, "neg")

    def signed(name: str) -> exp.Expression:
        # Go's `d / Second` and `d % Second` of the signed duration: a zero stays +0
        value = _field(d.copy(), name)
        return cast(case((negative.copy(), exp.Neg(this=value)), default=value.copy()), "DOUBLE")

    go_seconds = exp.Add(
        this=signed("s"), expression=exp.Div(this=signed("n"), expression=num(1e9))
    )
    return let(duration(raw), "_durd", go_seconds)


def nanoseconds(raw: exp.Expression) -> exp.Expression:
    """Go's `time.ParseDuration(raw)` as int64 nanoseconds; NULL when it does not parse."""
    d = col("_durd")
    whole = exp.Mul(this=_field(d, "s"), expression=num(_NS))
    nanos = _field(d.copy(), "n")
    negative = _field(d.copy(), "neg")
    signed = case(
        # -(s * 1e9) - n: the most negative duration, -2^63, never passes through +2^63
        (negative, exp.Sub(this=exp.Neg(this=exp.Paren(this=whole)), expression=nanos)),
        default=exp.Add(this=whole.copy(), expression=nanos.copy()),
    )
    return let(duration(raw), "_durd", signed)


def go_duration(raw: exp.Expression) -> exp.Expression:
    """`duration` of any text, by Go's general syntax: an optional sign and one or more
    `<number><unit>` parts (or a bare `0`)."""
    # the parts' whole numbers, fractions and units, extracted once
    lists = _struct(
        *[fn("regexp_extract_all", raw.copy(), lit(_PART), num(g)) for g in (1, 2, 3)],
        names=("w", "f", "u"),
    )
    i = col("i")

    def of(name: str) -> exp.Expression:
        return item(_field(col("_durl"), name), i.copy())

    whens = [
        (exp.In(this=of("u"), expressions=[lit(s) for s in suffixes]), _unit(unit_ns))
        for suffixes, unit_ns in _UNITS[:-1]
    ]
    unit = case(*whens, default=_unit(_UNITS[-1][1]))
    size = exp.ArraySize(this=_field(col("_durl"), "u"))
    each = fn(
        "list_transform",
        fn("range", num(1), exp.Add(this=size, expression=num(1))),
        lam(["i"], let(unit, "_durk", _part(of("w"), of("f")))),
    )

    def total(field: str) -> exp.Expression:
        values = fn("list_transform", col("_durp"), lam(["p"], _field(col("p"), field)))
        # an integer whatever the engine's list sum returns (Spark's sums doubles; these
        # totals are far below 2^53, so exact either way)
        return cast(exp.Coalesce(this=fn("list_sum", values), expressions=[num(0)]), "BIGINT")

    negative = fn("starts_with", raw, lit("-"))
    summed = let(let(lists, "_durl", each), "_durp", _struct(total("s"), total("n"), negative))
    valid = fn("regexp_full_match", raw.copy(), lit(_GO_DURATION))
    t = col("_durt")
    fields = [_field(t.copy(), k) for k in ("s", "n", "neg")]
    return case((valid, let(summed, "_durt", _normalised(*fields))))


def _unit(unit_ns: int, length: int = 0) -> exp.Expression:
    """A unit's parameters for `_part`, as `_durk`: `k` digits of a whole number below a second
    (3 for ms), `m` seconds per unit (1 below a second), `b` nanoseconds per unit below a
    second, `u` nanoseconds per unit (a double, for Go's fraction product), `lim` the
    largest whole number (Go: 2^63 / unit), `len` the suffix's length in characters."""
    k = len(str(_NS // unit_ns)) - 1 if unit_ns < _NS else 0
    m = 1 if unit_ns < _NS else unit_ns // _NS
    values = [num(k), num(m), num(unit_ns), num(float(unit_ns)), num(2**63 // (m * _NS))]
    return _struct(*values, num(length), names=("k", "m", "b", "u", "lim", "len"))


def _one_unit(raw: exp.Expression) -> exp.Expression:
    """`duration` of an unsigned `<number><unit>`, the unit's parameters bound as `_durk`."""
    cut = exp.Sub(this=exp.Length(this=raw.copy()), expression=_field(col("_durk"), "len"))
    number = exp.Left(this=raw.copy(), expression=cut)
    split = _struct(
        fn("split_part", number, lit("."), num(1)),
        fn("split_part", number.copy(), lit("."), num(2)),
        names=("w", "f"),
    )
    part = let(split, "_durn", _part(_field(col("_durn"), "w"), _field(col("_durn"), "f")))
    t = col("_durt")
    return let(part, "_durt", _normalised(_field(t, "s"), _field(t.copy(), "n"), exp.false()))


def _part(whole: exp.Expression, fraction: exp.Expression) -> exp.Expression:
    """`{'s', 'n'}` of one `<whole>.<fraction><unit>` part (digit strings, either may be
    empty; `n` may exceed a second), the unit's parameters bound as `_durk` (`_unit`).

    Below a second (ns, us, ms) a second is 10^k units: the whole number's last k digits
    are units below a second and the others whole seconds, cut as text (an int64 of
    nanoseconds may not fit an int64 once written in units of one). A whole number past
    what the unit allows gives seconds past the largest duration (see `_normalised`)."""
    unit = col("_durk")
    k = _field(unit, "k")
    upper = exp.Left(
        this=whole,
        expression=fn(
            "greatest", exp.Sub(this=exp.Length(this=whole.copy()), expression=k), num(0)
        ),
    )
    lower = exp.Right(this=whole.copy(), expression=k.copy())
    digits = exp.Left(this=fraction, expression=num(_FRACTION_DIGITS))
    place = exp.Add(this=exp.Length(this=digits), expression=num(1))
    scale = item(array(*[num(x) for x in _SCALES]), place)
    # Go: uint64(float64(f) * (float64(unit) / scale))
    product = exp.Mul(
        this=cast(_digits(digits.copy(), try_cast), "DOUBLE"),
        expression=exp.Paren(this=exp.Div(this=_field(unit.copy(), "u"), expression=scale)),
    )
    values = _struct(
        _digits(upper, try_cast),
        exp.Mul(this=_digits(lower, cast), expression=_field(unit.copy(), "b")),
        cast(fn("floor", product), "BIGINT"),
        names=("w", "b", "f"),
    )
    v = col("_durv")
    w, frac = _field(v, "w"), _field(v.copy(), "f")
    too_big = case(
        (exp.Is(this=w, expression=exp.Null()), exp.true()),
        default=exp.GT(this=w.copy(), expression=_field(unit.copy(), "lim")),
    )
    secs = exp.Add(
        this=exp.Mul(this=w.copy(), expression=_field(unit.copy(), "m")),
        expression=exp.IntDiv(this=frac, expression=num(_NS)),
    )
    nanos = exp.Add(
        this=_field(v.copy(), "b"), expression=exp.Mod(this=frac.copy(), expression=num(_NS))
    )
    over = num(_MAX_SECONDS + 1)
    return let(values, "_durv", _struct(case((too_big, over), default=secs), nanos))


def _digits(text: exp.Expression, convert) -> exp.Expression:
    """A digit string as a BIGINT, 0 when empty (`convert`: `cast`, or `try_cast` where it
    may not fit)."""
    return case(
        (exp.EQ(this=text, expression=lit("")), num(0)), default=convert(text.copy(), "BIGINT")
    )


def _normalised(s: exp.Expression, n: exp.Expression, neg: exp.Expression) -> exp.Expression:
    """`{'s', 'n', 'neg'}` of seconds `s` and nanoseconds `n` (possibly past a second; both
    column references) with `n` below a second; NULL past an int64 of nanoseconds (2^63 - 1,
    or 2^63 for a negative duration)."""
    secs = exp.Add(this=s, expression=exp.IntDiv(this=n, expression=num(_NS)))
    nanos = exp.Mod(this=n.copy(), expression=num(_NS))
    limit = case((neg, num(_MAX_NANOS)), default=num(_MAX_NANOS - 1))
    fits = exp.or_(
        exp.LT(this=secs, expression=num(_MAX_SECONDS)),
        exp.and_(
            exp.EQ(this=secs.copy(), expression=num(_MAX_SECONDS)),
            exp.LTE(this=nanos, expression=limit),
            copy=False,
        ),
        copy=False,
    )
    return case((fits, _struct(secs.copy(), nanos.copy(), neg.copy())))


def _struct(*values: exp.Expression, names: tuple[str, ...] = ("s", "n", "neg")) -> exp.Expression:
    """A struct of `values` named by `names` in order (`{'s', 'n'[, 'neg']}` by default)."""
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(k), expression=v)
            for k, v in zip(names, values, strict=False)
        ]
    )


def _field(value: exp.Expression, name: str) -> exp.Expression:
    return exp.Dot(this=value, expression=exp.to_identifier(name))
