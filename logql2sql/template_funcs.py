"""Loki's template function map (`pkg/logql/log/fmt.go`, sprig's picks) and Go's
builtins, lowered to DuckDB SQL.

`call` evaluates a function call as Go's `text/template` does: arguments converted to the
parameter types of the Go function (`evalArg`: constants checked statically, values by their
type, `interface{}` values from `fromJson` checked per row), the piped value last, then the
function; each failure is the execution error Go reports at the node Go names. Conversions
of sprig's math functions follow `spf13/cast` v1.10 (`ToInt64("0x10")` is 16, `"3.5"` is 3,
`"1e3"` is 0). `now` is the engine's clock (`get_current_timestamp()`), as sprig's is the
wall clock when the line is formatted, not the query's time.

`addf`/`subf`/`mulf`/`divf` compute in exact decimals as sprig does (`template_decimal`);
`toDateInZone` reads times in the IANA zones Go and DuckDB's ICU agree on
(`template_zones`), UTC for names Go cannot load; `b64dec` gives Go's decoder error text
(`illegal base64 data at input byte 4`) as its value, as Loki does.

Functions whose results SQL cannot reproduce exactly raise `UnsupportedInDialect`:
`toDateInZone` with a non-literal zone or a zone whose ICU offsets differ from Go's
somewhere (e.g. `Europe/Oslo`), regexes that are not literals or can match the empty
string (Go and RE2 place repeated empty matches differently), `$10` and above in
replacements, methods of `time.Time` (`.Unix`), and `print`/`println`/`urlquery`/`html`/`js`
of values other than strings, numbers and bools. Go's builtins `index`, `slice`, `call` and
`js` are lowered in `template_builtins`. These fail the query at run time
instead of giving a different answer: `trunc`/`substr` of non-ASCII text (sprig slices
bytes), printing JSON nested more than one level, converting hexadecimal float strings,
`b64dec` of text holding line breaks (Go skips them but counts them in its error offsets)
or decoding to invalid UTF-8, and decimal math whose exact result needs more than 38
digits (values ~20 orders of magnitude apart in `addf`/`subf` such as `subf 1 1e300`,
`divf 1e300 1e-300`, products of three long coefficients).
"""

from __future__ import annotations

import re
from re import _parser as sre_parse  # minimum match width of a literal regex
from typing import TYPE_CHECKING

from sqlglot import exp

from logql2sql import template_builtins as builtins
from logql2sql.errors import UnsupportedInDialect
from logql2sql.regex import compile_re2, group_names
from logql2sql.sqlbuild import case, cast, col, fn, go_quote, lam, let, lit, negate, num, try_cast
from logql2sql.template_builtins import INT_KINDS
from logql2sql.template_dates import NS, format_time, layout_chunks, parse_time, split_time
from logql2sql.template_decimal import decimal_call
from logql2sql.template_parse import (
    Bool,
    Chain,
    Command,
    Identifier,
    Nil,
    Node,
    Number,
    Pipe,
    String,
    node_string,
)
from logql2sql.template_values import (
    GO_TYPES,
    UNICODE_SPACE,
    Val,
    bound,
    concat,
    first_error,
    format_float,
    json_go_type,
    json_list,
    json_string,
    json_type,
)
from logql2sql.template_zones import go_zone

if TYPE_CHECKING:
    from logql2sql.templates import _Evaluator

# Go parameter types: "string", "int", "float64", "time", "any"; a trailing "..." is variadic.
SIGNATURES: dict[str, tuple[tuple[str, ...], str]] = {
    "ToLower": (("string",), "string"),
    "ToUpper": (("string",), "string"),
    "lower": (("string",), "string"),
    "upper": (("string",), "string"),
    "title": (("string",), "string"),
    "Replace": (("string", "string", "string", "int"), "string"),
    "replace": (("string", "string", "string"), "string"),
    "Trim": (("string", "string"), "string"),
    "TrimLeft": (("string", "string"), "string"),
    "TrimRight": (("string", "string"), "string"),
    "TrimPrefix": (("string", "string"), "string"),
    "TrimSuffix": (("string", "string"), "string"),
    "TrimSpace": (("string",), "string"),
    "trim": (("string",), "string"),
    "trimAll": (("string", "string"), "string"),
    "trimPrefix": (("string", "string"), "string"),
    "trimSuffix": (("string", "string"), "string"),
    "contains": (("string", "string"), "bool"),
    "hasPrefix": (("string", "string"), "bool"),
    "hasSuffix": (("string", "string"), "bool"),
    "trunc": (("int", "string"), "string"),
    "substr": (("int", "int", "string"), "string"),
    "indent": (("int", "string"), "string"),
    "nindent": (("int", "string"), "string"),
    "repeat": (("int", "string"), "string"),
    "alignLeft": (("int", "string"), "string"),
    "alignRight": (("int", "string"), "string"),
    "b64enc": (("string",), "string"),
    "b64dec": (("string",), "string"),
    "print": (("any...",), "string"),
    "println": (("any...",), "string"),
    "urlquery": (("any...",), "string"),
    "html": (("any...",), "string"),
    "urlencode": (("string",), "string"),
    "urldecode": (("string",), "string"),
    "regexReplaceAll": (("string", "string", "string"), "string"),
    "regexReplaceAllLiteral": (("string", "string", "string"), "string"),
    "count": (("string", "string"), "int"),
    "bytes": (("string",), "float64"),
    "duration": (("string",), "float64"),
    "duration_seconds": (("string",), "float64"),
    "add": (("any...",), "int64"),
    "mul": (("any", "any..."), "int64"),
    "sub": (("any", "any"), "int64"),
    "div": (("any", "any"), "int64"),
    "mod": (("any", "any"), "int64"),
    "max": (("any", "any..."), "int64"),
    "min": (("any", "any..."), "int64"),
    "maxf": (("any", "any..."), "float64"),
    "addf": (("any...",), "float64"),
    "subf": (("any", "any..."), "float64"),
    "mulf": (("any", "any..."), "float64"),
    "divf": (("any", "any..."), "float64"),
    "minf": (("any", "any..."), "float64"),
    "ceil": (("any",), "float64"),
    "floor": (("any",), "float64"),
    "round": (("any", "int", "float64..."), "float64"),
    "int": (("any",), "int"),
    "float64": (("any",), "float64"),
    "default": (("any", "any..."), "any"),
    "fromJson": (("string",), "json"),
    "__line__": ((), "string"),
    "__timestamp__": ((), "time"),
    "now": ((), "time"),
    "date": (("string", "any"), "string"),
    "toDate": (("string", "string"), "time"),
    "toDateInZone": (("string", "string", "string"), "time"),
    "unixEpoch": (("time",), "string"),
    "unixEpochMillis": (("time",), "string"),
    "unixEpochNanos": (("time",), "string"),
    "unixToTime": (("string",), "time"),
    "len": (("any",), "int"),
    "index": (("any", "any..."), "string"),
    "slice": (("any", "any..."), "string"),
    "call": (("any", "any..."), "string"),
    "js": (("any...",), "string"),
    "not": (("any",), "bool"),
}
_EXPECTED = {"string": "string", "int": "integer", "float64": "float", "bool": "bool"}
_NOW = "_now"


# ------------------------------------------------------------------ argument conversion


def ideal_constant(n: Number, ev: _Evaluator) -> Val:
    """A number constant where any type goes: float64 when written as one, else int."""
    if n.float_value is not None and re.search(r"[.eEpP]", n.text) and not _hex_int(n.text):
        return Val("float64", _float_lit(n.float_value))
    if n.int_value is not None:
        return Val("int", num(n.int_value))
    raise ev.unsupported(f"template number {n.text}")


def _hex_int(text: str) -> bool:
    return bool(re.fullmatch(r"[+-]?0[xX][0-9a-fA-F_]+", text))


def _float_lit(value: float) -> exp.Expression:
    if value == 0 and str(value).startswith("-"):
        return cast(lit("-0.0"), "DOUBLE")
    return cast(num(value), "DOUBLE")


