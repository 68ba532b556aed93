"""Small builders for sqlglot expressions, so lowering code reads like the SQL it makes.

Expressions are built with DuckDB's function names (`exp.func(..., dialect="duckdb")`), which
sqlglot maps to typed nodes where it knows them; other dialects are produced by sqlglot's
generators from those nodes. User strings only enter through `lit` (a SQL string literal)
and label names only through `lit` too (they are map keys, never identifiers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from logql2sql.lexical import GO_ESCAPES
from logql2sql.symbolic import Symbol

# Builders pass `copy=False`: every tree here is built fresh for one query, and copying
# arguments at each level made translation quadratic in the depth of the SQL.
_DUCKDB = Dialect.get_or_raise("duckdb")


def lit(value: str) -> exp.Expression:
    """A SQL string literal."""
    return exp.Literal.string(value)


def num(value: float | int | Symbol) -> exp.Expression:
    """A SQL numeric literal (negative numbers as unary minus); a symbolic query time
    becomes its marker (see `symbolic`)."""
    if isinstance(value, Symbol):
        return value.literal()
    if isinstance(value, float) and value != value:  # NaN
        return cast(lit("NaN"), "DOUBLE")
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return cast(lit("Infinity" if value > 0 else "-Infinity"), "DOUBLE")
    if value < 0:
        return exp.Neg(
            this=exp.Literal.number(repr(-value) if isinstance(value, float) else -value)
        )
    return exp.Literal.number(repr(value) if isinstance(value, float) else value)


@functools.lru_cache(maxsize=256)
def _table(name: str) -> exp.Table:
    parsed = exp.to_table(name)
    for node in parsed.walk():
        node._meta = None  # the parser's source positions: copying them costs, nothing reads them
    return parsed


def table(name: str) -> exp.Table:
    """A table reference (`name` may be qualified, `db.logs`), parsed once per name."""
    return _table(name).copy()


def col(name: str, table: str | None = None) -> exp.Column:
    """A column reference."""
    if table is None:  # an absent argument, not a None one: half the construction cost
        return exp.Column(this=ident(name))
    return exp.Column(this=ident(name), table=ident(table))


@functools.lru_cache(maxsize=4096)
def _quoted(name: str) -> bool:
    return not exp.SAFE_IDENTIFIER_RE.match(name)


def ident(name: str) -> exp.Identifier:
    """An identifier, quoted when it needs to be (as `exp.to_identifier` decides)."""
    return exp.Identifier(this=name, quoted=_quoted(name))


@functools.cache
def _builder(name: str) -> Callable | None:
    """DuckDB's parser's builder of the function `name` (None: an anonymous function)."""
    return _DUCKDB.parser_class.FUNCTIONS.get(name.upper())


_WITH_DIALECT: set[str] = set()
"""Names whose builder takes the dialect (sqlglot finds out by a TypeError each call)."""


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    """A function call by its DuckDB name: the node `exp.func(name, *args, dialect="duckdb")`
    builds, with the builder looked up once per name (`exp.func` resolves it, and tries the
    builder without the dialect, on every call: twice the cost of the node itself)."""
    build = _builder(name)
    if not args or not all(isinstance(a, exp.Expression) for a in args):
        return exp.func(name, *args, dialect=_DUCKDB, copy=False)
    if build is None:
        return exp.Anonymous(this=name, expressions=list(args))
    if name not in _WITH_DIALECT:
        try:
            return build(list(args))
        except TypeError:
            _WITH_DIALECT.add(name)
    return build(list(args), dialect=_DUCKDB)


@functools.cache
def _data_type_args(name: str) -> tuple[exp.DataType, dict | None]:
    """The type `name` in DuckDB's spelling, and its arguments when it holds no nodes (a
    fresh node built from them costs a third of a copy)."""
    built = exp.DataType.build(name, dialect=_DUCKDB)
    for node in built.walk():
        node._meta = None  # the parser's source positions (in `DECIMAL(18, 9)`): see _table
    flat = not any(isinstance(v, (exp.Expr, list)) for v in built.args.values())
    return built, dict(built.args) if flat else None


def _data_type(name: str) -> exp.DataType:
    built, args = _data_type_args(name)
    return built.copy() if args is None else exp.DataType(**args)


def cast(value: exp.Expression, to: str) -> exp.Cast:
    """`CAST(value AS to)`, `to` in DuckDB's spelling."""
    return exp.Cast(this=value, to=_data_type(to))


def try_cast(value: exp.Expression, to: str) -> exp.TryCast:
    """`TRY_CAST(value AS to)` (NULL where the cast fails), `to` in DuckDB's spelling."""
    return exp.TryCast(this=value, to=_data_type(to), safe=True)


