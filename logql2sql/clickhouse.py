"""ClickHouse SQL lowering: rewrites a lowered query so that ClickHouse (26.x) computes what
DuckDB does.

Lowering builds SQL with DuckDB's function names; sqlglot's ClickHouse generator maps some
of them. `adapt(select)` rewrites the rest before the SQL is printed, keeping Loki's meaning.
The SQL needs no session settings; it reads the `source` relation with the entry schema,
label maps `Map(String, Nullable(String))` or `Map(String, String)` (both work: a lookup of
an absent key is NULL either way, see below).

- Structs: the lowering's structs are pairs (`{key, value}` entries of a map, `{k, v}` pair
  lists, `{q, u}` logfmt scan results). ClickHouse names tuple elements only under a setting,
  so they become positional `tuple(a, b)` and a field access `x.key` is `tupleElement(x, 1)`.
- Maps: `map_entries(m)` is `arrayZip(mapKeys(m), mapValues(m))`, `map_from_entries(l)` is
  `mapFromArrays` of the pairs' elements, `map(keys, values)` is `mapFromArrays`,
  `map_concat(a, b)` is `mapUpdate(a, b)` (the last value of a duplicate key wins, as in
  DuckDB; ClickHouse's `mapConcat` keeps both entries), `m['k']` is
  `if(mapContains(m, 'k'), m['k'], NULL)` (ClickHouse answers the type's default value,
  `''`, for an absent key of a non-Nullable map).
- Lists: 1-based indexes are `arrayElementOrNull` (NULL out of range, as in DuckDB, where
  ClickHouse's `x[i]` gives the default value), `list_position` is `indexOf` with 0 as NULL,
  `list_sum` is `arraySum`, `list_sort` is `arraySort` (tuples order as DuckDB's structs).
- `UNNEST(generate_series(a, b, s)) AS t` (inclusive) is `arrayJoin(range(a, b + 1, s)) AS t`
  (empty when `a > b`, as DuckDB's).
- Regexes: ClickHouse uses RE2 as Loki and DuckDB do, but lets `.` match `\\n`: every
  pattern starts with `(?-s)`. `regexp_full_match` is `match` anchored at both ends of the
  text (`^(?:…)\\z`); `regexp_extract` is `regexpExtract` (a list of group names: a tuple of
  groups), `regexp_extract_all` is `extractAllGroups`, `regexp_replace` is
  `replaceRegexpOne`/`replaceRegexpAll` (`g`); RE2 replacement strings (`\\1`) are
  ClickHouse's.
- Text: `lower`/`upper`/`left`/`substr`/`strpos` are their UTF-8 forms (DuckDB counts
  characters), `strlen` (bytes) is `length`, `split_part` indexes `splitByString`,
  `encode` (to bytes) is dropped (a String is its bytes).
- Numbers: `fmod` is `%` on doubles (C's remainder, as DuckDB's), `TRY_CAST` is
  `accurateCastOrNull`, `isnan` is `isNaN`, `quantile_cont` is `quantileExactInclusive`
  (linear interpolation between closest ranks), `var_pop`/`stddev_pop`
  `varPopStable`/`stddevPopStable` (NaN from NaN or infinite inputs, as DuckDB's).
  `lag` is `lagInFrame` over the whole preceding frame, NULL before the first row.
- Errors: a query error (`error(msg)`, `throwIf`) is `throwIf(1, msg)` when the message is a
  constant; ClickHouse's `throwIf` takes only constant messages, so a message built from the
  row (Loki's `pipeline error: … for series: {…}`) is raised by parsing it as an integer
  (`toInt8(msg)`), whose exception quotes the message in full (`raised_message` reads it
  back). The raising call itself tests that its branch is taken (`_guard`): ClickHouse may
  evaluate a `CASE` branch for rows that do not take it.
- JSON (the `json` parser with parameters, `unpack`, logfmt's unquoting): a JSON value is its
  text; `json_valid` is `isValidJSON`, `json_type` is `JSONType` with DuckDB's type names,
  `json_extract(j, '$."a"[0]')` is `JSONExtractRaw(j, 'a', 1)` (NULL when absent, minified
  text as DuckDB prints it), `json_extract_scalar` unquotes a string (NULL for no JSON),
  `json_keys` is `JSONExtractKeys`.
- Subqueries: a correlated `EXISTS (… WHERE a.x = outer.x AND …)` (vector `and`/`unless`/
  `or`, `absent_over_time`) is the uncorrelated `(outer.x, …) IN (SELECT a.x, … )`.
- Names: ClickHouse resolves a name to an alias of the same `SELECT` before a column of
  its `FROM`, DuckDB to the column; such columns are qualified with their table (`_qualify`).

Constructs with no faithful ClickHouse form raise `UnsupportedInDialect`: a regex or JSON path
computed at query time, other correlated subqueries, struct fields other than the pairs'.
The lowering itself refuses the `json` parser without parameters and `ip()` for ClickHouse.
Known limit: ClickHouse 26.9 runs out of memory on a chain of four or more numeric
label filters after a parser (`| logfmt | a > 1 | b > 1 | c > 1 | d > 1`): each filter's
layer names the previous layer's label map several times, and ClickHouse expands them.
"""

