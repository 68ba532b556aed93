"""Go values of a lowered template: their SQL, their Go type, and how Go prints them.

A `Val` is one Go value per row: `kind` is its static Go type (`string`, `int`, `int64`,
`float64`, `bool`, `time` — a `time.Time` in UTC held as HUGEINT nanoseconds —, `json` — an
`interface{}` decoded by `fromJson`, held as DuckDB JSON, SQL NULL for Go's nil —, `nil`,
`labels`, the template's data, and `truth`, an `and`/`or` of values of different types,
usable only as a condition), `sql` its SQL expression and `err` the SQL text of the
execution error that stops the template at this value (NULL when none; None when none can
occur). Printing follows `fmt.Fprint` as `text/template` calls it: floats with `%v`'s
shortest `%g` (exponent form from 1e+06 and below 1e-04), `<no value>` for nil.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp

from logql2sql.sqlbuild import case, cast, col, fn, let, lit, num

GO_TYPES = {
    "string": "string",
    "int": "int",
    "int64": "int64",
    "float64": "float64",
    "bool": "bool",
    "time": "time.Time",
    "labels": "map[string]string",
}
UNICODE_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
UNICODE_SPACE += "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
"""What Go's `unicode.IsSpace` accepts (`strings.TrimSpace` trims these)."""


@dataclass(frozen=True)
class Val:
    """One Go value per row (see the module docstring)."""

    kind: str
    sql: exp.Expression
    err: exp.Expression | None = None
    zoned: bool = False  # a time Go keeps in a parsed zone (it prints that zone)
    boxed: bool = False  # a JSON value read from a map or list (Go's nil there is an error)
    int_kind: exp.Expression | None = None  # per row 'int' or 'int64': a variable assigned both


_OPERATORS = (exp.Binary, exp.Not, exp.Neg, exp.Between, exp.In, exp.Is)


def parenthesize(e: exp.Expression) -> exp.Expression:
    """`e` with every operator operand that is itself an operator in parentheses.

    The lowering nests sqlglot operator nodes freely; the generator prints them without
    regard to precedence, so `a - (b + c)` needs the explicit `Paren`.
    """

    def wrap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, _OPERATORS):
            for key, child in list(node.args.items()):
                if isinstance(child, _OPERATORS):
                    node.set(key, exp.Paren(this=child))
        return node

    return e.transform(wrap, copy=True)


