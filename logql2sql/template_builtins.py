"""Go's `index`, `slice`, `call` and `js` template builtins, lowered to DuckDB SQL.

They follow Go 1.26's `text/template/funcs.go` on the values a Loki template can hold: the
label map (`.`, a `map[string]string`), strings, numbers, and what `fromJson` decodes.

- `index x k...`: a label map by string keys ("" when absent), a decoded object by string
  keys (nil when absent), an array by int positions, a string by int positions (a byte,
  Go's `uint8`). Each failure is Go's error: `index of untyped nil`, `index of nil pointer`,
  `value has type int; should be string`, `cannot index slice/array with type string`,
  `index out of range: 5`, `can't index item of type float64`, and the text of the panic
  Go recovers when the position equals the length (`reflect: slice index out of range`).
- `slice x i j k`: strings by bytes, decoded arrays by position, with Go's errors. A cut
  inside a multi-byte character (Go returns invalid UTF-8) and array positions past the
  length (Go reads into the decoder's spare capacity, whose size SQL cannot know) fail the
  query at run time instead of giving a different answer.
- `call f args...`: no template value is a function here, so every call ends in Go's error
  (`call of nil`, `non-function .a of type string`) once its arguments are evaluated.
- `js args...`: `template.JSEscapeString` of the printed arguments.

A byte taken from a decoded JSON string (`index (fromJson .x) "s" 0`) also fails at run time:
Go yields a `uint8` where the other positions yield `interface{}` values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from logql2sql.sqlbuild import case, cast, fn, lam, lit, num
from logql2sql.template_parse import Command, node_string
from logql2sql.template_values import (
    GO_TYPES,
    Val,
    bound,
    concat,
    first_error,
    json_go_type,
    json_string,
    json_type,
)

if TYPE_CHECKING:
    from logql2sql.templates import _Evaluator

INT_KINDS = ("int", "int64", "uint8")
"""Static kinds Go's `indexArg` takes as positions."""

NOT_PRINTABLE = r"[\x00-\x1f]|[^\x00-\x7f\p{L}\p{M}\p{N}\p{P}\p{S}]"
"""Characters `JSEscape` writes as `\\uXXXX`: ASCII controls, and the non-ASCII runes Go's
`unicode.IsPrint` rejects (separators, controls, format characters, unassigned)."""


def go_type(kind: str) -> str:
    """The Go type of a static kind, as `%s` of a `reflect.Type` prints it."""
    return GO_TYPES.get(kind, kind)


def _unboxed_type(v: Val) -> exp.Expression:
    """The Go type of a value as an SQL string (dynamic for decoded JSON)."""
    return json_go_type(v.sql.copy()) if v.kind == "json" else lit(go_type(v.kind))


def _is(t: exp.Expression, *names: str) -> exp.Expression:
    if len(names) == 1:
        return exp.EQ(this=t.copy(), expression=lit(names[0]))
    return exp.In(this=t.copy(), expressions=[lit(n) for n in names])


def _text(x: exp.Expression) -> exp.Expression:
    return cast(x, "VARCHAR")


# ------------------------------------------------------------------ argument conversions


def _as_key(key: Val) -> tuple[exp.Expression, exp.Expression | None]:
    """Go's `prepareArg(key, string)`: (the key, the error text or None when it cannot fail)."""
    if key.kind == "string":
        return key.sql, None
    if key.kind == "nil":
        return exp.Null(), lit("value is nil; should be of type string")
    if key.kind == "json":
        t = json_type(key.sql)
        return json_string(key.sql.copy()), case(
            (_is(t, "VARCHAR"), exp.Null()),
            (_is(t, "NULL"), lit("value is nil; should be of type string")),
            default=concat(
                lit("value has type "), json_go_type(key.sql.copy()), lit("; should be string")
            ),
        )
    return exp.Null(), lit(f"value has type {go_type(key.kind)}; should be string")


def _as_position(key: Val) -> tuple[exp.Expression, exp.Expression | None]:
    """Go's `indexArg` type check: (the position, the error text or None)."""
    if key.kind in INT_KINDS:
        return key.sql, None
    if key.kind == "nil":
        return exp.Null(), lit("cannot index slice/array with nil")
    if key.kind == "json":  # decoded numbers are float64: never a position
        return exp.Null(), case(
            (_is(json_type(key.sql), "NULL"), lit("cannot index slice/array with nil")),
            default=concat(
                lit("cannot index slice/array with type "), json_go_type(key.sql.copy())
            ),
        )
    return exp.Null(), lit(f"cannot index slice/array with type {go_type(key.kind)}")