def arg(ev: _Evaluator, n: Node, typ: str, dot: Val, env: dict[str, Val]) -> Val:
    """Go's `evalArg`: the argument node converted to parameter type `typ`."""
    if isinstance(n, Nil):
        if typ == "any":
            return Val("nil", exp.Null())
        return Val(typ, exp.Null(), ev.error_at(n, f"cannot assign nil to {_go(typ)}"))
    if isinstance(n, String | Number | Bool):
        if typ == "any":
            if isinstance(n, Number):
                return ideal_constant(n, ev)
            return ev.operand(n, dot, env)
        if typ == "string" and isinstance(n, String):
            return Val("string", lit(n.value))
        if typ == "int" and isinstance(n, Number) and n.int_value is not None:
            return Val("int", num(n.int_value))
        if typ == "float64" and isinstance(n, Number) and n.float_value is not None:
            return Val("float64", _float_lit(n.float_value))
        if typ == "time":
            message = f"can't handle {node_string(n)} for arg of type time.Time"
        else:
            message = f"expected {_EXPECTED[typ]}; found {node_string(n)}"
        return Val(typ, exp.Null(), ev.error_at(n, message))
    return validate(ev, ev.operand(n, dot, env), typ, visited(n))


def visited(n: Node) -> Node:
    """The node Go's executor visited last while evaluating `n` (its errors name it)."""
    if isinstance(n, Pipe):
        c = n.commands[-1]
        return visited(c.args[-1]) if len(c.args) > 1 else visited(c.args[0])
    if isinstance(n, Chain):
        return visited(n.node)
    return n


def validate(ev: _Evaluator, v: Val, typ: str, at: Node) -> Val:
    """Go's `validateType`: a value passed where `typ` is expected."""
    if typ == "any" or v.kind == typ:
        return v
    if v.kind == "truth":
        raise ev.unsupported(f"template and/or of values of different types as {_go(typ)}")
    if typ == "int" and v.int_kind is not None:  # an int or an int64, depending on the row
        wrong = exp.NEQ(this=v.int_kind, expression=lit("int"))
        message = "wrong type for value; expected int; got int64"
        return Val("int", v.sql, first_error(v.err, case((wrong, ev.error_at(at, message)))))
    if v.kind == "nil":
        return Val(
            typ,
            exp.Null(),
            first_error(v.err, ev.error_at(at, f"invalid value; expected {_go(typ)}")),
        )
    if v.kind == "json" and typ in ("string", "float64", "bool"):
        want = {"string": "VARCHAR", "bool": "BOOLEAN"}.get(typ)
        t = json_type(v.sql)
        ok = (
            exp.EQ(this=t, expression=lit(want))
            if want
            else exp.In(this=t, expressions=[lit("BIGINT"), lit("UBIGINT"), lit("DOUBLE")])
        )
        value = json_string(v.sql.copy())
        if typ == "float64":
            value = cast(value, "DOUBLE")
        elif typ == "bool":
            value = cast(value, "BOOLEAN")
        err = case(
            (ok, exp.Null()),
            (
                exp.EQ(this=t.copy(), expression=lit("NULL")),
                ev.error_at(at, f"invalid value; expected {_go(typ)}"),
            ),
            default=ev.error_at(
                at,
                concat(
                    lit(f"wrong type for value; expected {_go(typ)}; got "),
                    json_go_type(v.sql.copy()),
                ),
            ),
        )
        return Val(typ, value, first_error(v.err, err))
    if v.kind == "json":
        err = case(
            (
                exp.EQ(this=json_type(v.sql), expression=lit("NULL")),
                ev.error_at(at, f"invalid value; expected {_go(typ)}"),
            ),
            default=ev.error_at(
                at,
                concat(
                    lit(f"wrong type for value; expected {_go(typ)}; got "),
                    json_go_type(v.sql.copy()),
                ),
            ),
        )
        return Val(typ, exp.Null(), first_error(v.err, err))
    message = f"wrong type for value; expected {_go(typ)}; got {_go(v.kind)}"
    return Val(typ, exp.Null(), first_error(v.err, ev.error_at(at, message)))


def _go(kind: str) -> str:
    return {"any": "interface {}", "json": "interface {}"}.get(kind, GO_TYPES.get(kind, kind))


# ------------------------------------------------------------------ calls


def call(
    ev: _Evaluator,
    ident: Identifier,
    cmd: Command,
    args: list[Node],
    dot: Val,
    env: dict[str, Val],
    final: Val | None,
) -> Val:
    """Go's `evalFunction`/`evalCall` for function `ident`."""
    name = ident.name
    if name in ("and", "or"):
        return _and_or(ev, name, cmd, args, dot, env, final)
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        return _compare(ev, name, cmd, args, dot, env, final)
    if name == "printf":
        return _printf(ev, ident, args, dot, env, final)
    params, result = SIGNATURES[name]
    n_args = len(args) + (final is not None)
    variadic = bool(params) and params[-1].endswith("...")
    fixed = [p for p in params if not p.endswith("...")]
    if n_args < len(fixed) or (not variadic and n_args != len(fixed)):
        want = len(fixed)
        least = "at least " if variadic else ""
        message = f"wrong number of args for {name}: want {least}{want} got {n_args}"
        return Val(result, exp.Null(), ev.error_at(ident, message))
    types = [fixed[i] if i < len(fixed) else params[-1][:-3] for i in range(n_args)]
    values = [arg(ev, a, t, dot, env) for a, t in zip(args, types, strict=False)]
    if final is not None:
        last = args[-1] if args else ident
        values.append(validate(ev, final, types[-1], last))
    errs = ([final.err] if final is not None else []) + [v.err for v in values]
    out = _FUNCTIONS[name](ev, values, cmd, dot)
    return Val(out.kind, out.sql, first_error(*errs, out.err), out.zoned)


def _and_or(ev, name, cmd, args, dot, env, final) -> Val:
    """`and`/`or`: the first falsy/truthy argument (or the last), evaluated lazily."""
    values = [arg(ev, a, "any", dot, env) for a in args] + ([final] if final is not None else [])
    if not values:
        return Val(
            "bool",
            exp.Null(),
            ev.error_at(cmd, f"wrong number of args for {name}: want at least 1 got 0"),
        )
    kinds = {v.kind for v in values}
    if len(kinds) != 1:
        return _and_or_truth(name, values)
    out = values[-1].sql
    err = values[-1].err
    for v in reversed(values[:-1]):
        t = truth(v)
        stop = t if name == "or" else negate(t)
        out = case((stop, v.sql), default=out)
        err = first_error(
            v.err, case((stop.copy(), exp.Null()), default=err) if err is not None else None
        )
    return Val(values[0].kind, out, err)


def _and_or_truth(name: str, values: list[Val]) -> Val:
    """`and`/`or` of values of different types, as a condition only (kind "truth": its
    value, one of the arguments, has no single SQL type; `if`, `with` and `not` need only
    its truth)."""
    out = truth(values[-1])
    err = values[-1].err
    for v in reversed(values[:-1]):
        t = truth(v)
        stop = t if name == "or" else negate(t)
        out = case((stop, t.copy()), default=out)
        err = first_error(
            v.err, case((stop.copy(), exp.Null()), default=err) if err is not None else None
        )
    return Val("truth", out, err)