def bound(
    value: exp.Expression, prefix: str, build: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    """`build(v)` with `value` evaluated once (bound to a lambda parameter) when it is not
    a plain column or literal: the expressions here refer to their operands many times."""
    if isinstance(value, exp.Column | exp.Literal):
        return build(value)
    name = f"{prefix}{sum(1 for _ in value.find_all(exp.Lambda))}"
    return let(value, name, build(col(name)))


def first_error(*errs: exp.Expression | None) -> exp.Expression | None:
    """The first error that occurs, in evaluation order."""
    present = [e for e in errs if e is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return exp.Coalesce(this=present[0], expressions=present[1:])


def concat(*parts: exp.Expression) -> exp.Expression:
    """`a || b || ...` with empty literals left out."""
    kept = [p for p in parts if not (isinstance(p, exp.Literal) and p.this == "")]
    if not kept:
        return lit("")
    out = kept[0]
    for p in kept[1:]:
        out = exp.DPipe(this=out, expression=p, safe=True)
    return out


def json_type(j: exp.Expression) -> exp.Expression:
    """DuckDB's JSON type name; 'NULL' for SQL NULL too (both are Go's nil)."""
    return exp.Coalesce(this=fn("json_type", j), expressions=[lit("NULL")])


def json_go_type(j: exp.Expression) -> exp.Expression:
    """The Go type `encoding/json` decodes a JSON value into, as `%T` prints it."""
    t = json_type(j)
    return case(
        (
            exp.In(this=t, expressions=[lit("BIGINT"), lit("UBIGINT"), lit("DOUBLE")]),
            lit("float64"),
        ),
        (exp.EQ(this=t, expression=lit("VARCHAR")), lit("string")),
        (exp.EQ(this=t, expression=lit("BOOLEAN")), lit("bool")),
        (exp.EQ(this=t, expression=lit("OBJECT")), lit("map[string]interface {}")),
        (exp.EQ(this=t, expression=lit("ARRAY")), lit("[]interface {}")),
        default=lit("<nil>"),
    )


def json_list(j: exp.Expression) -> exp.Expression:
    """The elements of a JSON array (NULL for other values)."""
    return exp.TryCast(this=j, to=exp.DataType.build("JSON[]", dialect="duckdb"))


def json_string(j: exp.Expression) -> exp.Expression:
    return fn("json_extract_string", j, lit("$"))


def json_number(j: exp.Expression) -> exp.Expression:
    return cast(fn("json_extract_string", j, lit("$")), "DOUBLE")


def format_float(x: exp.Expression) -> exp.Expression:
    """Go's `%v` of a float64: shortest digits, `%e` form when the exponent is < -4 or >= 6.

    The shortest digits come from DuckDB's own shortest round-trip text of the double.
    """
    return bound(x, "_fx", _format_float)


def _format_float(x: exp.Expression) -> exp.Expression:
    text = cast(fn("abs", x), "VARCHAR")
    mantissa = fn("regexp_extract", text, lit(r"^[0-9.]+"))
    exponent = exp.Coalesce(
        this=exp.TryCast(
            this=fn("regexp_extract", text, lit(r"e([-+]?[0-9]+)$"), num(1)),
            to=exp.DataType.build("INTEGER"),
        ),
        expressions=[num(0)],
    )
    int_part = fn("split_part", mantissa, lit("."), num(1))
    all_digits = fn("replace", mantissa, lit("."), lit(""))
    stripped = fn("ltrim", all_digits, lit("0"))
    lead = exp.Sub(this=fn("length", all_digits), expression=fn("length", stripped))
    digits = fn("rtrim", stripped.copy(), lit("0"))
    # position of the decimal point after the first significant digit's place
    dp = exp.Add(this=exp.Sub(this=fn("length", int_part), expression=lead), expression=exponent)
    nd = fn("length", digits)
    e10 = exp.Sub(this=dp, expression=num(1))
    mant_e = concat(
        fn("left", digits, num(1)),
        case(
            (
                exp.GT(this=nd, expression=num(1)),
                concat(lit("."), fn("substr", digits.copy(), num(2))),
            ),
            default=lit(""),
        ),
    )
    exp_text = concat(
        lit("e"),
        case((exp.LT(this=e10, expression=num(0)), lit("-")), default=lit("+")),
        case((exp.LT(this=fn("abs", e10.copy()), expression=num(10)), lit("0")), default=lit("")),
        cast(fn("abs", e10.copy()), "VARCHAR"),
    )
    fixed = case(
        (
            exp.LTE(this=dp.copy(), expression=num(0)),
            concat(lit("0."), fn("repeat", lit("0"), exp.Neg(this=dp.copy())), digits.copy()),
        ),
        (
            exp.GTE(this=dp.copy(), expression=nd.copy()),
            concat(
                digits.copy(), fn("repeat", lit("0"), exp.Sub(this=dp.copy(), expression=nd.copy()))
            ),
        ),
        default=concat(
            fn("left", digits.copy(), dp.copy()),
            lit("."),
            fn("substr", digits.copy(), exp.Add(this=dp.copy(), expression=num(1))),
        ),
    )
    body = case(
        (
            exp.or_(
                exp.LT(this=e10.copy(), expression=num(-4)),
                exp.GTE(this=e10.copy(), expression=num(6)),
            ),
            concat(mant_e, exp_text),
        ),
        default=fixed,
    )
    sign = case((fn("signbit", x.copy()), lit("-")), default=lit(""))
    return case(
        (fn("isnan", x.copy()), lit("NaN")),
        (exp.EQ(this=x.copy(), expression=cast(lit("Infinity"), "DOUBLE")), lit("+Inf")),
        (exp.EQ(this=x.copy(), expression=cast(lit("-Infinity"), "DOUBLE")), lit("-Inf")),
        (exp.EQ(this=x.copy(), expression=num(0)), concat(sign.copy(), lit("0"))),
        default=concat(sign, body),
    )
