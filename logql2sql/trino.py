"""Trino SQL lowering: rewrites a lowered query so that Trino (476) computes what DuckDB does.

Lowering builds SQL with DuckDB's function names; sqlglot's Trino generator maps many of
them. `adapt(select)` rewrites the rest before the SQL is printed, keeping Loki's meaning.
The SQL reads the `source` relation with the entry schema (label maps `MAP(VARCHAR,
VARCHAR)`) and needs one server setting: `regex-library=RE2J`. RE2/J is a port of Go's
`regexp`, so Loki's patterns keep their exact meaning (Trino's default, Joni, reads them as
Ruby does: another `$`, other classes and escapes).

- Regexes: `regexp_full_match` is `regexp_like` anchored at both ends of the text
  (`^(?:…)$`: `$` is the end of the text in RE2); `regexp_replace` replaces every match in
  Trino, so the lowering's single replacements must be anchored with `^` (they are) and the
  `g` flag is dropped; RE2 replacement strings (`\\1`) are Trino's (`$1`, `\\$`);
  `regexp_extract` gives `''` for no match (Trino: NULL), as DuckDB does.
- Maps and lists: Trino's `m['k']` and `x[i]` fail for an absent key or index, DuckDB's give
  NULL: both are `element_at` (index 0, which `element_at` refuses, is NULL too).
  `list_position` is `array_position` with 0 as NULL; `list_sum` a `reduce` over
  DECIMAL(38, 0) (the exact sum of a duration's parts, `durations`), NULLs counting as 0.
- Structs: the lowering's structs are pairs (`{key, value}` map entries, `{k, v}`, `{q, u}`);
  Trino's `ROW(a, b)` has no field names unless cast, so a field access `x.key` is `x[1]`.
- `UNNEST(series) AS t` in a select list (DuckDB) is a `CROSS JOIN UNNEST(series) AS _u(t)`;
  `generate_series(a, b, s)` (inclusive, empty when `a > b`) is built from `sequence`s of at
  most 10,000 entries each (Trino's limit), concatenated with `flatten`.
- Text: `strlen` (bytes) is `length(to_utf8(…))`, string `contains` is `strpos(…) > 0`,
  `ends_with` compares the tail, `left` is `substr`, `repeat` joins Trino's repeated array,
  `split_part` past the last part is `''` (Trino: NULL).
- Numbers: `fmod` is `mod` on doubles (the sign of the dividend, as C's remainder), integer
  literals past BIGINT are DECIMAL(38, 0) literals, `quantile_cont` is an interpolation
  between the closest ranks of the sorted values (Trino has only approximate percentiles).
- JSON: Trino's `CAST(text AS JSON)` makes a JSON string of the text, so a cast of text is
  `json_parse`; `json_valid` is whether `json_parse` succeeds; `json_type` is read from the
  first character of the value's JSON text (`json_format`) with DuckDB's type names;
  `json_extract_scalar` reads a JSON string's text, any other scalar's text as written.
  A JSON value read as text is a scalar's text as written (Loki's: `1.50` stays `1.50`)
  or an object's `json_format` (Trino refuses to cast objects to VARCHAR).

Constructs with no faithful Trino form raise `UnsupportedInDialect`: a single regex
replacement that is not anchored, struct fields other than the pairs', `unpack`, `json_keys`
(Trino's JSON objects lose their key order and duplicate keys), `UNNEST` beside an
aggregation. The lowering itself refuses the `json` parser without parameters, `ip()` and
templates beyond the portable subset for Trino.
"""

from __future__ import annotations

from sqlglot import exp

from logql2sql.errors import UnsupportedInDialect
from logql2sql.pipeline import GO_SPECIAL
from logql2sql.spark import java_replacement
from logql2sql.sqlbuild import cast, col, lam, lit, negate, num, rewrite_bottom_up

DIALECT = "trino"

# Positions of the fields of the lowering's pair structs (see the module docstring).
_FIELDS = {"key": 1, "value": 2, "k": 1, "v": 2, "q": 1, "u": 2}
_SEQUENCE_LIMIT = 10_000
_INT64 = range(-(2**63), 2**63)