def lam(params: list[str], body: exp.Expression) -> exp.Lambda:
    """A lambda `params -> body`."""
    return exp.Lambda(this=body, expressions=[exp.to_identifier(p) for p in params])


def negate(condition: exp.Expression) -> exp.Not:
    """`NOT condition`, an AND/OR condition in parentheses: sqlglot prints the `exp.Not` of
    a connector bare (`NOT a OR b`, which negates `a` alone)."""
    if isinstance(condition, exp.Connector):
        condition = exp.Paren(this=condition)
    return exp.Not(this=condition)


def let(value: exp.Expression, name: str, body: exp.Expression) -> exp.Expression:
    """`body` with `name` bound to `value`, which is evaluated once.

    A one-element `list_transform`: the engine's common-subexpression pass would hoist a
    repeated expression out of the CASE branch holding it and run it for every row. It
    allocates a list per row: for rarely taken branches.
    """
    return item(fn("list_transform", exp.Array(expressions=[value]), lam([name], body)), 1)


def get(mapping: exp.Expression, key: str) -> exp.Expression:
    """`mapping[key]`: the value, NULL when the key is absent.

    The subscript is marked as written for DuckDB (`offset=1`, as `item`'s): a map key is
    no list index, and without the mark sqlglot's generator infers the types of both sides
    on every print to find out (an eighth of a cold translation)."""
    return exp.Bracket(this=mapping, expressions=[lit(key)], offset=1)


def item(values: exp.Expression, index: int | exp.Expression) -> exp.Expression:
    """`values[index]` with a 1-based index (SQL's convention, whatever the dialect); NULL
    when out of range."""
    position = num(index) if isinstance(index, int) else index
    return exp.Bracket(this=values, expressions=[position], offset=1)


def entry(key: exp.Expression, value: exp.Expression) -> exp.Expression:
    """A `{key, value}` struct, the element type of a map's entry list."""
    return exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier("key"), expression=key),
            exp.PropertyEQ(this=exp.to_identifier("value"), expression=value),
        ]
    )


def array(*items: exp.Expression) -> exp.Expression:
    """A list literal."""
    return exp.Array(expressions=list(items))


def empty_map() -> exp.Expression:
    """An empty VARCHAR→VARCHAR map."""
    return cast(fn("map"), "MAP(VARCHAR, VARCHAR)")


def canonical(mapping: exp.Expression) -> exp.Expression:
    """The map with its entries sorted by key, so equal label sets compare equal."""
    return fn("map_from_entries", fn("list_sort", fn("map_entries", mapping)))


def map_without(mapping: exp.Expression, names: list[str]) -> exp.Expression:
    """The map without the given keys (entry order kept)."""
    if not names:
        return mapping
    keep = negate(
        fn(
            "list_contains",
            array(*[lit(n) for n in names]),
            exp.Dot(this=col("e"), expression=exp.to_identifier("key")),
        )
    )
    return fn("map_from_entries", fn("list_filter", fn("map_entries", mapping), lam(["e"], keep)))


def map_only(mapping: exp.Expression, names: list[str]) -> exp.Expression:
    """A canonical map of the given keys that are present in `mapping`."""
    return map_of([(n, get(mapping, n)) for n in sorted(set(names))])


def map_of(pairs: list[tuple[str, exp.Expression]]) -> exp.Expression:
    """A map of the named values that are not NULL (names in the order given)."""
    if not pairs:
        return empty_map()
    entries = array(*[entry(lit(n), v) for n, v in pairs])
    present = negate(
        exp.Is(
            this=exp.Dot(this=col("e"), expression=exp.to_identifier("value")),
            expression=exp.Null(),
        )
    )
    filtered = fn("list_filter", entries, lam(["e"], present))
    return exp.Coalesce(this=fn("map_from_entries", filtered), expressions=[empty_map()])


def map_set(mapping: exp.Expression, key: str, value: exp.Expression) -> exp.Expression:
    """The map with `key` set to `value` (replacing an existing entry)."""
    return fn("map_concat", mapping, fn("map", array(lit(key)), array(value)))


def _in_quotes(text: exp.Expression) -> exp.Expression:
    """`"` || text || `"`."""
    return exp.DPipe(this=exp.DPipe(this=lit('"'), expression=text), expression=lit('"'))


def _backslashed(value: exp.Expression) -> exp.Expression:
    """`value` with backslashes and double quotes escaped."""
    return fn("replace", fn("replace", value, lit("\\"), lit("\\\\")), lit('"'), lit('\\"'))