def _compare(ev, name, cmd, args, dot, env, final) -> Val:
    """Go's `eq`/`ne`/`lt`/... on basic kinds: ints, floats, strings (and bools for eq/ne);
    `eq` with nil is false, as Go compares an invalid value with nothing."""
    values = [arg(ev, a, "any", dot, env) for a in args] + ([final] if final is not None else [])
    errs = [v.err for v in values]
    if name == "eq" and len(values) == 1:
        message = "error calling eq: missing argument for comparison"
        return Val("bool", exp.Null(), first_error(*errs, ev.error_at(cmd, message)))
    if len(values) < 2 or (name != "eq" and len(values) != 2):
        want = "at least 1" if name == "eq" else "2"
        message = f"wrong number of args for {name}: want {want} got {len(values)}"
        return Val("bool", exp.Null(), ev.error_at(cmd, message))
    first = values[0]
    results: list[exp.Expression] = []
    for other in values[1:]:
        k1, k2 = _basic(first.kind), _basic(other.kind)
        if {k1, k2} & {"json", "time", "labels", "truth"}:
            raise ev.unsupported(f"template {name} of {_go(first.kind)} and {_go(other.kind)}")
        ordered = name not in ("eq", "ne")
        if ordered and (k1 in ("nil", "bool") or (k1 == k2 and k2 == "bool")):
            return _compare_error(ev, cmd, name, errs, "invalid type for comparison")
        if {k1, k2} == {"int", "uint"}:  # Go compares signed and unsigned by value
            k2 = k1
        if k1 != k2:
            if ordered and k2 in ("nil", "bool"):
                return _compare_error(ev, cmd, name, errs, "invalid type for comparison")
            if "nil" in (k1, k2):
                results.append(exp.false())
                continue
            message = f"incompatible types for comparison: {_go(first.kind)} and {_go(other.kind)}"
            return _compare_error(ev, cmd, name, errs, message)
        if k1 == "nil":
            results.append(exp.true())
            continue
        op = {"eq": exp.EQ, "ne": exp.EQ, "lt": exp.LT, "le": exp.LTE, "gt": exp.GT, "ge": exp.GTE}
        results.append(op[name](this=first.sql.copy(), expression=other.sql.copy()))
    out = results[0]
    for r in results[1:]:
        out = exp.or_(out, r)
    if name == "ne":
        out = negate(out)
    return Val("bool", out, first_error(*errs))


def _compare_error(ev, cmd, name, errs, message) -> Val:
    err = ev.error_at(cmd, f"error calling {name}: {message}")
    return Val("bool", exp.Null(), first_error(*errs, err))


def _basic(kind: str) -> str:
    return {"int64": "int", "uint8": "uint"}.get(kind, kind)


def truth(v: Val) -> exp.Expression:
    """Go's `isTrue`: non-zero, non-empty, true; nil is false; a time always true."""
    if v.kind == "string":
        return exp.NEQ(this=v.sql, expression=lit(""))
    if v.kind in (*INT_KINDS, "float64"):
        return exp.NEQ(this=v.sql, expression=num(0))
    if v.kind == "bool":
        return exp.Coalesce(this=v.sql, expressions=[exp.false()])
    if v.kind == "nil":
        return exp.false()
    if v.kind == "time":
        return exp.true()
    if v.kind == "labels":
        return exp.GT(this=fn("cardinality", v.sql), expression=num(0))
    if v.kind == "truth":
        return v.sql
    t = json_type(v.sql)
    return case(
        (
            exp.EQ(this=t, expression=lit("VARCHAR")),
            exp.NEQ(this=json_string(v.sql.copy()), expression=lit("")),
        ),
        (
            exp.EQ(this=t.copy(), expression=lit("BOOLEAN")),
            cast(json_string(v.sql.copy()), "BOOLEAN"),
        ),
        (
            exp.In(this=t.copy(), expressions=[lit("BIGINT"), lit("UBIGINT"), lit("DOUBLE")]),
            exp.NEQ(this=cast(json_string(v.sql.copy()), "DOUBLE"), expression=num(0)),
        ),
        (
            exp.EQ(this=t.copy(), expression=lit("ARRAY")),
            exp.GT(this=fn("json_array_length", v.sql.copy()), expression=num(0)),
        ),
        (
            exp.EQ(this=t.copy(), expression=lit("OBJECT")),
            exp.GT(this=fn("len", fn("json_keys", v.sql.copy())), expression=num(0)),
        ),
        default=exp.false(),
    )


# ------------------------------------------------------------------ printing helpers


def json_printed(j: exp.Expression) -> exp.Expression:
    """`fmt.Fprint` of a decoded JSON value: `<no value>` for nil, `[a b]`, `map[k:v]`."""
    return bound(j, "_jp", _json_printed)


def _json_printed(j: exp.Expression) -> exp.Expression:
    t = json_type(j)
    keys = fn("list_sort", fn("list_distinct", fn("json_keys", j.copy())))
    key = col("_k")
    path = concat(lit('$."'), fn("replace", key, lit('"'), lit('\\"')), lit('"'))
    values = fn("list_transform", keys, lam(["_k"], fn("json_extract", j.copy(), path)))
    items = case(
        (exp.EQ(this=t, expression=lit("ARRAY")), json_list(j.copy())),
        (exp.EQ(this=t.copy(), expression=lit("OBJECT")), values),
        default=exp.Array(expressions=[j.copy()]),
    )
    printed = fn("list_transform", items, lam(["_x"], _json_scalar(col("_x"))))
    shown = col("_jv")
    pairs = fn(
        "list_transform",
        keys.copy(),
        lam(
            ["_k", "_n"],
            concat(
                col("_k"),
                lit(":"),
                exp.Bracket(this=shown.copy(), expressions=[col("_n")], offset=1),
            ),
        ),
    )
    out = case(
        (
            exp.EQ(this=t.copy(), expression=lit("ARRAY")),
            concat(lit("["), fn("array_to_string", shown, lit(" ")), lit("]")),
        ),
        (
            exp.EQ(this=t.copy(), expression=lit("OBJECT")),
            concat(lit("map["), fn("array_to_string", pairs, lit(" ")), lit("]")),
        ),
        (exp.EQ(this=t.copy(), expression=lit("NULL")), lit("<no value>")),
        default=exp.Bracket(this=shown.copy(), expressions=[num(1)], offset=1),
    )
    return let(printed, "_jv", out)


def _json_scalar(x: exp.Expression) -> exp.Expression:
    """`%v` of a JSON value inside a printed container (nil is `<nil>` there)."""
    tx = json_type(x)
    return case(
        (exp.EQ(this=tx, expression=lit("VARCHAR")), json_string(x.copy())),
        (
            exp.In(this=tx.copy(), expressions=[lit("BIGINT"), lit("UBIGINT"), lit("DOUBLE")]),
            format_float(cast(json_string(x.copy()), "DOUBLE")),
        ),
        (exp.EQ(this=tx.copy(), expression=lit("BOOLEAN")), json_string(x.copy())),
        (exp.EQ(this=tx.copy(), expression=lit("NULL")), lit("<nil>")),
        default=fn("error", lit("printing JSON nested more than one level deep is not supported")),
    )


def time_printed(v: Val) -> exp.Expression:
    """`time.Time.String()` of a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`."""
    if _uses_now(v.sql):
        raise UnsupportedInDialect("printing `now` (Go adds its monotonic clock reading)", "duckdb")
    return format_time(v.sql, "2006-01-02 15:04:05.999999999 -0700 MST")


def _uses_now(e: exp.Expression) -> bool:
    return any(isinstance(c, exp.Column) and c.name == _NOW for c in e.find_all(exp.Column)) or any(
        isinstance(f, exp.Anonymous) and f.name.lower() == "get_current_timestamp"
        for f in e.find_all(exp.Anonymous)
    )


# ------------------------------------------------------------------ conversions (spf13/cast)


def to_int64(ev: _Evaluator, v: Val) -> exp.Expression:
    """`cast.ToInt64`: strings by `strconv.ParseInt(s, 0, 0)` after dropping a `.0…` tail,
    floats truncated, bools 1/0, nil 0, anything unparsable 0."""
    if v.kind in INT_KINDS:
        return v.sql
    if v.kind == "float64":
        return _trunc_int(v.sql)
    if v.kind == "bool":
        return case((v.sql, num(1)), default=num(0))
    if v.kind == "nil":
        return num(0)
    if v.kind == "string":
        return _parse_int(v.sql)
    if v.kind == "json":
        t = json_type(v.sql)
        return case(
            (exp.EQ(this=t, expression=lit("VARCHAR")), _parse_int(json_string(v.sql.copy()))),
            (
                exp.In(this=t.copy(), expressions=[lit("BIGINT"), lit("UBIGINT"), lit("DOUBLE")]),
                _trunc_int(cast(json_string(v.sql.copy()), "DOUBLE")),
            ),
            (
                exp.EQ(this=t.copy(), expression=lit("BOOLEAN")),
                case((cast(json_string(v.sql.copy()), "BOOLEAN"), num(1)), default=num(0)),
            ),
            default=num(0),
        )
    raise ev.unsupported(f"template number conversion of {_go(v.kind)}")