def _out_of_range(x: exp.Expression, cap: exp.Expression) -> exp.Expression:
    """`indexArg`'s range check against `cap`: the error text, NULL when in range."""
    bad = exp.or_(
        exp.LT(this=x.copy(), expression=num(0)), exp.GT(this=x.copy(), expression=cap.copy())
    )
    return case((bad, concat(lit("index out of range: "), _text(x.copy()))))


def _first(*texts: exp.Expression | None) -> exp.Expression | None:
    present = [t for t in texts if t is not None]
    if not present:
        return None
    return (
        present[0] if len(present) == 1 else exp.Coalesce(this=present[0], expressions=present[1:])
    )


def _octets(s: exp.Expression) -> exp.Expression:
    return fn("octet_length", fn("encode", s))


def _unsupported(what: str) -> exp.Expression:
    """A run-time failure of the query where Go's result has no SQL counterpart."""
    return fn("error", lit(f"template {what} is not supported"))


# ------------------------------------------------------------------ index


def index(ev: _Evaluator, values: list[Val], cmd: Command) -> Val:
    """Go's `index item keys...` (see the module docstring)."""
    item, keys = values[0], values[1:]
    if item.kind == "truth" or any(k.kind == "truth" for k in keys):
        raise ev.unsupported("template index of and/or of values of different types")

    def failed(text: exp.Expression | None) -> exp.Expression | None:
        if text is None:
            return None
        return ev.error_at(cmd, concat(lit("error calling index: "), text))

    if item.kind == "nil":
        return Val("string", exp.Null(), failed(lit("index of untyped nil")))
    if item.kind == "json":
        untyped = case((_is(json_type(item.sql), "NULL"), lit("index of untyped nil")))
        item = Val("json", item.sql, failed(untyped))
    else:
        item = Val(item.kind, item.sql)
    for key in keys:
        item = _index_step(ev, item, key, failed)
    return item


def _index_step(ev: _Evaluator, item: Val, key: Val, failed) -> Val:
    """One `index` position: the value at `key`, with the errors so far."""
    if item.kind == "labels":
        k, key_err = _as_key(key)
        value = exp.Coalesce(
            this=exp.Bracket(this=item.sql, expressions=[k], offset=1), expressions=[lit("")]
        )
        return Val("string", value, first_error(item.err, failed(key_err)))
    if item.kind == "string":
        x, key_err = _as_position(key)
        n = _octets(item.sql.copy())
        err = _first(key_err, _out_of_range(x, n), _at_length(x, n, "string"))
        in_range = exp.and_(
            exp.GTE(this=x.copy(), expression=num(0)), exp.LT(this=x.copy(), expression=n.copy())
        )
        value = case((in_range, _byte(item.sql.copy(), x)))
        return Val("uint8", value, first_error(item.err, failed(err)))
    if item.kind == "json":
        return _json_index(item, key, failed)
    message = lit(f"can't index item of type {go_type(item.kind)}")
    return Val("string", exp.Null(), first_error(item.err, failed(message)))


def _at_length(x: exp.Expression, n: exp.Expression, what: str) -> exp.Expression:
    """The panic Go recovers when a position equals the length."""
    at_end = exp.EQ(this=x.copy(), expression=n.copy())
    return case((at_end, lit(f"reflect: {what} index out of range")))


def _byte(s: exp.Expression, x: exp.Expression) -> exp.Expression:
    """Byte `x` (0-based) of the UTF-8 text `s`, as an integer."""
    start = exp.Add(this=exp.Mul(this=num(2), expression=x.copy()), expression=num(1))
    digits = fn("substr", fn("hex", fn("encode", s)), start, num(2))
    return cast(concat(lit("0x"), digits), "INTEGER")