from __future__ import annotations

import re

from sqlglot import exp

from logql2sql.errors import UnsupportedInDialect
from logql2sql.sqlbuild import col, lam, lit, negate, num, rewrite_bottom_up

DIALECT = "clickhouse"
_LABEL_MAP = "Map(String, Nullable(String))"

# JSON value types: ClickHouse's `JSONType` names, DuckDB's `json_type` names.
_JSON_TYPES = [
    ("Object", "OBJECT"),
    ("Array", "ARRAY"),
    ("String", "VARCHAR"),
    ("Null", "NULL"),
    ("Bool", "BOOLEAN"),
    ("Int64", "BIGINT"),
    ("UInt64", "UBIGINT"),
    ("Double", "DOUBLE"),
]

# Positions of the fields of the lowering's pair structs (see the module docstring).
_FIELDS = {"key": 1, "value": 2, "k": 1, "v": 2, "q": 1, "u": 2}

_RENAMED = {
    "isnan": "isNaN",
    "list_reverse": "arrayReverse",
    "strlen": "length",
}

_TYPES = {
    exp.Lower: "lowerUTF8",
    exp.Upper: "upperUTF8",
    exp.Left: "leftUTF8",
    exp.Substring: "substringUTF8",
    exp.StrPosition: "positionUTF8",
    exp.IsNan: "isNaN",
    exp.MapKeys: "mapKeys",
    # The `Stable` forms, as DuckDB's: NaN from NaN or infinite inputs (`varPop` gives 0).
    exp.VariancePop: "varPopStable",
    exp.StddevPop: "stddevPopStable",
}


_PARSE_FAILURE = re.compile(r"Cannot parse string '((?:[^'\\]|\\.)*)' as Int8")
_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "0": "\0"}


def raised_message(error: str) -> str | None:
    r"""The message of a query error raised by the SQL (see the module docstring), read
    back from the text of ClickHouse's exception; None when the exception is another.

    >>> raised_message(r"Code: 6. DB::Exception: Cannot parse string 'a \'b\'\nc' as Int8: x")
    "a 'b'\nc"
    """
    found = _PARSE_FAILURE.search(error)
    if found is None:
        return None
    return re.sub(r"\\(.)", lambda m: _UNESCAPE.get(m.group(1), m.group(1)), found.group(1))


def call(name: str, *args: exp.Expression) -> exp.Expression:
    """A ClickHouse function call, printed as named."""
    return exp.Anonymous(this=name, expressions=list(args))


def regex(pattern: str) -> str:
    """An RE2 pattern as ClickHouse must be given it to match what RE2 matches in Go.

    >>> regex("a.b")
    '(?-s)a.b'
    """
    return "(?-s)" + pattern


def _literal_regex(node: exp.Expression, wrap=lambda p: p) -> exp.Expression:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedInDialect("regex computed at query time", DIALECT)
    return lit(regex(wrap(node.this)))


def _field(node: exp.Dot) -> exp.Expression:
    name = node.expression.name
    if name not in _FIELDS:
        raise UnsupportedInDialect(f"struct field {name}", DIALECT)
    return call("tupleElement", node.this, num(_FIELDS[name]))


def _tuple(node: exp.Struct) -> exp.Expression:
    values = []
    for i, field in enumerate(node.expressions, start=1):
        if not isinstance(field, exp.PropertyEQ) or _FIELDS.get(field.this.name) != i:
            raise UnsupportedInDialect("struct", DIALECT)
        values.append(field.expression)
    return call("tuple", *values)