def _trunc_int(x: exp.Expression) -> exp.Expression:
    # Go's int64(f) for f out of range is platform-defined: refuse those rows loudly
    return exp.TryCast(this=fn("trunc", x), to=exp.DataType.build("BIGINT"))


def _parse_int(s: exp.Expression) -> exp.Expression:
    """A string with a `.` by `strconv.ParseFloat` then truncated, else `ParseInt(s, 0, 0)`."""
    return bound(s, "_pi", _parse_int_bound)


def _parse_int_bound(s: exp.Expression) -> exp.Expression:
    decimal = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
    with_dot = case(
        (fn("regexp_full_match", s, lit(decimal)), _trunc_int(try_cast(s.copy(), "DOUBLE"))),
        default=num(0),
    )
    return case((fn("contains", s.copy(), lit(".")), with_dot), default=_parse_int_base0(s.copy()))


def _parse_int_base0(t: exp.Expression) -> exp.Expression:
    sign = case((fn("starts_with", t, lit("-")), num(-1)), default=num(1))
    body = fn("ltrim", t.copy(), lit("+-"))
    plain = try_cast(fn("replace", t.copy(), lit("_"), lit("")), "BIGINT")

    def based(prefix: str, base: int, digits: str) -> tuple[exp.Expression, exp.Expression]:
        ok = fn("regexp_full_match", t.copy(), lit(rf"[+-]?{prefix}_?[{digits}](_?[{digits}])*"))
        ds = fn(
            "replace",
            fn("regexp_replace", body.copy(), lit(rf"^{prefix}"), lit("")),
            lit("_"),
            lit(""),
        )
        value = fn(
            "list_reduce",
            fn(
                "list_transform",
                fn("string_split", ds, lit("")),
                exp.Lambda(
                    this=exp.Paren(
                        this=exp.Sub(
                            this=fn("strpos", lit("0123456789abcdef"), fn("lower", col("_d"))),
                            expression=num(1),
                        )
                    ),
                    expressions=[exp.to_identifier("_d")],
                ),
            ),
            exp.Lambda(
                this=exp.Add(
                    this=exp.Mul(this=col("_a"), expression=num(base)), expression=col("_b")
                ),
                expressions=[exp.to_identifier("_a"), exp.to_identifier("_b")],
            ),
        )
        return ok, exp.Mul(this=sign.copy(), expression=try_cast(value, "BIGINT"))

    return exp.Coalesce(
        this=case(
            (fn("regexp_full_match", t.copy(), lit(r"[+-]?([1-9](_?[0-9])*|0)")), plain),
            based("0[xX]", 16, "0-9a-fA-F"),
            based("0[bB]", 2, "01"),
            based("0[oO]?", 8, "0-7"),
        ),
        expressions=[num(0)],
    )


def to_float64(ev: _Evaluator, v: Val) -> exp.Expression:
    """`cast.ToFloat64`: strings by `strconv.ParseFloat` (decimal forms), else 0."""
    if v.kind == "float64":
        return v.sql
    if v.kind in INT_KINDS:
        return cast(v.sql, "DOUBLE")
    if v.kind == "bool":
        return case((v.sql, num(1.0)), default=num(0.0))
    if v.kind == "nil":
        return num(0.0)
    if v.kind == "string":
        return _parse_float(v.sql)
    if v.kind == "json":
        t = json_type(v.sql)
        return case(
            (
                exp.EQ(this=t, expression=lit("VARCHAR")),
                to_float64(ev, Val("string", json_string(v.sql.copy()))),
            ),
            (
                exp.In(this=t.copy(), expressions=[lit("BIGINT"), lit("UBIGINT"), lit("DOUBLE")]),
                cast(json_string(v.sql.copy()), "DOUBLE"),
            ),
            (
                exp.EQ(this=t.copy(), expression=lit("BOOLEAN")),
                case((cast(json_string(v.sql.copy()), "BOOLEAN"), num(1.0)), default=num(0.0)),
            ),
            default=num(0.0),
        )
    raise ev.unsupported(f"template number conversion of {_go(v.kind)}")


def _parse_float(s: exp.Expression) -> exp.Expression:
    """`strconv.ParseFloat(s, 64)`, 0 where it fails (out of range included)."""
    return bound(s, "_pf", _parse_float_bound)


def _parse_float_bound(s: exp.Expression) -> exp.Expression:
    digits = r"[0-9](_?[0-9])*"
    decimal = rf"[+-]?({digits}\.?({digits})?|\.{digits})([eE][+-]?[0-9]+)?"
    special = r"(?i)[+-]?(inf|infinity|nan)"
    value = try_cast(fn("replace", s, lit("_"), lit("")), "DOUBLE")
    return case(
        (fn("regexp_full_match", s.copy(), lit(special)), try_cast(s.copy(), "DOUBLE")),
        (
            fn("regexp_full_match", s.copy(), lit(decimal)),
            case((fn("isinf", value), num(0.0)), default=value.copy()),
        ),
        (
            fn("regexp_full_match", s.copy(), lit(r"[+-]?0[xX].*[pP].*")),
            fn("error", lit("template conversion of hexadecimal floats is not supported")),
        ),
        default=num(0.0),
    )


# ------------------------------------------------------------------ the functions


def _s(kind: str, sql: exp.Expression, err: exp.Expression | None = None) -> Val:
    return Val(kind, sql, err)


def _literal(v: Val) -> str | None:
    return v.sql.this if isinstance(v.sql, exp.Literal) and v.sql.is_string else None


def _regex(ev: _Evaluator, v: Val, name: str) -> str:
    """A literal RE2 pattern that cannot match the empty string (Go and RE2 place
    repeated empty matches differently)."""
    pattern = _literal(v)
    if pattern is None:
        raise ev.unsupported(f"template {name} with a non-literal regex")
    try:
        width = sre_parse.parse(pattern).getwidth()[0]
    except Exception:
        raise ev.unsupported(f"template {name} regex {pattern!r}") from None
    if width == 0:
        raise ev.unsupported(f"template {name} regex that can match the empty string")
    try:
        compile_re2(pattern)
    except Exception:
        raise ev.unsupported(f"template {name} regex {pattern!r}") from None
    return pattern