# First character of a JSON value's text → DuckDB's `json_type` name (numbers apart).
_JSON_KINDS = (("{", "OBJECT"), ("[", "ARRAY"), ('"', "VARCHAR"), ("n", "NULL"))


def call(name: str, *args: exp.Expression) -> exp.Expression:
    """A Trino function call, printed as named."""
    return exp.Anonymous(this=name, expressions=list(args))


def _anchored(pattern: exp.Expression) -> exp.Expression:
    """A pattern that must match the whole text: `^(?:…)$` (`$` is the end of the text)."""
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        return lit(f"^(?:{pattern.this})$")
    return exp.DPipe(this=exp.DPipe(this=lit("^(?:"), expression=pattern), expression=lit(")$"))


def _field(node: exp.Dot) -> exp.Expression:
    name = node.expression.name
    if name not in _FIELDS:
        raise UnsupportedInDialect(f"struct field {name}", DIALECT)
    return exp.Bracket(this=node.this, expressions=[num(_FIELDS[name])], offset=1)


def _row(node: exp.Struct) -> exp.Expression:
    values = []
    for i, field in enumerate(node.expressions, start=1):
        if not isinstance(field, exp.PropertyEQ) or _FIELDS.get(field.this.name) != i:
            raise UnsupportedInDialect("struct", DIALECT)
        values.append(field.expression)
    return call("ROW", *values)


def _element(node: exp.Bracket) -> exp.Expression:
    """`m['k']` or a 1-based `x[i]`: NULL when absent or out of range, as in DuckDB."""
    key = node.expressions[0]
    if isinstance(key, exp.Literal) and (key.is_string or int(key.this) != 0):
        return call("element_at", node.this, key)
    zero = exp.EQ(this=key.copy(), expression=num(0))
    return exp.If(this=zero, true=exp.Null(), false=call("element_at", node.this, key))


def _series(node: exp.GenerateSeries) -> exp.Expression:
    """`generate_series(a, b, s)`, inclusive and empty when `a > b`, from Trino `sequence`s
    of at most `_SEQUENCE_LIMIT` entries (`a`, `b` and `s` are integers, `s > 0`; `a` and
    `b` are computed once, bound as the lambda parameter `_r`). The form does not depend on
    the values: a query's times may be symbolic (`compile`'s translation cache)."""
    a, b = node.args["start"], node.args["end"]
    # BIGINT: Trino types a literal below 2^31 INTEGER, whose products overflow.
    s = cast(node.args.get("step") or num(1), "BIGINT")
    lo = exp.Bracket(this=col("_r"), expressions=[num(1)], offset=1)
    hi = exp.Bracket(this=col("_r"), expressions=[num(2)], offset=1)
    block = exp.Paren(this=exp.Mul(this=exp.Paren(this=s), expression=num(_SEQUENCE_LIMIT)))
    blocks = exp.Div(
        this=exp.Paren(this=exp.Sub(this=hi, expression=lo)), expression=block, typed=True
    )
    first = exp.Add(this=lo.copy(), expression=exp.Mul(this=col("_blk"), expression=block.copy()))
    last = exp.Add(
        this=first.copy(),
        expression=exp.Mul(this=num(_SEQUENCE_LIMIT - 1), expression=exp.Paren(this=s.copy())),
    )
    parts = call(
        "transform",
        call("sequence", num(0), blocks),
        lam(["_blk"], call("sequence", first, call("least", last, hi.copy()), s.copy())),
    )
    empty = cast(exp.Array(expressions=[]), "ARRAY(BIGINT)")
    series = exp.If(
        this=exp.GT(this=lo.copy(), expression=hi.copy()), true=empty, false=call("flatten", parts)
    )
    bounds = exp.Array(expressions=[call("ROW", a, b)])
    return call("element_at", call("transform", bounds, lam(["_r"], series)), num(1))


