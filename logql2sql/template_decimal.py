"""sprig's `addf`/`subf`/`mulf`/`divf` as SQL: shopspring decimals, exactly.

sprig turns each argument into a `decimal.Decimal` with `decimal.NewFromFloat` (the
shortest decimal that reads back as the same float64, which is DuckDB's own text of a
DOUBLE), folds them with exact `Add`/`Sub`/`Mul` and with `Div`, which is
`DivRound(d2, 16)`: the quotient truncated to 16 decimal places, then moved one unit away
from zero when the remainder is at least half a unit. The result goes back to float64 by
`big.Rat.Float64`, the nearest float (ties to even; ±Inf past the range, a signed zero
below it), which is DuckDB's cast of the decimal's text `<coefficient>e<exponent>`.

A decimal is held as a coefficient (HUGEINT, up to 38 digits) and a base-ten exponent.
Operands whose exact result needs more than 38 digits (sums of values more than ~20 orders
of magnitude apart, products of long coefficients, long chains) fail the query with a
message saying so rather than give a rounded answer. NaN and ±Inf arguments are Go's
execution error (`Cannot create a Decimal from NaN`), division by zero is
`decimal division by 0`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from logql2sql.sqlbuild import case, cast, col, fn, item, let, lit, negate, num

Decimal = tuple[exp.Expression, exp.Expression]
"""(coefficient HUGEINT, exponent BIGINT) of one decimal value."""

TOO_LONG = "template {name} needs more than 38 decimal digits for an exact result"
_SHORTEST = r"^(-?)([0-9]+)(?:\.([0-9]+))?(?:e([+-][0-9]+))?$"


def decimal_fold(name: str, floats: list[exp.Expression]) -> exp.Expression:
    """The float64 sprig's `name` returns for float64 arguments `floats` (NaN/Inf excluded
    by the caller: see `non_finite`), evaluated with each intermediate decimal bound once."""
    op = {"addf": _add, "subf": _sub, "mulf": _mul, "divf": _div}[name]
    fail = fn("error", lit(TOO_LONG.format(name=name)))
    names = [f"_d{i}" for i in range(len(floats))]

    def body(i: int, acc: Decimal | None) -> exp.Expression:
        if i == len(floats):
            assert acc is not None
            return _to_float(acc)
        d = _from_float(floats[i])
        cur = d if acc is None else op(acc, d, fail)
        packed = exp.Array(expressions=[cast(cur[0], "HUGEINT"), cast(cur[1], "HUGEINT")])
        bound = (item(col(names[i]), 1), item(col(names[i]), 2))
        return let(packed, names[i], body(i + 1, bound))

    if name == "addf":  # sprig starts the sum at float64(0)
        floats = [num(0.0), *floats]
        names.insert(0, "_dz")
    return body(0, None)


def non_finite(x: exp.Expression) -> exp.Expression:
    """Go's `%v` of a NaN or infinite float64 (`NaN`, `+Inf`, `-Inf`), NULL otherwise."""
    return case(
        (fn("isnan", x), lit("NaN")),
        (exp.EQ(this=x.copy(), expression=cast(lit("inf"), "DOUBLE")), lit("+Inf")),
        (exp.EQ(this=x.copy(), expression=cast(lit("-inf"), "DOUBLE")), lit("-Inf")),
    )


def _from_float(x: exp.Expression) -> Decimal:
    """`decimal.NewFromFloat(x)`: DuckDB's shortest text of the double, split into digits
    and exponent (`-1.25e-07` is -125 × 10^-9)."""
    text = cast(x, "VARCHAR")

    def part(i: int) -> exp.Expression:
        return fn("regexp_extract", text.copy(), lit(_SHORTEST), num(i))

    digits = fn("concat", part(2), part(3))
    magnitude = cast(digits, "HUGEINT")
    coef = case(
        (exp.EQ(this=part(1), expression=lit("-")), exp.Neg(this=magnitude)),
        default=magnitude.copy(),
    )
    power = exp.Coalesce(this=exp.TryCast(this=part(4), to=exp.DataType.build("BIGINT")))
    power.set("expressions", [num(0)])
    expo = exp.Sub(this=power, expression=fn("length", part(3)))
    return coef, expo