def _expand(ev: _Evaluator, pattern: str, template: str) -> str:
    """Go's `Regexp.Expand` template (`$1`, `${1}`, `$name`, `$$`) in RE2's `\\1` form."""
    names = group_names(pattern)
    out, i = [], 0
    while i < len(template):
        ch = template[i]
        if ch == "\\":
            out.append("\\\\")
            i += 1
            continue
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if template.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        m = re.match(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", template[i:])
        if not m:
            out.append("$")
            i += 1
            continue
        ref = m.group(1) or m.group(2)
        i += m.end()
        if ref.isdigit():
            index = int(ref)
        elif ref in names:
            index = names[ref]
        else:
            continue
        groups = re.compile(pattern).groups if _py_ok(pattern) else 99
        if index > groups:
            continue
        if index > 9:
            raise ev.unsupported("template regexReplaceAll reference to group 10 or above")
        out.append(f"\\{index}")
    return "".join(out)


def _py_ok(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _replace_n(
    s: exp.Expression, old: exp.Expression, new: exp.Expression, n: exp.Expression
) -> exp.Expression:
    """Go's `strings.Replace(s, old, new, n)` (old "" matches before every rune and at the end)."""
    parts = case(
        (
            exp.EQ(this=old, expression=lit("")),
            fn(
                "list_concat",
                exp.Array(expressions=[lit("")]),
                case(
                    (exp.EQ(this=s, expression=lit("")), exp.Array(expressions=[])),
                    default=fn("string_split", s.copy(), lit("")),
                ),
                exp.Array(expressions=[lit("")]),
            ),
        ),
        default=fn("string_split", s.copy(), old.copy()),
    )
    joined = concat(
        fn(
            "array_to_string",
            fn("list_slice", parts, num(1), exp.Add(this=n, expression=num(1))),
            new,
        ),
        case(
            (
                exp.GT(
                    this=fn("len", parts.copy()),
                    expression=exp.Add(this=n.copy(), expression=num(1)),
                ),
                concat(
                    old.copy(),
                    fn(
                        "array_to_string",
                        fn(
                            "list_slice",
                            parts.copy(),
                            exp.Add(this=n.copy(), expression=num(2)),
                            fn("len", parts.copy()),
                        ),
                        old.copy(),
                    ),
                ),
            ),
            default=lit(""),
        ),
    )
    everything = fn("array_to_string", parts.copy(), new.copy())
    return case(
        (exp.EQ(this=n.copy(), expression=num(0)), s.copy()),
        (exp.LT(this=n.copy(), expression=num(0)), everything),
        default=joined,
    )


def _trim_prefix(s: exp.Expression, prefix: exp.Expression) -> exp.Expression:
    return case(
        (
            fn("starts_with", s, prefix),
            fn("substr", s.copy(), exp.Add(this=fn("length", prefix.copy()), expression=num(1))),
        ),
        default=s.copy(),
    )


def _trim_suffix(s: exp.Expression, suffix: exp.Expression) -> exp.Expression:
    return case(
        (
            fn("ends_with", s, suffix),
            fn(
                "left",
                s.copy(),
                exp.Sub(this=fn("length", s.copy()), expression=fn("length", suffix.copy())),
            ),
        ),
        default=s.copy(),
    )


def _ascii(ev: _Evaluator, s: exp.Expression, name: str) -> exp.Expression:
    """Byte-indexed sprig functions are exact on ASCII; other text fails the query."""
    return case(
        (fn("regexp_full_match", s, lit(r"[\x00-\x7f]*")), s.copy()),
        default=fn("error", lit(f"template {name} of non-ASCII text is not supported")),
    )


def _title(s: exp.Expression) -> exp.Expression:
    """`strings.Title`: upper-case each letter that follows a separator."""
    i = col("_i")
    prev = fn("substr", s, exp.Sub(this=i, expression=num(1)), num(1))
    sep = exp.or_(
        exp.and_(
            fn("regexp_full_match", prev, lit(r"[\x00-\x7f]")),
            negate(fn("regexp_full_match", prev.copy(), lit("[A-Za-z0-9_]"))),
        ),
        fn(
            "regexp_full_match",
            prev.copy(),
            lit(r"[\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"),
        ),
    )
    ch = fn("substr", s.copy(), i.copy(), num(1))
    body = case(
        (exp.or_(exp.EQ(this=i.copy(), expression=num(1)), sep), fn("upper", ch)), default=ch.copy()
    )
    chars = fn(
        "list_transform",
        fn("range", num(1), exp.Add(this=fn("length", s.copy()), expression=num(1))),
        exp.Lambda(this=body, expressions=[exp.to_identifier("_i")]),
    )
    return fn("array_to_string", chars, lit(""))


def _duration(v: Val) -> tuple[exp.Expression, exp.Expression]:
    """Go's `time.ParseDuration(s).Seconds()` (exact, as `durations.seconds` computes it)."""
    from logql2sql.durations import nanoseconds, seconds
    from logql2sql.pipeline import conversion_error  # pipeline imports the templates

    value = let(nanoseconds(v.sql), "_dn", seconds(col("_dn"), "duckdb"))
    return value, concat(
        lit("error calling duration: "), conversion_error("duration", v.sql.copy())
    )


def _bytes(v: Val) -> tuple[exp.Expression, exp.Expression]:
    from logql2sql.pipeline import conversion_error, go_bytes  # pipeline imports the templates

    return cast(go_bytes(v.sql), "DOUBLE"), conversion_error("bytes", v.sql.copy())


def _error_call(
    ev: _Evaluator, cmd: Command, name: str, cond: exp.Expression, message: exp.Expression
) -> exp.Expression:
    return case((cond, ev.error_at(cmd, concat(lit(f"error calling {name}: "), message))))


def _build() -> dict:
    F: dict = {}

    def string_fn(name, body):
        F[name] = lambda ev, v, cmd, dot: _s("string", body(*[x.sql for x in v]))

    string_fn("ToLower", lambda s: fn("lower", s))
    string_fn("lower", lambda s: fn("lower", s))
    string_fn("ToUpper", lambda s: fn("upper", s))
    string_fn("upper", lambda s: fn("upper", s))
    string_fn("title", _title)
    string_fn("Replace", _replace_n)
    string_fn("replace", lambda old, new, s: _replace_n(s, old, new, num(-1)))
    string_fn("Trim", lambda s, cut: fn("trim", s, cut))
    string_fn("TrimLeft", lambda s, cut: fn("ltrim", s, cut))
    string_fn("TrimRight", lambda s, cut: fn("rtrim", s, cut))
    string_fn("TrimPrefix", _trim_prefix)
    string_fn("TrimSuffix", _trim_suffix)
    string_fn("TrimSpace", lambda s: fn("trim", s, lit(UNICODE_SPACE)))
    string_fn("trim", lambda s: fn("trim", s, lit(UNICODE_SPACE)))
    string_fn("trimAll", lambda cut, s: fn("trim", s, cut))
    string_fn("trimPrefix", lambda p, s: _trim_prefix(s, p))
    string_fn("trimSuffix", lambda p, s: _trim_suffix(s, p))
    string_fn("indent", lambda n, s: _indent(n, s))
    string_fn("nindent", lambda n, s: concat(lit("\n"), _indent(n, s)))
    string_fn("b64enc", lambda s: fn("to_base64", fn("encode", s)))
    string_fn("b64dec", _b64dec)
    F["print"] = lambda ev, v, cmd, dot: _s("string", _sprint(ev, v, False))
    F["println"] = lambda ev, v, cmd, dot: _s("string", _sprint(ev, v, True))
    F["urlquery"] = lambda ev, v, cmd, dot: _s(
        "string", fn("replace", fn("url_encode", _sprint(ev, v, False)), lit("%20"), lit("+"))
    )
    F["html"] = lambda ev, v, cmd, dot: _s("string", _html(_sprint(ev, v, False)))
    string_fn("urlencode", lambda s: fn("replace", fn("url_encode", s), lit("%20"), lit("+")))
    string_fn(
        "alignLeft",
        lambda n, s: case(
            (exp.LT(this=n, expression=num(0)), s), default=fn("rpad", s.copy(), n.copy(), lit(" "))
        ),
    )
    string_fn(
        "alignRight",
        lambda n, s: case(
            (exp.LT(this=n, expression=num(0)), s),
            (
                exp.GTE(this=n.copy(), expression=fn("length", s.copy())),
                fn("lpad", s.copy(), n.copy(), lit(" ")),
            ),
            default=fn("right", s.copy(), n.copy()),
        ),
    )

    def bool_fn(name, body):
        F[name] = lambda ev, v, cmd, dot: _s("bool", body(*[x.sql for x in v]))

    bool_fn("contains", lambda sub, s: fn("contains", s, sub))
    bool_fn("hasPrefix", lambda p, s: fn("starts_with", s, p))
    bool_fn("hasSuffix", lambda p, s: fn("ends_with", s, p))

    def trunc(ev, v, cmd, dot):
        c, s = v[0].sql, _ascii(ev, v[1].sql, "trunc")
        n = fn("length", s)
        return _s(
            "string",
            case(
                (
                    exp.and_(
                        exp.LT(this=c, expression=num(0)),
                        exp.GT(this=exp.Add(this=n, expression=c.copy()), expression=num(0)),
                    ),
                    fn("right", s.copy(), exp.Neg(this=c.copy())),
                ),
                (
                    exp.and_(
                        exp.GTE(this=c.copy(), expression=num(0)),
                        exp.GT(this=n.copy(), expression=c.copy()),
                    ),
                    fn("left", s.copy(), c.copy()),
                ),
                default=s.copy(),
            ),
        )

    F["trunc"] = trunc

    def substr(ev, v, cmd, dot):
        """sprig's `substring`: byte slicing whose out-of-range panics Go reports."""
        start, end, s = v[0].sql, v[1].sql, _ascii(ev, v[2].sql, "substr")
        n = fn("length", s)
        neg_start = exp.LT(this=start, expression=num(0))
        open_end = exp.or_(
            exp.LT(this=end, expression=num(0)), exp.GT(this=end.copy(), expression=n)
        )
        lo = case((neg_start, num(0)), default=start.copy())
        hi = case((neg_start.copy(), end.copy()), (open_end, n.copy()), default=end.copy())

        def text(x: exp.Expression) -> exp.Expression:
            return cast(x.copy(), "VARCHAR")

        bounds = case(
            (
                exp.and_(neg_start.copy(), exp.LT(this=end.copy(), expression=num(0))),
                concat(lit("[:"), text(end), lit("]")),
            ),
            (
                exp.and_(neg_start.copy(), exp.GT(this=end.copy(), expression=n.copy())),
                concat(lit("[:"), text(end), lit("] with length "), text(n), lit("]")),
            ),
            (
                exp.and_(negate(neg_start.copy()), open_end.copy()),
                concat(lit("["), text(start), lit(":"), text(n), lit("]")),
            ),
            default=concat(lit("["), text(start), lit(":"), text(end), lit("]")),
        )
        bad = exp.or_(
            exp.GT(this=lo.copy(), expression=hi.copy()),
            exp.LT(this=hi.copy(), expression=num(0)),
            exp.GT(this=hi.copy(), expression=n.copy()),
        )
        message = concat(lit("runtime error: slice bounds out of range "), bounds)
        out = fn(
            "substr",
            s.copy(),
            exp.Add(this=lo.copy(), expression=num(1)),
            exp.Sub(this=hi.copy(), expression=lo.copy()),
        )
        return _s(
            "string",
            case((bad.copy(), lit("")), default=out),
            _error_call(ev, cmd, "substr", bad, message),
        )

    F["substr"] = substr

    def repeat(ev, v, cmd, dot):
        n, s = v[0].sql, v[1].sql
        bad = exp.LT(this=n, expression=num(0))
        return _s(
            "string",
            fn("repeat", s, case((bad, num(0)), default=n.copy())),
            _error_call(ev, cmd, "repeat", bad.copy(), lit("strings: negative Repeat count")),
        )

    F["repeat"] = repeat

    def urldecode(ev, v, cmd, dot):
        """`url.QueryUnescape`: `+` is a space; the first `%` without two hex digits fails."""
        s = v[0].sql
        hexd = "[0-9A-Fa-f]"
        bad_at = rf"(?s)^((?:[^%]|%{hexd}{{2}})*)%{hexd}?([^0-9A-Fa-f]|$)"
        is_bad = fn("regexp_matches", s, lit(bad_at))
        prefix = fn("regexp_extract", s.copy(), lit(bad_at), num(1))
        bad = fn("substr", s.copy(), exp.Add(this=fn("length", prefix), expression=num(1)), num(3))
        decoded = fn("url_decode", fn("replace", s.copy(), lit("+"), lit(" ")))
        message = concat(lit("invalid URL escape "), go_quote(bad))
        return _s(
            "string",
            case((is_bad, lit("")), default=decoded),
            _error_call(ev, cmd, "urldecode", is_bad.copy(), message),
        )

    F["urldecode"] = urldecode

    def regex_replace(literal: bool):
        def impl(ev, v, cmd, dot):
            name = "regexReplaceAllLiteral" if literal else "regexReplaceAll"
            pattern = _regex(ev, v[0], name)
            repl = _literal(v[2])
            if repl is None:
                raise ev.unsupported(f"template {name} with a non-literal replacement")
            sql_repl = repl.replace("\\", "\\\\") if literal else _expand(ev, pattern, repl)
            return _s(
                "string", fn("regexp_replace", v[1].sql, lit(pattern), lit(sql_repl), lit("g"))
            )

        return impl

    F["regexReplaceAll"] = regex_replace(False)
    F["regexReplaceAllLiteral"] = regex_replace(True)

    def count(ev, v, cmd, dot):
        pattern = _regex(ev, v[0], "count")
        return _s("int", fn("len", fn("regexp_extract_all", v[1].sql, lit(pattern))))

    F["count"] = count

    def bytes_(ev, v, cmd, dot):
        value, err = _bytes(v[0])
        bad = exp.Is(this=value, expression=exp.Null())
        return _s("float64", value.copy(), _error_call(ev, cmd, "bytes", bad, err))

    F["bytes"] = bytes_

    def duration(name):
        def impl(ev, v, cmd, dot):
            value, err = _duration(v[0])
            bad = exp.Is(this=value, expression=exp.Null())
            return _s(
                "float64",
                value.copy(),
                _error_call(
                    ev, cmd, name, bad, fn("substr", err, num(len("error calling duration: ") + 1))
                ),
            )

        return impl

    F["duration"] = duration("duration")
    F["duration_seconds"] = duration("duration_seconds")

    def int_math(name, op):
        def impl(ev, v, cmd, dot):
            ints = [to_int64(ev, x) for x in v]
            if not ints:
                return _s("int64", num(0))
            out = ints[0]
            err = None
            for other in ints[1:]:
                if name in ("div", "mod"):
                    zero = exp.EQ(this=other, expression=num(0))
                    err = _error_call(
                        ev, cmd, name, zero, lit("runtime error: integer divide by zero")
                    )
                    other = fn("nullif", other.copy(), num(0))
                out = op(out, other)
            return _s("int64", out, err)

        return impl

    F["add"] = int_math("add", lambda a, b: exp.Add(this=a, expression=b))
    F["sub"] = int_math("sub", lambda a, b: exp.Sub(this=a, expression=b))
    F["mul"] = int_math("mul", lambda a, b: exp.Mul(this=a, expression=b))
    F["div"] = int_math("div", lambda a, b: exp.IntDiv(this=a, expression=b))
    F["mod"] = int_math("mod", lambda a, b: exp.Mod(this=a, expression=b))
    F["max"] = int_math("max", lambda a, b: exp.Greatest(this=a, expressions=[b]))
    F["min"] = int_math("min", lambda a, b: exp.Least(this=a, expressions=[b]))

    def float_math(name):
        def impl(ev, v, cmd, dot):
            xs = [to_float64(ev, x) for x in v]
            out = xs[0]
            for other in xs[1:]:
                # math.Max/Min: NaN wins, then +Inf/-Inf, else the larger/smaller
                nan = exp.or_(fn("isnan", out.copy()), fn("isnan", other.copy()))
                pick = exp.Greatest if name == "maxf" else exp.Least
                out = case(
                    (nan, cast(lit("NaN"), "DOUBLE")), default=pick(this=out, expressions=[other])
                )
            return _s("float64", out)

        return impl

    def decimal_math(name):
        def impl(ev, v, cmd, dot):
            xs = [to_float64(ev, x) for x in v]
            value, err = decimal_call(
                name, xs, lambda m: ev.error_at(cmd, concat(lit(f"error calling {name}: "), m))
            )
            return _s("float64", value, err)

        return impl

    for name in ("addf", "subf", "mulf", "divf"):
        F[name] = decimal_math(name)
    F["maxf"] = float_math("maxf")
    F["minf"] = float_math("minf")
    F["ceil"] = lambda ev, v, cmd, dot: _s("float64", fn("ceil", to_float64(ev, v[0])))
    F["floor"] = lambda ev, v, cmd, dot: _s("float64", fn("floor", to_float64(ev, v[0])))
    F["int"] = lambda ev, v, cmd, dot: _s("int", to_int64(ev, v[0]))
    F["float64"] = lambda ev, v, cmd, dot: _s("float64", to_float64(ev, v[0]))

    def round_(ev, v, cmd, dot):
        val = to_float64(ev, v[0])
        on = v[2].sql if len(v) > 2 else num(0.5)
        pw = fn("pow", num(10.0), cast(v[1].sql, "DOUBLE"))
        digit = exp.Mul(this=pw, expression=val)
        frac = exp.Sub(this=digit, expression=fn("trunc", digit.copy()))
        rounded = case(
            (exp.GTE(this=frac, expression=on), fn("ceil", digit.copy())),
            default=fn("floor", digit.copy()),
        )
        return _s("float64", exp.Div(this=rounded, expression=pw.copy()))

    F["round"] = round_

    def len_(ev, v, cmd, dot):
        x = v[0]
        if x.kind == "string":
            return _s("int", fn("octet_length", fn("encode", x.sql)))
        if x.kind == "labels":
            return _s("int", fn("cardinality", x.sql))
        if x.kind == "json":
            t = json_type(x.sql)
            ok = exp.In(this=t, expressions=[lit("VARCHAR"), lit("ARRAY"), lit("OBJECT")])
            n = case(
                (
                    exp.EQ(this=t.copy(), expression=lit("VARCHAR")),
                    fn("octet_length", fn("encode", json_string(x.sql.copy()))),
                ),
                (
                    exp.EQ(this=t.copy(), expression=lit("ARRAY")),
                    fn("json_array_length", x.sql.copy()),
                ),
                (
                    exp.EQ(this=t.copy(), expression=lit("OBJECT")),
                    fn("len", fn("list_distinct", fn("json_keys", x.sql.copy()))),
                ),
            )
            err = case(
                (
                    negate(ok),
                    ev.error_at(
                        cmd,
                        concat(lit("error calling len: len of type "), json_go_type(x.sql.copy())),
                    ),
                )
            )
            return _s("int", n, err)
        if x.kind == "nil":
            return _s("int", num(0), ev.error_at(cmd, "error calling len: len of nil pointer"))
        return _s("int", num(0), ev.error_at(cmd, f"error calling len: len of type {_go(x.kind)}"))

    F["len"] = len_
    F["index"] = lambda ev, v, cmd, dot: builtins.index(ev, v, cmd)
    F["slice"] = lambda ev, v, cmd, dot: builtins.slice_(ev, v, cmd)
    F["call"] = lambda ev, v, cmd, dot: builtins.call(ev, v, cmd)
    F["js"] = lambda ev, v, cmd, dot: _s("string", builtins.js_escape(_sprint(ev, v, False)))
    F["not"] = lambda ev, v, cmd, dot: _s("bool", negate(truth(v[0])))

    def default(ev, v, cmd, dot):
        d = v[0]
        if len(v) == 1:
            return d
        given = v[1]
        kinds = {d.kind, given.kind} - {"nil"}
        if len(kinds) > 1:
            raise ev.unsupported(f"template default of {_go(d.kind)} and {_go(given.kind)}")
        if given.kind == "nil":
            return d
        if d.kind == "nil":
            return Val(given.kind, case((_empty(given), exp.Null()), default=given.sql))
        return Val(given.kind, case((_empty(given), d.sql), default=given.sql.copy()))

    F["default"] = default

    def from_json(ev, v, cmd, dot):
        s = v[0].sql
        return _s("json", case((fn("json_valid", s), cast(s.copy(), "JSON"))))

    F["fromJson"] = from_json
    F["__line__"] = lambda ev, v, cmd, dot: _s("string", col("line"))
    F["__timestamp__"] = lambda ev, v, cmd, dot: _s("time", cast(col("ts"), "HUGEINT"))
    F["now"] = lambda ev, v, cmd, dot: _s(
        "time", cast(fn("epoch_ns", fn("get_current_timestamp")), "HUGEINT")
    )

    def date(ev, v, cmd, dot):
        layout = _literal(v[0])
        if layout is None:
            raise ev.unsupported("template date with a non-literal layout")
        t = v[1]
        if t.kind == "time":
            ns = t.sql
        elif t.kind in ("int", "int64"):
            ns = exp.Mul(this=cast(t.sql, "HUGEINT"), expression=num(NS))
        elif t.kind == "json":
            raise ev.unsupported("template date of a JSON value")
        else:  # sprig formats the current time for any other type
            ns = cast(fn("epoch_ns", fn("get_current_timestamp")), "HUGEINT")
        return _s("string", format_time(ns, layout))

    F["date"] = date

    def to_date(ev, v, cmd, dot):
        layout = _literal(v[0])
        if layout is None:
            raise ev.unsupported("template toDate with a non-literal layout")
        return Val("time", parse_time(layout, v[1].sql, ev.dialect), zoned=_zoned(layout))

    F["toDate"] = to_date

    def to_date_in_zone(ev, v, cmd, dot):
        layout, zone = _literal(v[0]), _literal(v[1])
        if layout is None:
            raise ev.unsupported("template toDateInZone with a non-literal layout")
        loc = None if zone is None else go_zone(zone)
        if loc is None:
            raise ev.unsupported(
                "template toDateInZone with a zone other than a literal name Go and ICU agree on"
            )
        if loc == "UTC":
            return Val("time", parse_time(layout, v[2].sql, ev.dialect), zoned=_zoned(layout))
        return Val("time", parse_time(layout, v[2].sql, ev.dialect, loc), zoned=True)

    F["toDateInZone"] = to_date_in_zone

    def epoch(unit: int):
        def impl(ev, v, cmd, dot):
            ns = v[0].sql
            secs, nanos = split_time(ns)
            if unit == 1:
                value = secs
            elif unit == 1000:
                value = exp.Add(
                    this=exp.Mul(this=secs, expression=num(1000)),
                    expression=exp.IntDiv(this=nanos, expression=num(1_000_000)),
                )
            else:
                wrapped = exp.Mod(
                    this=exp.Add(
                        this=exp.Mod(
                            this=exp.Add(this=cast(ns.copy(), "HUGEINT"), expression=num(2**63)),
                            expression=num(2**64),
                        ),
                        expression=num(2**64),
                    ),
                    expression=num(2**64),
                )
                value = exp.Sub(this=wrapped, expression=num(2**63))
            return _s("string", cast(value, "VARCHAR"))

        return impl

    F["unixEpoch"] = epoch(1)
    F["unixEpochMillis"] = epoch(1000)
    F["unixEpochNanos"] = epoch(NS)

    def unix_to_time(ev, v, cmd, dot):
        s = v[0].sql
        n = fn("length", s)
        parsed = try_cast(s.copy(), "BIGINT")
        valid = fn("regexp_full_match", s.copy(), lit(r"[+-]?[0-9]+"))
        value = cast(parsed, "HUGEINT")
        ns = case(
            (exp.EQ(this=n, expression=num(5)), exp.Mul(this=value, expression=num(86400 * NS))),
            (
                exp.EQ(this=n.copy(), expression=num(10)),
                exp.Mul(this=value.copy(), expression=num(NS)),
            ),
            (
                exp.EQ(this=n.copy(), expression=num(13)),
                exp.Mul(this=value.copy(), expression=num(1_000_000)),
            ),
            (
                exp.EQ(this=n.copy(), expression=num(16)),
                exp.Mul(this=value.copy(), expression=num(1000)),
            ),
            (exp.EQ(this=n.copy(), expression=num(19)), value.copy()),
        )
        parse_err = case(
            (
                negate(valid),
                concat(
                    lit("strconv.ParseInt: parsing "), go_quote(s.copy()), lit(": invalid syntax")
                ),
            ),
            (
                exp.Is(this=parsed.copy(), expression=exp.Null()),
                concat(
                    lit("strconv.ParseInt: parsing "),
                    go_quote(s.copy()),
                    lit(": value out of range"),
                ),
            ),
            (exp.Is(this=ns.copy(), expression=exp.Null()), lit("%!w(<nil>)")),
        )
        err = case(
            (
                negate(exp.Is(this=parse_err, expression=exp.Null())),
                ev.error_at(
                    cmd,
                    concat(
                        lit("error calling unixToTime: unable to parse time '"),
                        s.copy(),
                        lit("': "),
                        parse_err.copy(),
                    ),
                ),
            ),
        )
        return _s("time", ns.copy(), err)

    F["unixToTime"] = unix_to_time
    return F


def _zoned(layout: str) -> bool:
    return any(k[0] in "-Z" or k == "MST" for k, _ in layout_chunks(layout) if k != "lit")


def _b64dec(v: exp.Expression) -> exp.Expression:
    """Loki's `base64Decode`: `=` padding added to a length of 2 or 3 modulo 4, then
    `base64.StdEncoding.DecodeString`, whose error text is the value on failure
    (`illegal base64 data at input byte 4`). Go skips line breaks and counts them in the
    offsets; text holding them fails the query."""
    size = fn("octet_length", fn("encode", v))
    rest = exp.Mod(this=size, expression=num(4))
    pad = fn("repeat", lit("="), exp.Sub(this=num(4), expression=rest.copy()))
    padded = case(
        (exp.In(this=rest.copy(), expressions=[num(2), num(3)]), concat(v.copy(), pad)),
        default=v.copy(),
    )
    return bound(padded, "_b64", _b64dec_padded)


def _b64dec_padded(p: exp.Expression) -> exp.Expression:
    n = fn("octet_length", fn("encode", p))
    i = fn("length", fn("regexp_extract", p.copy(), lit("^[A-Za-z0-9+/]*")))

    def at(k: exp.Expression) -> exp.Expression:
        return fn("substr", p.copy(), exp.Add(this=k, expression=num(1)), num(1))

    def plus(k: int) -> exp.Expression:
        return exp.Add(this=i.copy(), expression=num(k))

    j = exp.Mod(this=i.copy(), expression=num(4))
    offset = case(
        (
            exp.EQ(this=i.copy(), expression=n.copy()),
            case(
                (
                    exp.EQ(this=exp.Mod(this=n.copy(), expression=num(4)), expression=num(1)),
                    exp.Sub(this=n.copy(), expression=num(1)),
                )
            ),
        ),
        (exp.NEQ(this=at(i.copy()), expression=lit("=")), i.copy()),
        (exp.LT(this=j, expression=num(2)), i.copy()),
        (
            exp.EQ(this=j.copy(), expression=num(2)),
            case(
                (exp.EQ(this=plus(1), expression=n.copy()), n.copy()),
                (exp.NEQ(this=at(plus(1)), expression=lit("=")), i.copy()),
                (exp.LT(this=plus(2), expression=n.copy()), plus(2)),
            ),
        ),
        (exp.LT(this=plus(1), expression=n.copy()), plus(1)),
    )
    breaks = fn("regexp_matches", p.copy(), lit("[\\r\\n]"))
    return case(
        (breaks, fn("error", lit("template b64dec of text with line breaks is not supported"))),
        (
            exp.Is(this=offset, expression=exp.Null()),
            fn("decode", fn("from_base64", p.copy())),
        ),
        default=concat(lit("illegal base64 data at input byte "), cast(offset.copy(), "VARCHAR")),
    )


def _indent(n: exp.Expression, s: exp.Expression) -> exp.Expression:
    pad = fn("repeat", lit(" "), n)
    return concat(pad, fn("replace", s, lit("\n"), concat(lit("\n"), pad.copy())))


def _empty(v: Val) -> exp.Expression:
    """sprig's `empty`: the zero value of its type (nil, "", 0, false, empty list/map)."""
    return negate(truth(v)) if v.kind != "time" else exp.false()


_FUNCTIONS = _build()


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d*))?(.)", re.S)