def _regex(node: exp.Expression) -> exp.Expression | None:
    """A regex function rewritten (see the module docstring), or None for other nodes."""
    if isinstance(node, exp.RegexpFullMatch):
        return exp.RegexpLike(this=node.this, expression=_anchored(node.expression))
    if isinstance(node, exp.RegexpReplace):
        modifiers = node.args.get("modifiers")
        pattern = node.expression
        if not (isinstance(modifiers, exp.Literal) and "g" in modifiers.this) and not (
            isinstance(pattern, exp.Literal) and pattern.this.startswith("^")
        ):
            raise UnsupportedInDialect("single regex replacement", DIALECT)
        replacement = node.args["replacement"]
        if isinstance(replacement, exp.Literal):
            replacement = lit(java_replacement(replacement.this))
        else:
            raise UnsupportedInDialect("regex replacement computed at query time", DIALECT)
        return call("regexp_replace", node.this, pattern, replacement)
    if isinstance(node, exp.RegexpExtract):
        group = node.args.get("group") or num(0)
        if isinstance(group, exp.Array):
            return call(
                "ROW",
                *[
                    _extract(node.this.copy(), node.expression.copy(), num(i))
                    for i in range(1, len(group.expressions) + 1)
                ],
            )
        return _extract(node.this, node.expression, group)
    return None


def _extract(text: exp.Expression, pattern: exp.Expression, group: exp.Expression):
    """`regexp_extract`, `''` when the pattern or the group does not match (DuckDB's)."""
    found = exp.Coalesce(this=call("regexp_extract", text, pattern, group), expressions=[lit("")])
    return exp.If(
        this=exp.Is(this=text.copy(), expression=exp.Null()), true=exp.Null(), false=found
    )


def _json_text(node: exp.Expression) -> exp.Expression:
    """A value read as JSON: text parsed (Trino's cast would make a JSON string of it)."""
    return call("json_parse", node)


def _json_type(node: exp.JSONType) -> exp.Expression:
    """DuckDB's `json_type(j)` name from the first character of `j`'s JSON text (NULL for
    no JSON, as DuckDB's)."""
    if node.expression is not None:
        raise UnsupportedInDialect("json_type with a path", DIALECT)
    text = call("json_format", node.this)
    head = call("substr", text, num(1), num(1))
    ifs = [exp.If(this=exp.Is(this=head.copy(), expression=exp.Null()), true=exp.Null())]
    ifs += [
        exp.If(this=exp.EQ(this=head.copy(), expression=lit(c)), true=lit(k))
        for c, k in _JSON_KINDS
    ]
    boolean = exp.In(this=head.copy(), expressions=[lit("t"), lit("f")])
    ifs.append(exp.If(this=boolean, true=lit("BOOLEAN")))
    real = exp.RegexpLike(this=text.copy(), expression=lit("[.eE]"))
    ifs.append(exp.If(this=real, true=lit("DOUBLE")))
    return exp.Case(ifs=ifs, default=lit("BIGINT"))


def _json_scalar(node: exp.JSONExtractScalar) -> exp.Expression:
    """`json_extract_scalar(j, path)`; a text `j` is first checked to be JSON (Trino's reader
    of text stops after the first value and passes unknown escapes), `try_cast(v AS JSON)`
    (the lowering's unquoting of logfmt values) is such a text."""
    source = node.this
    if isinstance(source, exp.TryCast) and source.to.is_type("json"):
        text = source.this
        valid = negate(exp.Is(this=call("try", call("json_parse", text)), expression=exp.Null()))
        scalar = call("json_extract_scalar", text.copy(), node.expression)
        return exp.If(this=valid, true=scalar)
    return call("json_extract_scalar", source, node.expression)


def _big_int(node: exp.Literal) -> exp.Expression:
    """An integer literal past BIGINT as a DECIMAL(38, 0) (Trino refuses such literals)."""
    return exp.Cast(this=lit(node.this), to=exp.DataType.build("DECIMAL(38, 0)"))