def _entries_of(node: exp.Expression) -> exp.Expression | None:
    """The map `m` when `node` is `map_entries(m)` as rewritten, else None."""
    if isinstance(node, exp.Anonymous) and node.name == "arrayZip":
        keys = node.expressions[0]
        if isinstance(keys, exp.Anonymous) and keys.name == "mapKeys":
            return keys.expressions[0]
    return None


def _pairs(entries: exp.Expression) -> exp.Expression:
    """`mapFromArrays` of a list of (key, value) tuples; a map's own entries, sorted or not,
    are `mapSort` of the map or the map itself."""
    same = _entries_of(entries)
    if same is not None:
        return same
    if isinstance(entries, exp.Anonymous) and entries.name == "arraySort":
        sorted_map = _entries_of(entries.expressions[0])
        if sorted_map is not None:
            return call("mapSort", sorted_map)
    keys = call("arrayMap", lam(["_e"], call("tupleElement", col("_e"), num(1))), entries)
    values = call("arrayMap", lam(["_e"], call("tupleElement", col("_e"), num(2))), entries.copy())
    return call("mapFromArrays", keys, values)


def _series(node: exp.GenerateSeries) -> exp.Expression:
    """`generate_series(a, b, s)` (inclusive) or `range(a, b, s)` as ClickHouse's `range`
    (end exclusive; empty when `a > b`, as DuckDB's)."""
    end = node.args["end"]
    if not node.args.get("is_end_exclusive"):
        end = exp.Add(this=exp.Paren(this=end), expression=num(1))
    return call("range", node.args["start"], end, node.args.get("step") or num(1))


def _unnest(node: exp.Unnest) -> exp.Expression:
    """`UNNEST(list) AS t` in a select list as `arrayJoin(list) AS t`."""
    joined = call("arrayJoin", node.expressions[0])
    alias = node.args.get("alias")
    return joined if alias is None else joined.as_(alias.name, copy=False)


def _raise(message: exp.Expression) -> exp.Expression:
    """An unconditional query error; `_guard` makes it conditional in a `CASE` branch."""
    if not any(isinstance(n, exp.Column) for n in message.walk()):
        return call("throwIf", exp.true(), message)
    return call("toInt8", message)


def _raised(node: exp.Expression) -> exp.Anonymous | None:
    """The raising call of a branch's value (`_raise`, possibly cast), else None."""
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    if isinstance(node, exp.Anonymous) and node.name in ("throwIf", "toInt8"):
        return node
    return None


def _guard(case: exp.Case) -> exp.Case:
    """The errors raised in `case`'s branches, raised only when their branch is taken.

    ClickHouse may evaluate a branch for rows that do not take it (a filter pushed down into
    the Parquet reader is evaluated without short-circuiting), so the raising call itself
    tests that the branch is taken: `throwIf(taken, msg)`, `toInt8(if(taken, msg, '0'))`.
    """
    if case.this is not None:  # `CASE x WHEN v …`: the lowering builds none
        return case
    earlier: list[exp.Expression] = []
    branches = [(b.this, b.args.get("true")) for b in case.args.get("ifs") or []]
    default = case.args.get("default")
    for cond, value in [*branches, (None, default)]:
        taken = (
            exp.and_(
                *[negate(call("ifNull", c.copy(), exp.false())) for c in earlier],
                *([call("ifNull", cond.copy(), exp.false())] if cond is not None else []),
                copy=False,
            )
            if earlier or cond is not None
            else exp.true()
        )
        raising = _raised(value) if value is not None else None
        if raising is not None and raising.name == "throwIf":
            raising.set("expressions", [taken, raising.expressions[1]])
        elif raising is not None:
            message = call("if", taken, raising.expressions[0], lit("0"))
            raising.set("expressions", [message])
        if cond is not None:
            earlier.append(cond)
    return case