def _digits(c: exp.Expression) -> exp.Expression:
    return fn("length", cast(fn("abs", c), "VARCHAR"))


def _scaled(c: exp.Expression, k: exp.Expression, fail: exp.Expression) -> exp.Expression:
    """c × 10^k (k ≥ 0) exactly, or the query fails where it needs more than 38 digits."""
    fits = exp.LTE(this=exp.Add(this=_digits(c), expression=k), expression=num(38))
    zero = exp.EQ(this=c.copy(), expression=num(0))
    power = cast(
        fn("concat", lit("1"), fn("repeat", lit("0"), cast(k.copy(), "BIGINT"))), "HUGEINT"
    )
    return case(
        (zero, cast(num(0), "HUGEINT")),
        (fits, exp.Mul(this=c.copy(), expression=power)),
        default=fail.copy(),
    )


def _add(a: Decimal, b: Decimal, fail: exp.Expression) -> Decimal:
    e = case(  # a zero takes the other's exponent (sprig's sums start at 0)
        (exp.EQ(this=a[0].copy(), expression=num(0)), b[1].copy()),
        (exp.EQ(this=b[0].copy(), expression=num(0)), a[1].copy()),
        default=exp.Least(this=a[1].copy(), expressions=[b[1].copy()]),
    )
    ca = _scaled(a[0].copy(), exp.Sub(this=a[1].copy(), expression=e.copy()), fail)
    cb = _scaled(b[0].copy(), exp.Sub(this=b[1].copy(), expression=e.copy()), fail)
    return exp.Add(this=ca, expression=cb), e


def _sub(a: Decimal, b: Decimal, fail: exp.Expression) -> Decimal:
    return _add(a, (exp.Neg(this=exp.Paren(this=b[0].copy())), b[1]), fail)


def _mul(a: Decimal, b: Decimal, fail: exp.Expression) -> Decimal:
    fits = exp.LTE(
        this=exp.Add(this=_digits(a[0].copy()), expression=_digits(b[0].copy())),
        expression=num(38),
    )
    coef = case((fits, exp.Mul(this=a[0].copy(), expression=b[0].copy())), default=fail.copy())
    return coef, exp.Add(this=a[1].copy(), expression=b[1].copy())


def _div(a: Decimal, b: Decimal, fail: exp.Expression) -> Decimal:
    """`DivRound(b, 16)`: |a| × 10^k / |b| (k = ea - eb + 16) as a long division in up to
    two steps of at most 38 digits, rounded half away from zero, signed. A zero divisor is
    the caller's execution error (NULL here)."""
    shift = exp.Add(this=exp.Sub(this=a[1].copy(), expression=b[1].copy()), expression=num(16))
    sign = exp.Mul(this=fn("sign", a[0].copy()), expression=fn("sign", b[0].copy()))
    packed = exp.Array(
        expressions=[
            cast(fn("abs", a[0].copy()), "HUGEINT"),
            cast(fn("nullif", fn("abs", b[0].copy()), num(0)), "HUGEINT"),
            cast(shift, "HUGEINT"),
            cast(sign, "HUGEINT"),
        ]
    )
    return let(packed, "_v", _quotient(col("_v"), fail)), num(-16)


def _idiv(n: exp.Expression, d: exp.Expression) -> exp.Expression:
    return exp.IntDiv(this=n, expression=d)