def _quantile(node: exp.PercentileCont) -> exp.Expression:
    """`quantile_cont(x, q)` over the group: linear interpolation between the closest ranks
    of the sorted non-NULL values (NULL when there are none), as DuckDB's."""
    values = exp.Filter(
        this=call("array_agg", node.this),
        expression=exp.Where(this=negate(exp.Is(this=node.this.copy(), expression=exp.Null()))),
    )
    q = node.expression
    a = col("_qa")
    rank = exp.Mul(
        this=exp.Paren(this=q.copy()),
        expression=exp.Paren(this=exp.Sub(this=call("cardinality", a), expression=num(1))),
    )
    lo = call("floor", rank)
    below = call("element_at", a.copy(), exp.Add(this=cast(lo, "BIGINT"), expression=num(1)))
    above = call(
        "element_at",
        a.copy(),
        call(
            "least",
            exp.Add(this=cast(lo.copy(), "BIGINT"), expression=num(2)),
            call("cardinality", a.copy()),
        ),
    )
    value = exp.Add(
        this=below,
        expression=exp.Mul(
            this=exp.Paren(this=exp.Sub(this=rank.copy(), expression=lo.copy())),
            expression=exp.Paren(this=exp.Sub(this=above, expression=below.copy())),
        ),
    )
    bound = call(
        "transform", exp.Array(expressions=[call("array_sort", values)]), lam(["_qa"], value)
    )
    return call("element_at", bound, num(1))


def _rewrite(node: exp.Expression) -> exp.Expression:  # noqa: C901 - one table of cases
    if isinstance(node, exp.GenerateSeries):
        return _series(node)
    if isinstance(node, exp.TryCast) and _reads_special(node):
        return _special_float(node.this)
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
        return _field(node)
    if isinstance(node, exp.Struct):
        return _row(node)
    if isinstance(node, exp.Bracket) and node.args.get("offset") == 1:
        return _element(node)
    regexed = _regex(node)
    if regexed is not None:
        return regexed
    if isinstance(node, exp.Literal) and node.is_int and int(node.this) not in _INT64:
        return _big_int(node)
    if isinstance(node, exp.Contains):
        return exp.GT(this=call("strpos", node.this, node.expression), expression=num(0))
    if isinstance(node, exp.EndsWith):
        return _ends_with(node.this, node.expression)
    if isinstance(node, exp.Left):
        return call("substr", node.this, num(1), node.expression)
    if isinstance(node, exp.Repeat):
        return call("array_join", call("repeat", node.this, node.args["times"]), lit(""))
    if isinstance(node, exp.SplitPart):
        part = call("split_part", node.this, node.args["delimiter"], node.args["part_index"])
        return exp.If(
            this=exp.Is(this=node.this.copy(), expression=exp.Null()),
            true=exp.Null(),
            false=exp.Coalesce(this=part, expressions=[lit("")]),
        )
    if isinstance(node, exp.PercentileCont):
        return _quantile(node)
    if isinstance(node, exp.JSONType):
        return _json_type(node)
    if isinstance(node, exp.JSONExtractScalar):
        return _json_scalar(node)
    if isinstance(node, exp.JSONKeys):
        raise UnsupportedInDialect("json_keys", DIALECT)
    if type(node) is exp.Cast and node.to.is_type("json"):
        return _json_text(node.this)
    if type(node) is exp.Cast and node.to.is_type("varchar", "text") and _is_json(node.this):
        return _json_as_text(node.this)
    if not isinstance(node, exp.Anonymous):
        return node
    name, args = node.name.lower(), node.expressions
    if name == "strlen":
        return call("length", call("to_utf8", *args))
    if name == "list_position":
        return exp.Nullif(this=call("array_position", *args), expression=num(0))
    if name == "list_sum":
        add = exp.Add(this=col("_a"), expression=exp.Coalesce(this=col("_x"), expressions=[num(0)]))
        return call(
            "reduce",
            args[0],
            cast(num(0), "DECIMAL(38, 0)"),
            lam(["_a", "_x"], add),
            lam(["_a"], col("_a")),
        )
    if name == "fmod":
        return call("mod", *args)
    if name == "json_valid":
        return negate(exp.Is(this=call("try", call("json_parse", *args)), expression=exp.Null()))
    if name in _UNSUPPORTED:
        raise UnsupportedInDialect(name, DIALECT)
    return node


# DuckDB functions the lowering may call that have no Trino form here.
_UNSUPPORTED = ("json_tree", "list_reduce", "signbit", "epoch_ns", "get_current_timestamp")