def _printf(ev: _Evaluator, ident: Identifier, args: list[Node], dot, env, final) -> Val:
    """Go's `fmt.Sprintf` for a literal format: `%s`/`%v` (flag `-`, width, precision),
    `%d` of ints, `%v` of floats and bools, `%%`, and Go's `%!s(MISSING)`/`%!(EXTRA …)`."""
    if not args or not isinstance(args[0], String):
        raise ev.unsupported("printf with a non-literal format")
    fmt = args[0].value
    values = [arg(ev, a, "any", dot, env) for a in args[1:]] + ([final] if final else [])
    for v in values:
        if v.kind not in ("string", *INT_KINDS, "float64", "bool"):
            raise ev.unsupported(f"printf of a {_go(v.kind)} value")
    parts: list[exp.Expression] = []
    pos = used = 0
    for m in _VERB.finditer(fmt):
        parts.append(lit(fmt[pos : m.start()]))
        pos = m.end()
        flags, width, precision, verb = m.groups()
        if verb == "%" and not (flags or width or precision is not None):
            parts.append(lit("%"))
            continue
        if set(flags) - {"-"}:
            raise ev.unsupported(f"printf verb {m.group(0)!r}")
        if used == len(values):
            parts.append(lit(f"%!{verb}(MISSING)"))
            continue
        v = values[used]
        used += 1
        text = _printf_value(ev, v, verb, m.group(0))
        if precision is not None:
            if v.kind != "string":
                raise ev.unsupported(f"printf verb {m.group(0)!r} of a {_go(v.kind)}")
            text = fn("substr", text, num(1), num(int(precision or 0)))
        if width:
            side = "rpad" if "-" in flags else "lpad"
            pad = fn(side, text, num(int(width)), lit(" "))
            longer = exp.GTE(this=fn("length", text.copy()), expression=num(int(width)))
            text = case((longer, text.copy()), default=pad)
        parts.append(text)
    parts.append(lit(fmt[pos:]))
    if used < len(values):
        extra: list[exp.Expression] = [lit("%!(EXTRA ")]
        for i, v in enumerate(values[used:]):
            prefix = ", " if i else ""
            extra += [lit(f"{prefix}{_go(v.kind)}="), _printf_value(ev, v, "v", "%v")]
        parts += [*extra, lit(")")]
    return Val("string", concat(*parts), first_error(*[v.err for v in values]))