def _quotient(v: exp.Expression, fail: exp.Expression) -> exp.Expression:
    n, d, k, sign = (item(v.copy(), i) for i in (1, 2, 3, 4))

    def rounded(q: exp.Expression, r: exp.Expression, den: exp.Expression) -> exp.Expression:
        half = exp.GTE(this=r, expression=exp.Sub(this=den, expression=r.copy()))
        up = case((half, exp.Add(this=q.copy(), expression=num(1))), default=q.copy())
        return exp.Mul(this=sign.copy(), expression=exp.Paren(this=up))

    # k < 0: the divisor takes the shift; past the dividend's digits the quotient is 0
    neg = exp.Neg(this=exp.Paren(this=k.copy()))
    vanishes = exp.GT(this=neg.copy(), expression=_digits(n.copy()))
    down = let(
        _scaled(d.copy(), neg.copy(), fail),
        "_dd",
        rounded(
            _idiv(n.copy(), col("_dd")),
            exp.Mod(this=n.copy(), expression=col("_dd")),
            col("_dd"),
        ),
    )
    # k >= 0: n × 10^s1 / d, then the remainder × 10^(k - s1) / d
    s1 = exp.Least(this=k.copy(), expressions=[exp.Sub(this=num(38), expression=_digits(n.copy()))])
    step1 = exp.Array(
        expressions=[
            cast(_scaled(n.copy(), s1.copy(), fail), "HUGEINT"),
            cast(exp.Sub(this=k.copy(), expression=s1), "HUGEINT"),
        ]
    )
    n1, s2 = item(col("_s"), 1), item(col("_s"), 2)
    q1, r1 = _idiv(n1.copy(), d.copy()), exp.Mod(this=n1.copy(), expression=d.copy())
    m = _scaled(r1.copy(), s2.copy(), fail)
    q = exp.Add(this=_scaled(q1.copy(), s2.copy(), fail), expression=_idiv(col("_m"), d.copy()))
    second = let(m, "_m", rounded(q, exp.Mod(this=col("_m"), expression=d.copy()), d.copy()))
    up = let(
        step1,
        "_s",
        case(
            (exp.EQ(this=s2.copy(), expression=num(0)), rounded(q1, r1, d.copy())),
            default=second,
        ),
    )
    return case(
        (exp.GTE(this=k.copy(), expression=num(0)), up),
        (vanishes, cast(num(0), "HUGEINT")),
        default=down,
    )


def _to_float(d: Decimal) -> exp.Expression:
    """`big.Rat.Float64` of the decimal: the nearest double of its exact text."""
    text = fn("concat", cast(d[0], "VARCHAR"), lit("e"), cast(d[1], "VARCHAR"))
    value = cast(text, "DOUBLE")
    # a negative value below the smallest double rounds to -0, as big.Rat does
    return case(
        (exp.LT(this=d[0].copy(), expression=num(0)), exp.Neg(this=fn("abs", value))),
        default=value.copy(),
    )


def decimal_call(
    name: str, floats: list[exp.Expression], error: Callable[[exp.Expression], exp.Expression]
) -> tuple[exp.Expression, exp.Expression]:
    """(result, execution error) of sprig's `name` over float64 SQL values: `error(message)`
    builds the error Go reports (`error calling divf: ...`) from a message expression."""
    checks: list[tuple[exp.Expression, exp.Expression]] = []
    for i, x in enumerate(floats):  # in Go's order: each operand converted, then divided by
        bad = non_finite(x.copy())
        message = fn("concat", lit("Cannot create a Decimal from "), bad.copy())
        checks.append((negate(exp.Is(this=bad, expression=exp.Null())), message))
        if name == "divf" and i > 0:
            zero = exp.EQ(this=x.copy(), expression=num(0.0))
            checks.append((zero, lit("decimal division by 0")))
    err = case(*[(cond, error(msg)) for cond, msg in checks]) if checks else None
    ok = exp.Is(this=err.copy(), expression=exp.Null()) if err is not None else None
    value = decimal_fold(name, floats)
    if ok is not None:
        value = case((ok, value))
    return value, err