def _reads_special(node: exp.TryCast) -> bool:
    """Whether `node` is `go_float`'s cast of `inf`, `infinity` or `nan` (any case, the
    infinities signed): DuckDB's cast reads these spellings, Trino's only `Infinity`, `NaN`."""
    branch = node.parent
    return (
        node.to.is_type("double")
        and isinstance(branch, exp.If)
        and isinstance(branch.this, exp.RegexpLike)
        and branch.this.expression == lit(GO_SPECIAL)
    )


def _special_float(text: exp.Expression) -> exp.Expression:
    """The value of a text `go_float` found special: NaN, or an infinity with its sign."""
    nan = exp.EQ(this=call("lower", text), expression=lit("nan"))
    negative = exp.StartsWith(this=text.copy(), expression=lit("-"))
    return exp.Case(
        ifs=[
            exp.If(this=nan, true=call("nan")),
            exp.If(this=negative, true=exp.Neg(this=call("infinity"))),
        ],
        default=call("infinity"),
    )


def _json_as_text(value: exp.Expression) -> exp.Expression:
    """A JSON value's text: a scalar's as written in the document (`json_extract_scalar` of
    the text; `json_format` would print `41.50` as `4.15E1`), an object's or array's
    `json_format`."""
    if isinstance(value, exp.JSONExtract):
        scalar = call("json_extract_scalar", value.this.copy(), value.expression.copy())
        return exp.Coalesce(this=scalar, expressions=[call("json_format", value)])
    return call("json_format", value)


def _is_json(node: exp.Expression) -> bool:
    """Whether `node` is a JSON value as rewritten (`json_extract`, `json_parse`)."""
    if isinstance(node, exp.JSONExtract):
        return True
    return isinstance(node, exp.Anonymous) and node.name.lower() in ("json_parse", "json_extract")


def _ends_with(text: exp.Expression, tail: exp.Expression) -> exp.Expression:
    start = call(
        "greatest",
        exp.Add(
            this=exp.Sub(this=call("length", text), expression=call("length", tail)),
            expression=num(1),
        ),
        num(1),
    )
    return exp.EQ(this=call("substr", text.copy(), start), expression=tail.copy())


def _lateral_unnests(select: exp.Select) -> None:
    """Move `UNNEST(list) AS t` from `select`'s list into a `CROSS JOIN UNNEST` (Trino reads
    UNNEST only as a relation). DuckDB unnests the rows the `FROM` and `WHERE` give, as
    the join does; beside an aggregation DuckDB would unnest after it, so that is refused."""
    projections = list(select.expressions)
    for i, projection in enumerate(projections):
        target = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(target, exp.Unnest):
            continue
        if select.args.get("group") or any(
            isinstance(e, exp.AggFunc | exp.Window) for p in projections for e in p.walk()
        ):
            raise UnsupportedInDialect("UNNEST beside an aggregation", DIALECT)
        alias = target.args.get("alias")
        if isinstance(projection, exp.Alias):
            name = projection.alias
        elif alias is not None:
            columns = alias.args.get("columns") if isinstance(alias, exp.TableAlias) else None
            name = columns[0].name if columns else alias.name
        else:
            name = f"_u{i}"
        relation = exp.Unnest(
            expressions=target.expressions,
            alias=exp.TableAlias(
                this=exp.to_identifier(f"_u{i}"), columns=[exp.to_identifier(name)]
            ),
        )
        projections[i] = exp.column(name, table=f"_u{i}")
        if select.args.get("from") or select.args.get("from_"):
            select.join(relation, join_type="CROSS", copy=False)
        else:
            select.from_(relation, copy=False)
        select.set("expressions", projections)


def adapt(select: exp.Expression) -> exp.Expression:
    """The lowered query rewritten for Trino (see the module docstring), in place.

    Nodes are rewritten children first (`sqlbuild.rewrite_bottom_up`).
    """
    select = rewrite_bottom_up(select, _rewrite)
    for query in list(select.find_all(exp.Select)):
        _lateral_unnests(query)
    return select