def _regex_node(node: exp.Expression) -> exp.Expression | None:
    """A regex function rewritten (see the module docstring), or None for other nodes."""
    if isinstance(node, exp.RegexpFullMatch):
        pattern = _literal_regex(node.expression, lambda p: f"^(?:{p})\\z")
        return call("match", node.this, pattern)
    if isinstance(node, exp.RegexpLike):
        return call("match", node.this, _literal_regex(node.expression))
    if isinstance(node, exp.RegexpExtract):
        pattern = _literal_regex(node.expression)
        group = node.args.get("group") or num(0)
        if isinstance(group, exp.Array):
            return call(
                "tuple",
                *[
                    call("regexpExtract", node.this.copy(), pattern.copy(), num(i))
                    for i in range(1, len(group.expressions) + 1)
                ],
            )
        return call("regexpExtract", node.this, pattern, group)
    if isinstance(node, exp.RegexpExtractAll):
        group = node.args.get("group") or num(0)
        if not isinstance(group, exp.Literal):
            raise UnsupportedInDialect("regex group computed at query time", DIALECT)
        text = node.expression
        index = int(group.this)
        if index == 0:
            text = lit(f"({text.this})") if isinstance(text, exp.Literal) else text
            index = 1
        groups = call("extractAllGroups", node.this, _literal_regex(text))
        return call("arrayMap", lam(["_g"], call("arrayElement", col("_g"), num(index))), groups)
    if isinstance(node, exp.RegexpReplace):
        modifiers = node.args.get("modifiers")
        glob = isinstance(modifiers, exp.Literal) and "g" in modifiers.this
        name = "replaceRegexpAll" if glob else "replaceRegexpOne"
        return call(name, node.this, _literal_regex(node.expression), node.args["replacement"])
    return None


def _rewrite(node: exp.Expression) -> exp.Expression:  # noqa: C901 - one table of cases
    if isinstance(node, exp.GenerateSeries):
        return _series(node)
    if isinstance(node, exp.Encode):  # a String is its bytes already (`hex` reads them)
        return node.this
    if isinstance(node, exp.Unnest) and len(node.expressions) == 1:
        return _unnest(node)
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
        return _field(node)
    if isinstance(node, exp.Struct):
        return _tuple(node)
    if isinstance(node, exp.Bracket) and node.args.get("offset") == 1:
        key = node.expressions[0]
        if isinstance(key, exp.Literal) and key.is_string:
            lookup = exp.Bracket(this=node.this.copy(), expressions=[key.copy()])
            return call("if", call("mapContains", node.this, key), lookup, exp.Null())
        return call("arrayElementOrNull", node.this, key)
    regexed = _regex_node(node)
    if regexed is not None:
        return regexed
    if isinstance(node, exp.Case):
        return _guard(node)
    if isinstance(node, exp.ArraySort):
        descending = node.args.get("asc") == exp.false()
        return call("arrayReverseSort" if descending else "arraySort", node.this)
    if isinstance(node, exp.MapFromEntries):
        return _pairs(node.this)
    if isinstance(node, exp.Map):
        keys, values = node.args.get("keys"), node.args.get("values")
        if keys is None:
            return call("map")
        return call("mapFromArrays", keys, values)
    if isinstance(node, exp.JSONExtractScalar):
        return _json_scalar(node)
    if isinstance(node, exp.JSONExtract):
        return _json_extract(node)
    if isinstance(node, exp.JSONType):
        kinds = [
            exp.Array(expressions=[lit(k) for k in names])
            for names in zip(*_JSON_TYPES, strict=True)
        ]
        steps = _path_steps(node.expression)
        return call("transform", call("JSONType", node.this, *steps), *kinds, lit(""))
    if isinstance(node, exp.Cast) and node.to.is_type("json"):
        return node.this  # JSON is its text here (`_json_extract`)
    if isinstance(node, exp.TryCast):
        if node.to.is_type("json"):
            return node  # read by its `JSONExtractScalar` (`_unquote`)
        return call("accurateCastOrNull", node.this, lit(_type_name(node.to)))
    if isinstance(node, exp.PercentileCont):
        return _quantile(node)
    if isinstance(node, exp.SplitPart):
        parts = call("splitByString", node.args["delimiter"], node.this)
        return call("arrayElement", parts, node.args["part_index"])
    if (
        isinstance(node, exp.Window)
        and isinstance(node.this, exp.Anonymous)
        and node.this.name.lower() == "lag"
    ):
        return _lag(node)
    for kind, name in _TYPES.items():
        if type(node) is kind:
            return call(name, *[a for a in node.args.values() if isinstance(a, exp.Expression)])
    if isinstance(node, exp.JSONKeys) and node.expression is None:
        # ClickHouse has no Nullable arrays: the keys of NULL (no JSON) are none.
        return call("JSONExtractKeys", call("ifNull", node.this, lit("")))
    if isinstance(node, exp.Exists):
        return _exists(node)
    if not isinstance(node, exp.Anonymous):
        return node
    name, args = node.name.lower(), node.expressions
    if name in _RENAMED:
        return call(_RENAMED[name], *args)
    if name == "map_entries":
        return call("arrayZip", call("mapKeys", args[0]), call("mapValues", args[0].copy()))
    if name == "map_concat":
        merged = _label_map(args[0])
        for later in args[1:]:
            merged = call("mapUpdate", merged, _label_map(later))
        return merged
    if name == "list_sum":
        # NULL elements count as nothing, as in DuckDB; `arraySum` refuses Nullable decimals.
        zeroed = lam(["_x"], call("ifNull", col("_x"), num(0)))
        return call("arraySum", zeroed, args[0])
    if name == "list_position":
        return call("nullIf", call("indexOf", *args), num(0))
    if name == "fmod":
        return exp.Paren(this=exp.Mod(this=args[0], expression=args[1]))
    if name == "error":
        return _raise(args[0])
    if name == "throwif" and len(args) == 2:
        return _raise(args[1])
    if name == "json_valid":
        return call("isValidJSON", *args)
    return node