def _json_index(item: Val, key: Val, failed) -> Val:
    """`index` of a decoded JSON value: objects by key, arrays by position."""
    j = item.sql
    t = json_type(j)
    k, key_err = _as_key(key)
    x, pos_err = _as_position(key)
    n = fn("json_array_length", j.copy())
    octets = _octets(json_string(j.copy()))
    if isinstance(k, exp.Literal):
        member = fn("json_extract", j.copy(), lit(_member_path(k.this)))
    else:
        escaped = fn(
            "replace", fn("replace", k.copy(), lit("\\"), lit("\\\\")), lit('"'), lit('\\"')
        )
        member = fn("json_extract", j.copy(), concat(lit('$."'), escaped, lit('"')))
    if isinstance(x, exp.Literal):
        element = fn("json_extract", j.copy(), lit(f"$[{x.this}]"))
    else:
        element = fn("json_extract", j.copy(), concat(lit("$["), _text(x.copy()), lit("]")))
    string_err = _first(pos_err, _out_of_range(x, octets), _at_length(x, octets, "string"))
    whens: list[tuple[exp.Expression, exp.Expression]] = [
        (_is(t, "NULL"), lit("index of nil pointer")),
        (_is(t, "BIGINT", "UBIGINT", "DOUBLE"), lit("can't index item of type float64")),
        (_is(t, "BOOLEAN"), lit("can't index item of type bool")),
        (_is(t, "ARRAY"), _first(pos_err, _out_of_range(x, n), _at_length(x, n, "slice"))),
        (_is(t, "VARCHAR"), string_err),
    ]
    if key_err is not None:
        whens.append((_is(t, "OBJECT"), key_err))
    err = case(*whens)
    value_whens = [(_is(t, "OBJECT"), member), (_is(t, "ARRAY"), element)]
    if pos_err is None:
        # a byte of a decoded string is Go's uint8, where the other branches hold interface{}
        byte = exp.and_(_is(t, "VARCHAR"), exp.Is(this=string_err.copy(), expression=exp.Null()))
        value_whens.append((byte, cast(_unsupported("index of a decoded JSON string"), "JSON")))
    return Val("json", case(*value_whens), first_error(item.err, failed(err)))


def _member_path(key: str) -> str:
    """The JSON path of object member `key` (DuckDB unescapes `\\` and `\"` in it)."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------ slice


def slice_(ev: _Evaluator, values: list[Val], cmd: Command) -> Val:
    """Go's `slice item i j k` (see the module docstring)."""
    item, positions = values[0], values[1:]
    if item.kind == "truth" or any(p.kind == "truth" for p in positions):
        raise ev.unsupported("template slice of and/or of values of different types")

    def failed(text: exp.Expression | None) -> Val:
        err = None if text is None else ev.error_at(cmd, concat(lit("error calling slice: "), text))
        return Val("string", exp.Null(), err)

    if item.kind == "nil":
        return failed(lit("slice of untyped nil"))
    too_many = lit(f"too many slice indexes: {len(positions)}") if len(positions) > 3 else None
    if item.kind == "string":
        if too_many is not None:
            return failed(too_many)
        value, err = _slice_string(item.sql, positions)
        out = failed(err)
        return Val("string", value, out.err)
    if item.kind != "json":
        return failed(too_many or lit(f"can't slice item of type {go_type(item.kind)}"))
    j = item.sql
    t = json_type(j)
    text = json_string(j.copy())
    string_value, string_err = _slice_string(text, positions)
    array_value, array_err = _slice_array(j, positions)
    err = case(
        (_is(t, "NULL"), lit("slice of untyped nil")),
        *([(exp.true(), too_many)] if too_many is not None else []),
        (_is(t, "VARCHAR"), string_err),
        (_is(t, "ARRAY"), array_err),
        default=concat(lit("can't slice item of type "), json_go_type(j.copy())),
    )
    value = case((_is(t, "VARCHAR"), fn("to_json", string_value)), (_is(t, "ARRAY"), array_value))
    return Val("json", value, failed(err).err)


def _bounds(
    positions: list[Val], length: exp.Expression, cap: exp.Expression | None
) -> tuple[exp.Expression, exp.Expression, exp.Expression | None]:
    """(low, high, error text) of Go's `slice` positions over a value of `length`: each
    position type- and range-checked against `cap` in order (None: the capacity is
    unknown, so a position past `length` fails the query), then low <= high <= max."""
    checks: list[exp.Expression | None] = []
    xs: list[exp.Expression] = []
    for p in positions:
        x, type_err = _as_position(p)
        xs.append(x)
        if cap is not None:
            checks.append(_first(type_err, _out_of_range(x, cap)))
        else:
            past = exp.GT(this=x.copy(), expression=length.copy())
            range_err = case(
                (
                    exp.LT(this=x.copy(), expression=num(0)),
                    concat(lit("index out of range: "), _text(x.copy())),
                ),
                (
                    past,
                    cast(_unsupported("slice of a decoded JSON array past its length"), "VARCHAR"),
                ),
            )
            checks.append(_first(type_err, range_err))
    low = xs[0] if xs else num(0)
    high = xs[1] if len(xs) > 1 else length
    for a, b in ((low, high), *([(xs[1], xs[2])] if len(xs) == 3 else [])):
        checks.append(
            case(
                (
                    exp.GT(this=a.copy(), expression=b.copy()),
                    concat(
                        lit("invalid slice index: "), _text(a.copy()), lit(" > "), _text(b.copy())
                    ),
                )
            )
        )
    return low, high, _first(*checks)