def _sprint(ev: _Evaluator, values: list[Val], line: bool) -> exp.Expression:
    """`fmt.Sprint` (a space between operands where neither is a string) or `fmt.Sprintln`
    (spaces between all, a newline at the end) of basic values, as the builtins `print`,
    `println`, `urlquery` and `html` format their arguments."""
    parts: list[exp.Expression] = []
    for i, v in enumerate(values):
        if v.kind not in ("string", *INT_KINDS, "float64", "bool"):
            raise ev.unsupported(f"template print of a {_go(v.kind)} value")
        if i and (line or (v.kind != "string" and values[i - 1].kind != "string")):
            parts.append(lit(" "))
        parts.append(_printf_value(ev, v, "v", "%v"))
    if line:
        parts.append(lit("\n"))
    return concat(*parts) if parts else lit("")


def _html(s: exp.Expression) -> exp.Expression:
    """`template.HTMLEscapeString`: `&`, `'`, `<`, `>`, `"` as entities, NUL as U+FFFD."""
    for old, new in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;")):
        s = fn("replace", s, lit(old), lit(new))
    s = fn("replace", s, lit('"'), lit("&#34;"))
    return fn("replace", s, fn("chr", num(0)), lit("\ufffd"))


def _printf_value(ev: _Evaluator, v: Val, verb: str, spelled: str) -> exp.Expression:
    if v.kind == "string" and verb in "sv":
        return v.sql
    if v.kind in INT_KINDS and verb in "dv":
        return cast(v.sql, "VARCHAR")
    if v.kind == "float64" and verb == "v":
        return format_float(v.sql)
    if v.kind == "bool" and verb in "tv":
        return case((v.sql, lit("true")), default=lit("false"))
    raise ev.unsupported(f"printf verb {spelled!r} of a {_go(v.kind)}")