def _exists(node: exp.Exists) -> exp.Expression:
    """A correlated `EXISTS (SELECT 1 FROM r AS a WHERE a.x = outer_x AND …)` as the
    uncorrelated `(outer_x, …) IN (SELECT a.x, … FROM r AS a)` (ClickHouse runs correlated
    subqueries only under an experimental setting). The compared values are never NULL
    here (times and label maps), so both read the same rows."""
    inner = node.this
    source = inner.args.get("from") or inner.args.get("from_")
    where = inner.args.get("where")
    if (
        not isinstance(inner, exp.Select)
        or source is None
        or where is None
        or inner.args.get("joins")
    ):
        raise UnsupportedInDialect("correlated subquery", DIALECT)
    alias = source.this.alias_or_name
    outer_side, inner_side = [], []
    for eq in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if not isinstance(eq, exp.EQ):
            raise UnsupportedInDialect("correlated subquery", DIALECT)
        sides = [eq.this, eq.expression]
        # Qualified columns only: a lambda's parameters have no table.
        tables = [{c.table for c in side.find_all(exp.Column) if c.table} for side in sides]
        if alias in tables[0] or tables[1] - {alias}:
            sides.reverse()
            tables.reverse()
        if alias in tables[0] or tables[1] - {alias}:
            raise UnsupportedInDialect("correlated subquery", DIALECT)
        outer_side.append(sides[0])
        inner_side.append(sides[1])
    probe = outer_side[0] if len(outer_side) == 1 else exp.Tuple(expressions=outer_side)
    values = exp.select(*inner_side, copy=False).from_(source.this, copy=False)
    return exp.In(this=probe, query=values.subquery(copy=False))


def _type_name(to: exp.DataType) -> str:
    """A type as ClickHouse names it, without the `Nullable` sqlglot adds to casts."""
    name = to.sql(dialect=DIALECT)
    return name[len("Nullable(") : -1] if name.startswith("Nullable(") else name


def _label_map(node: exp.Expression) -> exp.Expression:
    """A label map typed `Map(String, Nullable(String))`: `mapUpdate` needs equal types."""
    return exp.Cast(this=node, to=exp.DataType.build(_LABEL_MAP, dialect=DIALECT))


def _path_steps(path: exp.Expression | None) -> list[exp.Expression]:
    """The keys and 1-based indexes of a JSONPath as the lowering writes them: parsed
    (`$."a"[0]`), a literal `$` or `$.name`, or `'$."' || key || '"'` (a computed key)."""
    if path is None or isinstance(path, exp.Literal) and path.this == "$":
        return []
    if isinstance(path, exp.Literal) and re.fullmatch(r"\$\.[A-Za-z_][A-Za-z0-9_]*", path.this):
        return [lit(path.this[2:])]
    if (
        isinstance(path, exp.DPipe)
        and path.this == lit('$."')
        and isinstance(path.expression, exp.DPipe)
        and path.expression.expression == lit('"')
    ):
        return [path.expression.this]
    if not isinstance(path, exp.JSONPath) or not isinstance(path.expressions[0], exp.JSONPathRoot):
        raise UnsupportedInDialect("JSON path", DIALECT)
    steps: list[exp.Expression] = []
    for step in path.expressions[1:]:
        if isinstance(step, exp.JSONPathKey) and isinstance(step.this, str):
            steps.append(lit(step.this))
        elif isinstance(step, exp.JSONPathSubscript) and isinstance(step.this, int):
            steps.append(num(step.this + 1))  # ClickHouse counts from 1
        else:
            raise UnsupportedInDialect("JSON path", DIALECT)
    return steps