def _slice_string(
    s: exp.Expression, positions: list[Val]
) -> tuple[exp.Expression, exp.Expression | None]:
    """Bytes [low, high) of text `s`, and the error text."""
    octets = _octets(s.copy())
    if len(positions) == 3:
        return exp.Null(), lit("cannot 3-index slice a string")
    low, high, err = _bounds(positions, octets, octets)
    width = exp.Sub(this=high.copy(), expression=low.copy())
    ascii_ = exp.EQ(this=octets.copy(), expression=fn("length", s.copy()))
    start = exp.Add(this=exp.Mul(this=num(2), expression=low.copy()), expression=num(1))
    hex_digits = fn(
        "substr",
        fn("hex", fn("encode", s.copy())),
        start,
        exp.Mul(this=num(2), expression=width.copy()),
    )
    decoded = fn("try", fn("decode", fn("unhex", hex_digits)))
    cut = _unsupported("slice cutting a multi-byte character")
    valid = exp.Is(this=err.copy(), expression=exp.Null()) if err is not None else exp.true()
    value = case(
        (ascii_, fn("substr", s.copy(), exp.Add(this=low.copy(), expression=num(1)), width)),
        (valid, exp.Coalesce(this=decoded, expressions=[cut])),
    )
    return value, err


def _slice_array(
    j: exp.Expression, positions: list[Val]
) -> tuple[exp.Expression, exp.Expression | None]:
    """Elements [low, high) of a decoded array (as JSON), and the error text."""
    n = fn("json_array_length", j.copy())
    low, high, err = _bounds(positions, n, None)
    items = fn("json_extract", j.copy(), lit("$[*]"))
    sliced = fn("list_slice", items, exp.Add(this=low.copy(), expression=num(1)), high.copy())
    return fn("to_json", sliced), err


# ------------------------------------------------------------------ call and js


def call(ev: _Evaluator, values: list[Val], cmd: Command) -> Val:
    """Go's `call f args...`: an error once the arguments are evaluated, since no value a
    template holds here is a function. Go names the callee by its node, or by the piped
    value's `reflect.Value.String()` when it comes from the pipeline."""
    f = values[0]
    if f.kind == "truth":
        raise ev.unsupported("template call of and/or of values of different types")
    if len(cmd.args) > 1:
        name: exp.Expression = lit(node_string(cmd.args[1]))
    elif f.kind == "string":
        name = f.sql.copy()
    elif f.kind == "json":
        name = case(
            (_is(json_type(f.sql), "VARCHAR"), json_string(f.sql.copy())),
            default=concat(lit("<"), json_go_type(f.sql.copy()), lit(" Value>")),
        )
    else:
        name = lit(f"<{go_type(f.kind)} Value>")
    if f.kind == "nil":
        text: exp.Expression = lit("call of nil")
    else:
        text = concat(lit("non-function "), name, lit(" of type "), _unboxed_type(f))
        if f.kind == "json":
            text = case((_is(json_type(f.sql), "NULL"), lit("call of nil")), default=text)
    err = ev.error_at(cmd, concat(lit("error calling call: "), text))
    return Val("string", exp.Null(), err)


def js_escape(s: exp.Expression) -> exp.Expression:
    """`template.JSEscapeString`: backslash and quotes escaped, `<>&=` and characters that
    do not print as `\\uXXXX` (upper-case hex, at least four digits)."""
    for old, new in (
        ("\\", "\\\\"),
        ("'", "\\'"),
        ('"', '\\"'),
        ("<", "\\u003C"),
        (">", "\\u003E"),
        ("&", "\\u0026"),
        ("=", "\\u003D"),
    ):
        s = fn("replace", s, lit(old), lit(new))
    return bound(s, "_js", _escape_unprintable)


def _escape_unprintable(s: exp.Expression) -> exp.Expression:
    c = exp.column("_jc")
    escaped = fn("printf", lit("\\u%04X"), fn("unicode", c.copy()))
    per_char = case((fn("regexp_matches", c.copy(), lit(NOT_PRINTABLE)), escaped), default=c.copy())
    rebuilt = fn(
        "array_to_string",
        fn("list_transform", fn("string_split", s.copy(), lit("")), lam(["_jc"], per_char)),
        lit(""),
    )
    return case((fn("regexp_matches", s.copy(), lit(NOT_PRINTABLE)), rebuilt), default=s.copy())