def go_quote(value: exp.Expression) -> exp.Expression:
    """Go's `strconv.Quote` (`%q`) of a string: backslashes, double quotes and the control
    characters with a one-letter escape (`\\n`, `\\t`, …) escaped. (Go also escapes the
    other control and non-printable characters, as `\\x1f` or `\\u00a0`; those stay.)"""
    escaped = _backslashed(value)
    for char, escape in GO_ESCAPES.items():
        if char != "\\":  # escaped first, with the double quote
            escaped = fn("replace", escaped, lit(char), lit(escape))
    return _in_quotes(escaped)


def time_quote(value: exp.Expression) -> exp.Expression:
    """The quoting of Go's `time` package errors (`time: invalid duration "…"`): backslashes
    and double quotes escaped, and every byte of a control or non-ASCII character written
    `\\xhh` (`"1é"` is `"1\\xc3\\xa9"`). Runs of printable ASCII and single other characters
    are taken apart only for a text that has any of the latter."""
    run = col("_t")
    plain = _backslashed(run.copy())
    hexed = fn(
        "regexp_replace",
        fn("lower", fn("hex", fn("encode", run.copy()))),
        lit("(..)"),
        lit("\\\\x\\1"),
        lit("g"),
    )
    piece = case((fn("regexp_full_match", run.copy(), lit("[ -~]+")), plain), default=hexed)
    pieces = fn("regexp_extract_all", value.copy(), lit("[ -~]+|[^ -~]"))
    written = fn("array_to_string", fn("list_transform", pieces, lam(["_t"], piece)), lit(""))
    ascii_only = fn("regexp_full_match", value.copy(), lit("[ -~]*"))
    return _in_quotes(case((ascii_only, _backslashed(value)), default=written))


def series_text(labels: exp.Expression) -> exp.Expression:
    """A canonical label map as Prometheus prints a label set: `{a="x", b="y"}`."""
    key = exp.Dot(this=col("e"), expression=exp.to_identifier("key"))
    value = exp.Dot(this=col("e"), expression=exp.to_identifier("value"))
    # Go quotes the values (`strconv.Quote`); control characters are left unescaped here,
    # where every metric query carries the text (7 more replacements per value, for what
    # label values rarely hold)
    quoted = _in_quotes(_backslashed(value))
    pair = exp.DPipe(this=exp.DPipe(this=key, expression=lit("=")), expression=quoted)
    pairs = fn("list_transform", fn("map_entries", labels), lam(["e"], pair))
    joined = fn("array_to_string", pairs, lit(", "))
    return exp.DPipe(this=exp.DPipe(this=lit("{"), expression=joined), expression=lit("}"))


def case(*whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None):
    """`CASE WHEN c THEN v ... ELSE default END`."""
    ifs = [exp.If(this=cond, true=value) for cond, value in whens]
    return exp.Case(ifs=ifs, default=default)


def subquery(select: exp.Select, alias: str) -> exp.Subquery:
    """`(select) AS alias`."""
    return select.subquery(alias)


_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}


def compare(left: exp.Expression, op: str, right: exp.Expression) -> exp.Expression:
    """`left op right` on doubles with IEEE semantics, as Go compares floats.

    SQL engines order NaN above every number and equal to itself; in Go every comparison
    with NaN is false except `!=`, which is true.
    """
    plain = _COMPARE[op](this=left, expression=right)
    operands = [e for e in (left, right) if not isinstance(e, exp.Literal | exp.Neg)]
    if not operands:
        return plain
    nan = [fn("isnan", e.copy()) for e in operands]
    any_nan = nan[0] if len(nan) == 1 else exp.or_(*nan, copy=False)
    if op == "!=":
        return exp.Paren(this=exp.or_(plain, any_nan, copy=False))
    return exp.Paren(this=exp.and_(plain, negate(any_nan), copy=False))


def max_ignoring_nan(value: exp.Expression) -> exp.Expression:
    """Go's running max that replaces a NaN (NaN only when every value is NaN)."""
    numbers = exp.Filter(
        this=exp.Max(this=value),
        expression=exp.Where(this=negate(fn("isnan", value.copy()))),
    )
    return exp.Coalesce(this=numbers, expressions=[exp.Max(this=value.copy())])


def rewrite_bottom_up(
    tree: exp.Expression, rewrite: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    """`tree` with every node replaced by `rewrite(node)`, in place, children first (so a
    rewrite sees its arguments already rewritten): how the dialect adapters (`spark`,
    `trino`, `clickhouse`) turn the lowered DuckDB-flavoured tree into their SQL."""
    for node in reversed(list(tree.walk(bfs=False))):
        new = rewrite(node)
        if new is not node:
            if node is tree:
                return new
            node.replace(new)
    return tree