def _json_extract(node: exp.JSONExtract) -> exp.Expression:
    """`json_extract(j, '$."a"[0]')` as `JSONExtractRaw(j, 'a', 1)`: the value's JSON text
    (minified, numbers as DuckDB prints them), NULL when absent (`JSONExtractRaw` gives '')."""
    steps = _path_steps(node.expression)
    return call("nullIf", call("JSONExtractRaw", node.this, *steps), lit(""))


def _json_scalar(node: exp.JSONExtractScalar) -> exp.Expression:
    """`json_extract_scalar(j, path)`: a JSON string's text, any other JSON value's text,
    NULL when absent or when `j` is no JSON. `j` may be `try_cast(v AS JSON)`, as the
    lowering unquotes logfmt values."""
    text = node.this
    if isinstance(text, exp.TryCast) and text.to.is_type("json"):
        text = text.this
    steps = _path_steps(node.expression)
    if steps:
        text = call("nullIf", call("JSONExtractRaw", text, *steps), lit(""))
    is_string = exp.EQ(this=call("JSONType", text.copy()), expression=lit("String"))
    value = call("if", is_string, call("JSONExtractString", text.copy()), text.copy())
    return call("if", call("isValidJSON", text), value, exp.Null())


def _quantile(node: exp.PercentileCont) -> exp.Expression:
    """`quantile_cont(x, q)` as ClickHouse's parametric `quantileExactInclusive(q)(x)`."""
    return exp.Anonymous(
        this=f"quantileExactInclusive({node.expression.sql(dialect=DIALECT)})",
        expressions=[node.this],
    )


def _lag(node: exp.Window) -> exp.Expression:
    """`lag(x) OVER (...)` as `lagInFrame`, NULL before the partition's first row."""
    args = node.this.expressions
    value = call("toNullable", args[0])
    offset = args[1] if len(args) > 1 else num(1)
    node.set("this", call("lagInFrame", value, offset, exp.Null()))
    node.set(
        "spec",
        exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
    )
    return node


def _scope_columns(select: exp.Select):
    """The columns of `select`'s own scope (not of nested queries), lambda parameters out."""
    roots = [v for k, v in select.args.items() if k not in ("from", "from_", "joins", "with")]
    stack: list = [(root, frozenset()) for root in roots]
    while stack:
        node, bound = stack.pop()
        if isinstance(node, list):
            stack.extend((n, bound) for n in node)
        elif isinstance(node, exp.Subquery | exp.Select):
            continue
        elif isinstance(node, exp.Lambda):
            stack.append((node.this, bound | {p.name for p in node.expressions}))
        elif isinstance(node, exp.Column):
            if node.table or node.name not in bound:
                yield node
        elif isinstance(node, exp.Expression):
            stack.extend((v, bound) for v in node.args.values())


def _qualify(select: exp.Select) -> None:
    """Qualify the columns that a select-list alias of the same `SELECT` would shadow.

    ClickHouse resolves a name to an alias of the same `SELECT` before a column of the
    `FROM` (in the select list, `WHERE`, `GROUP BY`), DuckDB to the column; `ORDER BY`
    reads the alias in both.
    """
    source = select.args.get("from") or select.args.get("from_")
    if source is None or select.args.get("joins") or not source.this.alias_or_name:
        return
    shadowing = {
        e.alias
        for e in select.expressions
        if isinstance(e, exp.Alias)
        and not (isinstance(e.this, exp.Column) and e.this.name == e.alias)
    }
    if not shadowing:
        return
    table = source.this.alias_or_name
    order = select.args.get("order")
    for column in list(_scope_columns(select)):
        if column.table or column.name not in shadowing:
            continue
        if _under(column, order):
            continue
        column.set("table", exp.to_identifier(table))


def _under(node: exp.Expression, ancestor: exp.Expression | None) -> bool:
    """Whether `node` is `ancestor` or sits below it."""
    while ancestor is not None and node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def adapt(select: exp.Expression) -> exp.Expression:
    """The lowered query rewritten for ClickHouse (see the module docstring), in place.

    Nodes are rewritten children first (`sqlbuild.rewrite_bottom_up`).
    """
    select = rewrite_bottom_up(select, _rewrite)
    for query in list(select.find_all(exp.Select)):
        _qualify(query)
    return select
