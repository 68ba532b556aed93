"""Lowering of log pipelines: one pipeline stage, one SELECT layer.

Every layer has the columns `fingerprint, ts, line, stream, meta, lbls`: `stream` and
`meta` are the entry's stream labels and structured metadata as read, `lbls` is the label
set the pipeline has built so far (stream labels + structured metadata + extracted labels,
with `__error__`/`__error_details__` when a stage failed). Semantics follow Loki's
`pkg/logql/log`: a missing label reads as "", extracted names are sanitised, an extracted
name that clashes with a stream or metadata label becomes `<name>_extracted`, duplicate keys
keep their first value. Label filters follow Loki's newest engine: a converting filter
(number, duration, bytes) drops a line without the label and keeps a line whose value does
not parse, setting `__error__=LabelFilterErr` with Go's error text as `__error_details__`
unless an error is already set; `or` skips its right operand once the left passed, `and`
runs both; `ip()` filters keep every line that already carries an error. Converting filters
never see `__error__`/`__error_details__` (Loki keeps them outside the label set).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from logql2sql import ast, durations, logfmt_scan, sqlbuild
from logql2sql.errors import LogQLError, UnsupportedInDialect
from logql2sql.ipmatch import ip_contains, parse_pattern
from logql2sql.jsonexpr import parse_json_expression
from logql2sql.lexical import BYTES_UNITS
from logql2sql.logfmtexpr import logfmt_expression_key
from logql2sql.regex import group_names
from logql2sql.sqlbuild import (
    array,
    canonical,
    case,
    cast,
    col,
    compare,
    entry,
    fn,
    get,
    go_quote,
    item,
    lam,
    lit,
    map_set,
    map_without,
    negate,
    num,
    time_quote,
    try_cast,
)
from logql2sql.stages import check_line_filter_value
from logql2sql.templates import lower_template

COLUMNS = ("fingerprint", "ts", "line", "stream", "meta", "lbls")
ERROR = "__error__"
ERROR_DETAILS = "__error_details__"
PARSED_NAMES = "parsed_names"
"""Optional column: the names `label_format` has set so far (see `no_parsed_names`)."""

_ANSI = (
    "[\x1b\x9b][[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\x07)"
    "|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))"
)
"""The escape sequences `decolorize` removes: Loki's pattern (the stripansi one), which
also covers OSC titles ending in BEL, `ESC(B` charset picks, private modes like
`ESC[?25l` and the one-byte CSI U+009B, with ESC and U+009B as literal characters."""


class Layers:
    """Stacks SELECT layers over a relation with the pipeline columns."""

    def __init__(self, source: exp.Expression) -> None:
        self.rel: exp.Expression = source
        self.n = 0
        self.extra: list[str] = []

    def push(self, where: exp.Expression | None = None, **replace: exp.Expression) -> None:
        """Add a layer selecting every column (some replaced), optionally filtered.

        Helper columns (names starting with `_`) are carried to later layers.
        """
        alias = f"p{self.n}"
        self.n += 1
        for name in replace:
            if name not in COLUMNS and name not in self.extra:
                self.extra.append(name)
        cols = [
            (replace[c].as_(c, copy=False) if c in replace else col(c))
            for c in (*COLUMNS, *self.extra)
        ]
        source = (
            self.rel.subquery(alias, copy=False) if isinstance(self.rel, exp.Select) else self.rel
        )
        sel = exp.select(*cols).from_(source, copy=False)
        if where is not None:
            sel = sel.where(where, copy=False)
        self.rel = sel

    def filter(self, cond: exp.Expression) -> None:
        """Filter the current layer in place when it has no WHERE yet, else add one."""
        simple = isinstance(self.rel, exp.Select) and all(
            isinstance(c, exp.Column) for c in self.rel.expressions
        )
        if simple and not self.rel.args.get("where"):
            self.rel = self.rel.where(cond, copy=False)
        else:
            self.push(where=cond)


def base_labels(stream: exp.Expression, meta: exp.Expression) -> exp.Expression:
    """An entry's labels before the pipeline: its stream's plus its structured metadata.

    Entries without metadata (most) take the stream's map as it is, without a merge.
    """
    merged = fn("map_concat", metadata_losers_renamed(stream, meta), stream.copy())
    empty = exp.EQ(this=fn("cardinality", meta.copy()), expression=num(0))
    return case((empty, stream.copy()), default=merged)


def metadata_losers_renamed(stream: exp.Expression, meta: exp.Expression) -> exp.Expression:
    """Structured metadata with every name the stream also has renamed `<name>_extracted`.

    The base name goes to the stream label; the metadata value keeps the `_extracted` slot
    until a parser claims it (parsed > metadata > stream for that slot).
    """
    name = exp.Dot(this=col("e"), expression=exp.to_identifier("key"))
    renamed = case(
        (
            fn("list_contains", fn("map_keys", stream.copy()), name),
            exp.DPipe(this=name.copy(), expression=lit("_extracted")),
        ),
        default=name.copy(),
    )
    value = exp.Dot(this=col("e"), expression=exp.to_identifier("value"))
    entries = fn(
        "list_transform",
        fn("map_entries", meta),
        lam(["e"], entry(renamed, value)),
    )
    return fn("map_from_entries", entries)


def no_parsed_names() -> exp.Expression:
    """The `PARSED_NAMES` column of a read entry: no name yet.

    Loki files a label `label_format` sets under "parsed" even when its name is a stream
    label or structured metadata (parsed > metadata > stream), and only when the stage did
    set it (a rename of an absent label or a failing template sets nothing). Parsers never
    need tracking: they rename a clashing name `<name>_extracted`, so a name from the
    stream or the metadata that they would overwrite cannot occur.
    """
    return cast(array(), "VARCHAR[]").as_(PARSED_NAMES, copy=False)


def label(name: str) -> exp.Expression:
    """The value of label `name` in the current set, '' when absent."""
    return exp.Coalesce(this=get(col("lbls"), name), expressions=[lit("")])


def has_error() -> exp.Expression:
    return exp.NEQ(this=label(ERROR), expression=lit(""))


def with_error(kind: str, details: exp.Expression | None = None) -> exp.Expression:
    """The label set with `__error__` set to `kind` (and details), unless one is set."""
    updated = map_set(col("lbls"), ERROR, lit(kind))
    if details is not None:
        updated = map_set(updated, ERROR_DETAILS, details)
    return case((has_error(), col("lbls")), default=updated)


def string_match(value: exp.Expression, op: str, pattern: str) -> exp.Expression:
    """A Prometheus matcher on a value (never NULL): regexes are fully anchored and `.`
    matches a newline too, as Prometheus' `FastRegexMatcher` parses them (`DotNL`).

    `.*` and `.+`, the commonest patterns, become no test and a non-empty test.
    """
    if op == "=":
        return exp.EQ(this=value, expression=lit(pattern))
    if op == "!=":
        return exp.NEQ(this=value, expression=lit(pattern))
    if pattern == ".*":
        matches: exp.Expression = exp.true()
    elif pattern == ".+":
        matches = exp.NEQ(this=value, expression=lit(""))
    else:
        matches = fn("regexp_full_match", value, lit(f"(?s:{pattern})"))
    return matches if op == "=~" else negate(matches)


def lower_pipeline(layers: Layers, stages: tuple[ast.Stage, ...], dialect: str) -> None:
    """Append one or more layers per stage."""
    for stage in stages:
        _STAGES[type(stage)](layers, stage, dialect)


# ------------------------------------------------------------------ line filters


def _pattern_match(line: exp.Expression, pattern: str) -> exp.Expression:
    """Whether `line` matches a Loki line-filter pattern (`<_> x <_>`), as Loki's
    `pattern.Matcher.Test` decides it, which is not a regex match: each literal is found
    at its first occurrence after the previous one, with no backtracking; the first may
    sit anywhere when the pattern starts with it, every later one must leave a non-empty
    capture before it; the line must end right after a final literal, and leave a
    non-empty rest for a final capture. An empty line matches nothing.

    The offset is carried literal by literal (-1 once a literal is missing), in characters
    (`strpos` and `length` count the same way).
    """
    parts = re.split(r"<(?:_|[a-zA-Z_][a-zA-Z0-9_]*)>", pattern)
    offset: exp.Expression = num(0)
    for n, text in enumerate(parts):
        if not text:
            continue
        at = col(f"_o{n}")
        found = exp.Sub(
            this=fn(
                "strpos", fn("substr", line.copy(), exp.Add(this=at, expression=num(1))), lit(text)
            ),
            expression=num(1),
        )
        j = col(f"_j{n}")
        missing = exp.LT(this=j, expression=num(0))
        if n > 0:  # after a capture, which must not be empty
            missing = exp.Or(this=missing, expression=exp.EQ(this=j.copy(), expression=num(0)))
        step = case(
            (missing, num(-1)),
            default=exp.Add(
                this=exp.Add(this=at.copy(), expression=j.copy()),
                expression=num(len(text)),
            ),
        )
        offset = sqlbuild.let(
            offset,
            f"_o{n}",
            case(
                (exp.LT(this=at.copy(), expression=num(0)), num(-1)),
                default=sqlbuild.let(found, f"_j{n}", step),
            ),
        )
    end = col("_end")
    ends_on_capture = parts[-1] == ""
    rest = exp.NEQ(this=end.copy(), expression=fn("length", line.copy()))
    done = exp.And(
        this=exp.GTE(this=end, expression=num(0)),
        expression=rest if ends_on_capture else negate(rest),
    )
    nonempty = exp.GT(this=fn("length", line.copy()), expression=num(0))
    return exp.And(this=nonempty, expression=sqlbuild.let(offset, "_end", done))


def _line_filter(layers: Layers, stage: ast.LineFilter, dialect: str) -> None:
    line = col("line")
    conds = []
    for value in stage.values:
        check_line_filter_value(stage.op, value)  # done by `check_stages` before lowering
    if any(v.ip for v in stage.values) and dialect != "duckdb":
        raise UnsupportedInDialect("ip() line filter", dialect)
    for value in stage.values:
        if value.ip:
            conds.append(ip_contains(line, parse_pattern(value.value)))
        elif stage.op in ("|=", "!="):
            conds.append(fn("contains", line, lit(value.value)))
        elif stage.op in ("|~", "!~"):
            conds.append(fn("regexp_matches", line, lit(value.value)))
        else:
            conds.append(exp.Paren(this=_pattern_match(line, value.value)))
    cond = conds[0]
    for c in conds[1:]:
        cond = exp.Or(this=cond, expression=c)
    if stage.op in ("!=", "!~", "!>"):
        cond = negate(cond)
    layers.filter(cond)


# ------------------------------------------------------------------ parsers


_GO_SPACE = "\\t\\n\\x0b\\f\\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What Go's `strings.TrimSpace` trims (Unicode's White_Space)."""


def sanitize(key: exp.Expression) -> exp.Expression:
    """Loki's label-name sanitising: white space trimmed (only where a key may have it:
    a space, or a character that is not ASCII), then [^a-zA-Z0-9_] → `_` (`:` too), and
    a leading digit gets `_`."""
    may_trim = exp.or_(
        fn("contains", key.copy(), lit(" ")),
        exp.NEQ(this=fn("strlen", key.copy()), expression=fn("length", key.copy())),
        copy=False,
    )
    trimmed = fn(
        "regexp_replace", key.copy(), lit(f"^[{_GO_SPACE}]+|[{_GO_SPACE}]+$"), lit(""), lit("g")
    )
    key = case((may_trim, trimmed), default=key)
    cleaned = fn("regexp_replace", key, lit("[^a-zA-Z0-9_]"), lit("_"), lit("g"))
    return fn("regexp_replace", cleaned, lit("^([0-9])"), lit("_\\1"))


def extracted_labels(
    keys: exp.Expression,
    values: exp.Expression,
    stream: exp.Expression,
    meta: exp.Expression,
    keep_empty: bool = True,
) -> exp.Expression:
    """A map of parallel key/value lists as a parser adds them: a name the stream or the
    metadata has becomes `<name>_extracted`, then the first of equal names wins (so a key
    `app_extracted` after a renamed `app` is skipped, as Loki skips a name already
    extracted). Unless `keep_empty`, an empty value is skipped before that: it claims no
    name, so a later non-empty value of the same key is kept (Loki's logfmt parser)."""
    base = fn("list_concat", fn("map_keys", stream), fn("map_keys", meta))
    key = sqlbuild.item(keys, col("j"))
    named = case(
        (
            fn("list_contains", base, key),
            exp.DPipe(this=key.copy(), expression=lit("_extracted")),
        ),
        default=key.copy(),
    )
    if not keep_empty:
        empty = exp.EQ(this=sqlbuild.item(values.copy(), col("j")), expression=lit(""))
        named = case((empty, exp.Null()), default=named)
    count = exp.ArraySize(this=keys.copy())
    renamed = fn(
        "list_transform",
        fn("range", num(1), exp.Add(this=count, expression=num(1))),
        lam(["j"], named),
    )
    names = col("_names")
    k_i = sqlbuild.item(names, col("i"))
    v_i = sqlbuild.item(values, col("i"))
    keep: exp.Expression = exp.EQ(this=fn("list_position", names.copy(), k_i), expression=col("i"))
    if not keep_empty:
        keep = exp.And(this=negate(exp.Is(this=k_i.copy(), expression=exp.Null())), expression=keep)
    idx = fn(
        "list_filter",
        fn("range", num(1), exp.Add(this=exp.ArraySize(this=names.copy()), expression=num(1))),
        lam(["i"], keep),
    )
    entries = fn("list_transform", idx, lam(["i"], entry(k_i.copy(), v_i.copy())))
    return sqlbuild.let(renamed, "_names", fn("map_from_entries", entries))


def _merge_extracted(
    layers: Layers, keys: exp.Expression, values: exp.Expression, keep_empty: bool = True
) -> None:
    """Merge parallel key/value lists into `lbls` (see `extracted_labels`)."""
    layers.push(_k=keys, _v=values)
    extracted = extracted_labels(col("_k"), col("_v"), col("stream"), col("meta"), keep_empty)
    layers.push(lbls=fn("map_concat", col("lbls"), extracted))


def logfmt_pairs(
    line: exp.Expression,
    sanitized: bool = True,
    first_error: exp.Expression | None = None,
    invalid: str = " ",
) -> tuple[exp.Expression, exp.Expression]:
    """The keys (sanitised, or as written) and value texts of a line's logfmt pairs, as
    Loki's decoder reads them (`logfmt_scan`); with `first_error` (`--strict`), those
    before it. The values list may hold one more item than the keys, at the end."""
    keys, raw = logfmt_scan.pair_lists(line)
    if first_error is not None:
        keys = logfmt_scan.until_error(keys, first_error)
    if sanitized:
        keys = fn("list_transform", keys, lam(["k"], sanitize(col("k"))))
    return keys, fn("list_transform", raw, lam(["v"], logfmt_scan.value_text(col("v"), invalid)))


def _logfmt(layers: Layers, stage: ast.LogfmtParser, dialect: str) -> None:
    line = col("line")
    first = None
    if stage.strict:  # found once: it ends the pairs and sets the error
        layers.push(_lf_error=logfmt_scan.first_error(line))
        first = col("_lf_error")
    if stage.params:
        # the parser with expressions empties a value holding U+FFFD
        keys, values = logfmt_pairs(line, sanitized=False, first_error=first, invalid="")
        layers.push(_k=keys, _v=values)
        sel = []
        for p in stage.params:
            # the last pair whose key is the expression's (or the label's own name) wins
            names = dict.fromkeys([logfmt_expression_key(p.expression), p.name])
            hits = fn(
                "list_transform",
                fn("list_reverse", col("_k")),
                lam(["k"], exp.or_(*[exp.EQ(this=col("k"), expression=lit(n)) for n in names])),
            )
            from_end = fn("list_position", hits, exp.true())
            last = exp.Add(
                this=exp.Sub(this=exp.ArraySize(this=col("_k")), expression=from_end),
                expression=num(1),
            )
            pos = case((exp.GT(this=from_end.copy(), expression=num(0)), last))
            sel.append(
                (
                    p.name,
                    exp.Coalesce(this=sqlbuild.item(col("_v"), pos), expressions=[lit("")]),
                )
            )
        _set_labels(layers, sel)
    else:
        keys, values = logfmt_pairs(line, first_error=first)
        _merge_extracted(layers, keys, values, keep_empty=stage.keep_empty)
    if first is not None:
        failed = negate(exp.Is(this=first.copy(), expression=exp.Null()))
        details = logfmt_scan.strict_error_details(line)
        layers.push(
            lbls=case((failed, with_error("LogfmtParserErr", details)), default=col("lbls"))
        )


def _set_labels(layers: Layers, items: list[tuple[str, exp.Expression]]) -> None:
    """Set extracted labels by name (clashes with stream/metadata names renamed)."""
    keys = _extracted_names(items)
    layers.push(lbls=fn("map_concat", col("lbls"), fn("map", keys, _values(items))))


def _json_path(expression: str) -> str:
    """A Loki JSON parameter (`a.b`, `a["b"]`, `list[0]`) as a JSONPath."""
    path = "$"
    for step in parse_json_expression(expression):
        if isinstance(step, int):
            path += f"[{step}]"
        else:
            path += '."' + step.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return path


def _is_json_object(line: exp.Expression) -> exp.Expression:
    """The line is a JSON object; the cast to JSON is guarded (the engine must not see
    malformed text in it, which would fail the query instead of marking the line)."""
    return case(
        (
            fn("json_valid", line),
            exp.EQ(this=fn("json_type", cast(line, "JSON")), expression=lit("OBJECT")),
        ),
        default=exp.false(),
    )


_JSON_WS = r"[ \t\n\r]*"
"""The white space jsonparser skips between tokens."""
_MALFORMED_OBJECT = "Value looks like object, but can't find closing '}' symbol"


def _object_error(line: exp.Expression) -> exp.Expression:
    """The error jsonparser's `ObjectEach` (Loki's `json` and `unpack`) returns for a line
    that is no JSON object, as far as the line's opening tells: no `{` first, or neither a
    key nor `}` after it, is a malformed object; nothing after it, malformed JSON; NULL for
    `{}` (the walk ends there, whatever follows). A line that opens well but fails later
    gets "invalid JSON object": jsonparser's own error would need its walk."""
    opening = f"^{_JSON_WS}\\{{{_JSON_WS}"
    return case(
        (negate(fn("regexp_matches", line, lit(f"^{_JSON_WS}\\{{"))), lit(_MALFORMED_OBJECT)),
        (fn("regexp_matches", line.copy(), lit(opening + "$")), lit("Malformed JSON error")),
        (fn("regexp_matches", line.copy(), lit(opening + "\\}")), cast(exp.Null(), "VARCHAR")),
        (
            negate(fn("regexp_matches", line.copy(), lit(opening + '"'))),
            lit(_MALFORMED_OBJECT),
        ),
        default=lit("invalid JSON object"),
    )


# `json` and `unpack` validate and read JSON with DuckDB's JSON functions (`json_valid`,
# `json_keys`, `json_type`), which have no exact Spark counterpart: Spark's JSON reading
# accepts text after the first JSON value (lines Loki marks `JSONParserErr` would parse),
# rewrites numbers (`1.50` → `1.5`) and rejects duplicate keys.
_NO_JSON = ("spark",)
# `unpack` reads every key of the object in order; Trino's JSON objects lose the order and
# all but one of duplicate keys.
_NO_UNPACK = (*_NO_JSON, "trino")


def _json(layers: Layers, stage: ast.JsonParser, dialect: str) -> None:
    if dialect in _NO_JSON:
        raise UnsupportedInDialect("json parser", dialect)
    line = col("line")
    is_object = _is_json_object(line)
    if stage.params:
        _json_expressions(layers, stage, dialect)
        return
    if dialect != "duckdb":
        raise UnsupportedInDialect("json parser without parameters", dialect)
    tree = exp.Anonymous(this="json_tree", expressions=[case((is_object, line), default=lit("{}"))])
    atomic = exp.And(
        this=negate(
            exp.In(this=col("type"), expressions=[lit("OBJECT"), lit("ARRAY"), lit("NULL")])
        ),
        expression=negate(fn("contains", col("fullkey"), lit("["))),
    )
    key = fn(
        "regexp_replace",
        fn("substr", fn("replace", col("fullkey"), lit('"'), lit("")), num(3)),
        lit("\\."),
        lit("_"),
        lit("g"),
    )
    # Loki keeps a number's text as written (`1.50`, `1e2`, `-0`); DuckDB prints a real
    # number's value (`1.5`, `100.0`; integers print as written, but for `-0`: `0`). A
    # `json_tree` node's id is its index among the document's tokens (keys, values,
    # `{` and `[`), so its text is the line's token `id + 1`, read only for real numbers
    # and for an integer 0 in a line that holds `-0`; it must read as the node's value,
    # else (a reader extension) DuckDB's text stays.
    token = item(
        _json_tokens(line.copy()), exp.Add(this=cast(col("id"), "BIGINT"), expression=num(1))
    )
    negative_zero = exp.and_(
        exp.In(this=col("type"), expressions=[lit("BIGINT"), lit("UBIGINT")]),
        exp.EQ(this=cast(col("value"), "VARCHAR"), expression=lit("0")),
        fn("contains", line.copy(), lit("-0")),
        copy=False,
    )
    reprinted = exp.or_(
        exp.EQ(this=col("type"), expression=lit("DOUBLE")), negative_zero, copy=False
    )
    aligned = exp.EQ(this=try_cast(token.copy(), "DOUBLE"), expression=cast(col("value"), "DOUBLE"))
    value = case(
        (
            exp.EQ(this=col("type"), expression=lit("VARCHAR")),
            exp.JSONExtractScalar(this=col("value"), expression=lit("$")),
        ),
        (exp.and_(reprinted, aligned, copy=False), token),
        default=cast(col("value"), "VARCHAR"),
    )
    ordered = exp.Order(expressions=[exp.Ordered(this=col("id"))])
    keys_q = (
        exp.select(fn("list", exp.Order(this=key, expressions=ordered.expressions)))
        .from_(tree, copy=False)
        .where(atomic, copy=False)
    )
    vals_q = (
        exp.select(fn("list", exp.Order(this=value, expressions=ordered.expressions)))
        .from_(tree.copy(), copy=False)
        .where(atomic.copy(), copy=False)
    )
    keys = exp.Coalesce(this=exp.Subquery(this=keys_q), expressions=[cast(array(), "VARCHAR[]")])
    vals = exp.Coalesce(this=exp.Subquery(this=vals_q), expressions=[cast(array(), "VARCHAR[]")])
    keys = fn("list_transform", keys, lam(["k"], sanitize(col("k"))))
    _merge_extracted(layers, keys, vals)
    layers.push(_json_err=case((negate(is_object.copy()), _object_error(line.copy()))))
    failed = negate(exp.Is(this=col("_json_err"), expression=exp.Null()))
    layers.push(
        lbls=case((failed, with_error("JSONParserErr", col("_json_err"))), default=col("lbls"))
    )


def _json_expressions(layers: Layers, stage: ast.JsonParser, dialect: str) -> None:
    """`| json name="path", …` as Loki's `JSONExpressionParser`: an empty line is left
    alone; a line that does not start with `{`, `[` or `"` gets `JSONParserErr` (without
    details) and no labels; otherwise each path's value is set (a JSON `null` as `""`, a
    number as written, an object or array as its text), and a path not found sets `""`
    unless its name is a stream or metadata label (a value found for such a name goes to
    `<name>_extracted`).
    Text that is not valid JSON gets Loki's error, and `""` for every name that is not a
    stream or metadata label."""
    line = col("line")
    valid = fn("json_valid", line.copy())
    # Text, not a JSON value: Trino's `json_extract` then keeps a number's text (`41.50`)
    doc = case((valid, line.copy()), default=lit("{}"))
    base = fn("list_concat", fn("map_keys", col("stream")), fn("map_keys", col("meta")))
    paths = [lit(_json_path(p.expression)) for p in stage.params]
    raws = [fn("json_extract", doc.copy(), path.copy()) for path in paths]
    if dialect == "duckdb":
        # Each path's value in a column of its own: DuckDB reads the line once for it, not
        # once for every test of its type below. (Trino's SQL must see the `json_extract`
        # that a cast to text reads: its JSON values have no such cast.)
        names = [f"_jv{layers.n}_{i}" for i in range(len(paths))]
        layers.push(**dict(zip(names, raws, strict=True)))
        raws = [col(name) for name in names]
    entries = []
    for p, path, raw in zip(stage.params, paths, raws, strict=True):
        kind = fn("json_type", raw)
        text = case(
            (
                exp.EQ(this=kind, expression=lit("VARCHAR")),
                exp.JSONExtractScalar(this=raw.copy(), expression=lit("$")),
            ),
            (exp.EQ(this=kind.copy(), expression=lit("NULL")), lit("")),
            (
                _reprinted(kind.copy(), raw.copy(), line.copy(), dialect),
                exp.JSONExtractScalar(
                    this=fn("json_extract", _numbers_quoted(doc.copy()), path.copy()),
                    expression=lit("$"),
                ),
            ),
            default=cast(raw.copy(), "VARCHAR"),
        )
        clash = fn("list_contains", base.copy(), lit(p.name))
        name = case((clash, lit(p.name + "_extracted")), default=lit(p.name))
        missing = case((clash.copy(), cast(exp.Null(), "VARCHAR")), default=lit(""))
        entries.append(entry(name, exp.Coalesce(this=text, expressions=[missing])))
    value = exp.Dot(this=col("e"), expression=exp.to_identifier("value"))
    found = fn(
        "list_filter",
        array(*entries),
        lam(["e"], negate(exp.Is(this=value, expression=exp.Null()))),
    )
    parsed = fn("map_concat", col("lbls"), fn("map_from_entries", found))
    empty = exp.EQ(this=line.copy(), expression=lit(""))
    starts = exp.In(
        this=fn("left", line.copy(), num(1)), expressions=[lit("{"), lit("["), lit('"')]
    )
    layers.push(lbls=case((exp.or_(empty, negate(starts)), col("lbls")), default=parsed))
    layers.push(
        lbls=case(
            (empty.copy(), col("lbls")),
            (negate(starts.copy()), with_error("JSONParserErr")),
            (negate(valid.copy()), with_error("JSONParserErr", lit("invalid JSON object"))),
            default=col("lbls"),
        )
    )


_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
# The tokens of a JSON text that are `json_tree` nodes or object keys, in document order.
_JSON_TOKEN = rf"{_JSON_STRING}|{_JSON_NUMBER}|true|false|null|[\[{{]"


def _reprinted(
    kind: exp.Expression, raw: exp.Expression, line: exp.Expression, dialect: str
) -> exp.Expression:
    """The JSON value `raw` (of type `kind`) is a number the engine prints otherwise than
    written: a real number (`1.50`, `1e3`), or an integer 0 in a line that holds `-0`.
    ClickHouse's `raw` is the number reprinted (`2.0` is `2`, of type integer): there any
    number."""
    numbers = [lit("DOUBLE"), lit("BIGINT"), lit("UBIGINT")]
    if dialect == "clickhouse":
        return exp.In(this=kind, expressions=numbers)
    negative_zero = exp.and_(
        exp.In(this=kind, expressions=numbers[1:]),
        exp.EQ(this=cast(raw, "VARCHAR"), expression=lit("0")),
        fn("contains", line, lit("-0")),
        copy=False,
    )
    return exp.or_(exp.EQ(this=kind.copy(), expression=lit("DOUBLE")), negative_zero, copy=False)


def _numbers_quoted(doc: exp.Expression) -> exp.Expression:
    """The JSON text `doc` with every number written as a string of its text (`1.50` →
    `"1.50"`), so that the value at a path reads as written, as Loki reads it.

    A replacement cannot tell which alternative matched: the regex marks every number
    `\\x01N\\x02` and every string `"s"\\x01\\x02`. A valid JSON text holds neither
    character, so plain replacements then take the pair after each string off and turn the
    marks around each number into quotes."""
    marked = fn(
        "regexp_replace",
        doc,
        lit(f"({_JSON_STRING})|({_JSON_NUMBER})"),
        lit("\\1\x01\\2\x02"),
        lit("g"),
    )
    unmarked = fn("replace", marked, lit("\x01\x02"), lit(""))
    return fn("replace", fn("replace", unmarked, lit("\x01"), lit('"')), lit("\x02"), lit('"'))


def _json_tokens(line: exp.Expression) -> exp.Expression:
    """The tokens of a JSON text as written, in document order (see `_json`)."""
    return fn("regexp_extract_all", line, lit(_JSON_TOKEN))


def _unpack(layers: Layers, stage: ast.UnpackParser, dialect: str) -> None:
    if dialect in _NO_UNPACK:
        raise UnsupportedInDialect("unpack parser", dialect)
    line = col("line")
    # Loki reads nothing but an object that starts the line (no white space before it)
    is_object = exp.and_(fn("starts_with", line.copy(), lit("{")), _is_json_object(line.copy()))
    doc = cast(case((is_object, line), default=lit("{}")), "JSON")

    def path(key: exp.Expression) -> exp.Expression:
        if dialect == "duckdb":  # a JSON pointer: any key, even "", `*` or one with `"`
            escaped = fn("replace", fn("replace", key, lit("~"), lit("~0")), lit("/"), lit("~1"))
            return exp.DPipe(this=lit("/"), expression=escaped)
        return exp.DPipe(this=lit('$."'), expression=exp.DPipe(this=key, expression=lit('"')))

    is_str = lam(
        ["k"],
        exp.And(
            this=exp.EQ(this=fn("json_type", doc, path(col("k"))), expression=lit("VARCHAR")),
            expression=exp.NEQ(this=col("k"), expression=lit("_entry")),
        ),
    )
    # Loki's unpack keeps the string values only if the object packs a string `_entry`;
    # otherwise it adds nothing and leaves the line as it is.
    packed = exp.EQ(this=fn("json_type", doc.copy(), lit("$._entry")), expression=lit("VARCHAR"))
    keys = case(
        (packed, fn("list_filter", fn("json_keys", doc), is_str)),
        default=cast(array(), "VARCHAR[]"),
    )
    packed_line = case((packed.copy(), exp.JSONExtractScalar(this=doc, expression=lit("$._entry"))))
    layers.push(
        _keys=keys,
        _bad=negate(is_object.copy()),
        _entry=packed_line,
    )
    doc2 = cast(case((negate(col("_bad")), col("line")), default=lit("{}")), "JSON")
    values = fn(
        "list_transform",
        col("_keys"),
        lam(["k"], exp.JSONExtractScalar(this=doc2, expression=path(col("k")))),
    )
    # Loki sets the buffered pairs in order, so of equal names the last one wins: the
    # lists are reversed for the merge, where the first one wins.
    layers.push(
        _keys2=fn(
            "list_reverse", fn("list_transform", col("_keys"), lam(["k"], sanitize(col("k"))))
        ),
        _vals2=fn("list_reverse", values),
        _unpack_err=case((col("_bad"), _object_error(col("line")))),
    )
    _merge_extracted(layers, col("_keys2"), col("_vals2"))
    layers.push(
        line=exp.Coalesce(this=col("_entry"), expressions=[col("line")]),
        lbls=case(
            (exp.EQ(this=col("line"), expression=lit("")), col("lbls")),  # passed through
            (
                negate(fn("starts_with", col("line"), lit("{"))),
                with_error("JSONParserErr", lit("expecting json object(6), but it is not")),
            ),
            (
                negate(exp.Is(this=col("_unpack_err"), expression=exp.Null())),
                with_error("JSONParserErr", col("_unpack_err")),
            ),
            default=col("lbls"),
        ),
    )


def _regexp(layers: Layers, stage: ast.RegexpParser, dialect: str) -> None:
    names = list(group_names(stage.pattern).items())
    matched = fn("regexp_matches", col("line"), lit(stage.pattern))
    items = [
        (name, case((matched, fn("regexp_extract", col("line"), lit(stage.pattern), num(idx)))))
        for name, idx in names
    ]
    keys, vals = _extracted_names(items), _values(items)
    layers.push(
        lbls=case(
            (matched, fn("map_concat", col("lbls"), fn("map", keys, vals))), default=col("lbls")
        )
    )


def _pattern(layers: Layers, stage: ast.PatternParser, dialect: str) -> None:
    """Loki's pattern parser: captures up to the first occurrence of the next literal.

    As in `pkg/logql/log/pattern`, a line that lacks a later literal still fills the
    captures reached so far (the last one reached takes the rest of the line); a line
    that does not start with the leading literal, or is empty, extracts nothing.
    """
    captures = list(re.finditer(r"<(_|[a-zA-Z_][a-zA-Z0-9_]*)>", stage.pattern))
    bounds = [0, *[m.end() for m in captures]]
    # literals[k] precedes capture k; literals[-1] trails the last capture.
    literals = [re.escape(stage.pattern[bounds[k] : m.start()]) for k, m in enumerate(captures)] + [
        re.escape(stage.pattern[captures[-1].end() :])
    ]
    line = col("line")
    rest, lazy = "((?s:.*))", "((?s:.*?))"
    full = "^" + "".join(literals[k] + lazy for k in range(len(captures))) + literals[-1]
    if not literals[-1]:
        full = full[: -len(lazy)] + rest
    full_items: list[tuple[str, exp.Expression]] = []
    partial: list[tuple[str, exp.Expression, exp.Expression]] = []
    prefix = "^" + literals[0]
    for k, m in enumerate(captures):
        after = literals[k + 1]
        if m.group(1) != "_":
            name = m.group(1)
            full_items.append((name, fn("regexp_extract", line, lit(full), num(k + 1))))
            taken_rest = fn("regexp_extract", line, lit(prefix + rest), num(1))
            if after:
                value = case(
                    (
                        fn("regexp_matches", line, lit(prefix + "(?s:.*?)" + after)),
                        fn("regexp_extract", line, lit(prefix + lazy + after), num(1)),
                    ),
                    default=taken_rest,
                )
            else:
                value = taken_rest
            reached = exp.and_(
                exp.NEQ(this=line, expression=lit("")),
                fn("regexp_matches", line, lit(prefix)),
                copy=False,
            )
            partial.append((name, reached, value))
        prefix += "(?s:.*?)" + after
    matched = exp.and_(
        exp.NEQ(this=line.copy(), expression=lit("")),
        fn("regexp_matches", line, lit(full)),
        copy=False,
    )
    whole = fn(
        "map_concat", col("lbls"), fn("map", _extracted_names(full_items), _values(full_items))
    )
    entries = array(
        *[
            case((reached, entry(name_expr, value)))
            for (_, reached, value), name_expr in zip(
                partial, _extracted_names([(n, v) for n, _, v in partial]).expressions, strict=True
            )
        ]
    )
    present = fn(
        "list_filter",
        entries,
        lam(["e"], negate(exp.Is(this=col("e"), expression=exp.Null()))),
    )
    partly = fn("map_concat", col("lbls"), fn("map_from_entries", present))
    layers.push(lbls=case((matched, whole), default=partly))


def _extracted_names(items: list[tuple[str, exp.Expression]]) -> exp.Array:
    """The names of extracted labels, `<name>_extracted` where a stream/metadata label has it."""
    base = fn("list_concat", fn("map_keys", col("stream")), fn("map_keys", col("meta")))
    return array(
        *[
            case((fn("list_contains", base.copy(), lit(n)), lit(n + "_extracted")), default=lit(n))
            for n, _ in items
        ]
    )


def _values(items: list[tuple[str, exp.Expression]]) -> exp.Array:
    return array(*[v for _, v in items])


def _decolorize(layers: Layers, stage: ast.Decolorize, dialect: str) -> None:
    layers.push(line=fn("regexp_replace", col("line"), lit(_ANSI), lit(""), lit("g")))


# ------------------------------------------------------------------ label filters


_BYTES_NUMBER = r"^[0-9.,]*"


def go_bytes(value: exp.Expression) -> exp.Expression:
    """humanize `ParseBytes` of a label value, as the uint64 it returns; NULL when unparsable.

    The leading run of digits, dots and commas is the number (commas dropped), the trimmed,
    lower-cased rest the unit; the product is truncated to an integer, as Go's `uint64(f)`.
    """
    number = fn("replace", fn("regexp_extract", value, lit(_BYTES_NUMBER)), lit(","), lit(""))
    unit = _bytes_unit(value)
    # A simple CASE names the unit once (a searched one would repeat it per unit).
    factor = exp.Case(
        this=unit, ifs=[exp.If(this=lit(u), true=num(float(f))) for u, f in BYTES_UNITS.items()]
    )
    valid = fn("regexp_full_match", number, lit(_GO_UNSIGNED_FLOAT))
    product = exp.Mul(this=try_cast(number, "DOUBLE"), expression=factor)
    return case((valid, fn("floor", product)))


_GO_UNSIGNED_FLOAT = r"[0-9]+\.?[0-9]*|\.[0-9]+"


def _bytes_unit(value: exp.Expression) -> exp.Expression:
    rest = fn("regexp_replace", value, lit(_BYTES_NUMBER), lit(""))
    return fn("lower", fn("regexp_replace", rest, lit(r"^\s+|\s+$"), lit(""), lit("g")))


def _concat(*parts: exp.Expression) -> exp.Expression:
    out = parts[0]
    for p in parts[1:]:
        out = exp.DPipe(this=out, expression=p)
    return out


def _float_error(text: exp.Expression) -> exp.Expression:
    """The error `strconv.ParseFloat` returns for `text` (where `go_float` gives NULL): a
    well-formed decimal past float64's range (`1e400`) is out of range, the rest invalid."""
    reason = case(
        (fn("regexp_matches", text, lit(_GO_DECIMAL)), lit(": value out of range")),
        default=lit(": invalid syntax"),
    )
    return _concat(lit("strconv.ParseFloat: parsing "), go_quote(text), reason)


def _duration_error(value: exp.Expression) -> exp.Expression:
    """The error Go's `time.ParseDuration` returns for an unparsable `value` (quoted as the
    `time` package quotes, see `time_quote`)."""
    unit = fn("regexp_extract", value, lit(r"^[-+]?[0-9]*\.?[0-9]*([^0-9.]+)"), num(1))
    return case(
        (
            fn("regexp_full_match", value, lit(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)")),
            _concat(lit("time: missing unit in duration "), time_quote(value)),
        ),
        (
            exp.and_(
                fn("regexp_matches", value, lit(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[^0-9.]")),
                negate(
                    exp.In(
                        this=unit,
                        expressions=[lit(u) for u in ("ns", "us", "µs", "μs", "ms", "s", "m", "h")],
                    )
                ),
                copy=False,
            ),
            _concat(
                lit("time: unknown unit "),
                time_quote(unit),
                lit(" in duration "),
                time_quote(value),
            ),
        ),
        default=_concat(lit("time: invalid duration "), time_quote(value)),
    )


def _bytes_error(value: exp.Expression) -> exp.Expression:
    """The error humanize's `ParseBytes` returns for an unparsable `value`."""
    number = fn("replace", fn("regexp_extract", value, lit(_BYTES_NUMBER)), lit(","), lit(""))
    return case(
        (
            negate(fn("regexp_full_match", number, lit(_GO_UNSIGNED_FLOAT))),
            _float_error(number),
        ),
        default=_concat(lit("unhandled size name: "), _bytes_unit(value)),
    )


def conversion_error(conversion: str | None, raw: exp.Expression) -> exp.Expression:
    """The error Loki's sample extractor records as `__error_details__` when `| unwrap`
    cannot convert the label text `raw`: Go's `strconv.ParseFloat`, `time.ParseDuration` or
    humanize's `ParseBytes` error."""
    if conversion in ("duration", "duration_seconds"):
        return _duration_error(raw)
    if conversion == "bytes":
        return _bytes_error(raw)
    return _float_error(raw)


_GO_DIGITS = r"[0-9](?:_?[0-9])*"  # Go takes `_` between digits: `1_000` is 1000
_GO_DECIMAL = rf"^[-+]?({_GO_DIGITS}(\.({_GO_DIGITS})?)?|\.{_GO_DIGITS})([eE][-+]?{_GO_DIGITS})?$"
GO_SPECIAL = r"^([-+]?(?i:inf|infinity)|(?i:nan))$"
_MAX_FLOAT64 = 1.7976931348623157e308


def go_float(value: exp.Expression) -> exp.Expression:
    """Go `strconv.ParseFloat` of a label value; NULL when it fails: decimals (with `_`
    between digits) within float64's range (`1e400` is out of range, not +Inf), and
    `inf`, `infinity` with a sign or not and `nan` in any case, as Go's `special` reads
    them. Go's hexadecimal floats (`0x1p4`) are not read: NULL, an error."""
    number = try_cast(fn("replace", value, lit("_"), lit("")), "DOUBLE")
    return case(
        (
            fn("regexp_matches", value, lit(_GO_DECIMAL)),
            case((exp.LTE(this=exp.Abs(this=number), expression=num(_MAX_FLOAT64)), number)),
        ),
        (fn("regexp_matches", value, lit(GO_SPECIAL)), try_cast(value, "DOUBLE")),
    )


def _compare(left: exp.Expression, op: str, right: exp.Expression) -> exp.Expression:
    return compare(left, op, right)


_ERR, _DET = "_err", "_det"


def converts(f: ast.LabelFilter) -> bool:
    """Whether a filter expression holds a converting (numeric, duration, bytes) leaf."""
    if isinstance(f, ast.AndLabelFilter | ast.OrLabelFilter):
        return converts(f.left) or converts(f.right)
    return isinstance(f, ast.NumericLabelFilter | ast.DurationLabelFilter | ast.BytesLabelFilter)


def _has_ip(f: ast.LabelFilter) -> bool:
    if isinstance(f, ast.AndLabelFilter | ast.OrLabelFilter):
        return _has_ip(f.left) or _has_ip(f.right)
    return isinstance(f, ast.IpLabelFilter)


def _lookup(name: str) -> exp.Expression:
    """`LabelsBuilder.Get`: the value, NULL when absent; the error labels are never found."""
    if name in (ERROR, ERROR_DETAILS):
        return cast(exp.Null(), "VARCHAR")
    return get(col("lbls"), name)


def string_leaf(
    f: ast.StringLabelFilter,
    error: exp.Expression,
    read: Callable[[str], exp.Expression] = label,
) -> exp.Expression:
    """A string matcher; `__error__` reads the current error, `__error_details__` reads "",
    other names `read(name)` (the label's value, "" when absent)."""
    m = f.matcher
    if m.name == ERROR:
        value = error
    elif m.name == ERROR_DETAILS:
        value = lit("")
    else:
        value = read(m.name)
    return string_match(value, m.op, m.value)


def _ip_leaf(f: ast.IpLabelFilter, error: exp.Expression) -> exp.Expression:
    """Loki's ip() label filter: true once an error is set, false for an absent label.

    An invalid pattern fails the query only when the filter is a stage of its own
    (`stages`); inside `and`/`or` Loki's filter has no addresses and keeps no line."""
    try:
        found = ip_contains(_lookup(f.name), parse_pattern(f.pattern))
    except LogQLError:
        return exp.NEQ(this=error, expression=lit(""))
    if f.op == "!=":
        found = negate(found)
    raw = _lookup(f.name)
    return case(
        (exp.NEQ(this=error, expression=lit("")), exp.true()),
        (exp.Is(this=raw, expression=exp.Null()), exp.false()),
        default=found,
    )


def _stateless(f: ast.LabelFilter, error: exp.Expression) -> exp.Expression:
    """A filter expression without converting leaves: one boolean, the error unchanged."""
    if isinstance(f, ast.AndLabelFilter):
        return exp.and_(_stateless(f.left, error), _stateless(f.right, error), copy=False)
    if isinstance(f, ast.OrLabelFilter):
        return exp.or_(_stateless(f.left, error), _stateless(f.right, error), copy=False)
    if isinstance(f, ast.StringLabelFilter):
        return string_leaf(f, error)
    assert isinstance(f, ast.IpLabelFilter)
    return _ip_leaf(f, error)


def converting_leaf(
    f: ast.LabelFilter, raw: exp.Expression, dialect: str
) -> tuple[exp.Expression, exp.Expression, exp.Expression]:
    """(passes, conversion failed, error details) of a numeric/duration/bytes leaf over
    the label's value `raw` (NULL when absent): an absent label fails the leaf, a value
    that does not convert passes it (and sets `LabelFilterErr`, unless an error is set).

    Durations compare as Go's `time.Duration`s: int64 nanoseconds."""
    if isinstance(f, ast.NumericLabelFilter):
        converted, rhs, details = go_float(raw), num(f.value), _float_error(raw)
    elif isinstance(f, ast.DurationLabelFilter) and dialect == "duckdb":
        return (*_duration_leaf(f, raw), _duration_error(raw))
    elif isinstance(f, ast.DurationLabelFilter):
        converted = durations.nanoseconds(raw)
        rhs, details = num(f.value), _duration_error(raw)
    else:
        assert isinstance(f, ast.BytesLabelFilter)
        converted, rhs, details = go_bytes(raw), num(float(f.value)), _bytes_error(raw)
    absent = exp.Is(this=raw, expression=exp.Null())
    unparsable = exp.Is(this=converted, expression=exp.Null())
    passes = case(
        (absent, exp.false()),
        (unparsable, exp.true()),
        default=_compare(converted, f.op, rhs),
    )
    return passes, exp.and_(negate(absent), unparsable, copy=False), details


def _duration_leaf(
    f: ast.DurationLabelFilter, raw: exp.Expression
) -> tuple[exp.Expression, exp.Expression]:
    """(passes, conversion failed) of a duration leaf on DuckDB: a one-unit text compares
    as exact decimal seconds (`durations.unwrap_step`), any other by the general form's
    nanoseconds, which only those texts pay for."""
    step = durations.unwrap_step(raw.copy(), "duckdb")
    general = durations.nanoseconds(raw.copy())
    fast = negate(exp.Is(this=step, expression=exp.Null()))
    unparsable = exp.Is(this=general, expression=exp.Null())
    passes = case(
        (exp.Is(this=raw.copy(), expression=exp.Null()), exp.false()),
        (fast, _compare(step.copy(), f.op, durations.seconds_literal(f.value))),
        (unparsable, exp.true()),
        default=_compare(general.copy(), f.op, num(f.value)),
    )
    failed = exp.and_(
        negate(exp.Is(this=raw, expression=exp.Null())),
        negate(fast.copy()),
        unparsable.copy(),
        copy=False,
    )
    return passes, failed


def _evaluate(
    layers: Layers, f: ast.LabelFilter, guard: exp.Expression, names: list[str], dialect: str
) -> exp.Expression:
    """Evaluate `f` leaf by leaf, one layer each, as Loki's `BinaryLabelFilter.Process` does.

    `or` skips its right operand when the left passed, `and` always runs both; the first
    converting leaf that fails, among those that run, sets `__error__=LabelFilterErr` and
    owns `__error_details__` (kept in the `_err`/`_det` columns). `guard` says whether the
    current leaf runs. Returns the boolean of `f` over the leaves' pass columns.
    """
    if isinstance(f, ast.OrLabelFilter):
        left = _evaluate(layers, f.left, guard, names, dialect)
        right = _evaluate(
            layers, f.right, exp.and_(guard, negate(left), copy=False), names, dialect
        )
        return exp.or_(left, right, copy=False)
    if isinstance(f, ast.AndLabelFilter):
        left = _evaluate(layers, f.left, guard, names, dialect)
        right = _evaluate(layers, f.right, guard, names, dialect)
        return exp.and_(left, right, copy=False)
    name = f"_lf{len(names)}"
    names.append(name)
    if not converts(f):
        layers.push(**{name: _stateless(f, col(_ERR))})
        return col(name)
    passes, failed, details = converting_leaf(f, _lookup(f.name), dialect)
    sets_error = exp.and_(guard, exp.EQ(this=col(_ERR), expression=lit("")), failed, copy=False)
    layers.push(
        **{
            name: passes,
            _ERR: case((sets_error, lit("LabelFilterErr")), default=col(_ERR)),
            _DET: case((sets_error, details), default=col(_DET)),
        }
    )
    return col(name)


def _label_filter(layers: Layers, stage: ast.LabelFilterStage, dialect: str) -> None:
    if dialect != "duckdb" and _has_ip(stage.filter):
        # The address scanner relies on DuckDB's list lambdas and hex casts.
        raise UnsupportedInDialect("ip() label filter", dialect)
    if not converts(stage.filter):
        layers.filter(_stateless(stage.filter, label(ERROR)))
        return
    layers.push(
        **{
            _ERR: label(ERROR),
            _DET: exp.Coalesce(this=get(col("lbls"), ERROR_DETAILS), expressions=[lit("")]),
        }
    )
    passes = _evaluate(layers, stage.filter, exp.true(), [], dialect)
    layers.push(
        where=passes,
        lbls=case(
            (
                exp.NEQ(this=col(_ERR), expression=label(ERROR)),
                map_set(map_set(col("lbls"), ERROR, col(_ERR)), ERROR_DETAILS, col(_DET)),
            ),
            default=col("lbls"),
        ),
    )


# ------------------------------------------------------------------ formatters, drop/keep


def _line_format(layers: Layers, stage: ast.LineFormat, dialect: str) -> None:
    """Loki's `LineFormatter`: on an execution error the line stays and `__error__` is
    `TemplateFormatErr` with Go's error as details (replacing an earlier error)."""
    rendered = lower_template(stage.template, dialect)
    if rendered.error is None:
        layers.push(line=rendered.text)
        return
    layers.push(_tpl_e=rendered.error)
    ok = exp.Is(this=col("_tpl_e"), expression=exp.Null())
    failed = map_set(
        map_set(col("lbls"), ERROR, lit("TemplateFormatErr")), ERROR_DETAILS, col("_tpl_e")
    )
    layers.push(
        line=case((ok, rendered.text), default=col("line")),
        lbls=case((ok.copy(), col("lbls")), default=failed),
    )


def _label_format(layers: Layers, stage: ast.LabelFormat, dialect: str) -> None:
    """Loki's `LabelsFormatter`, item by item: a rename `dst=src` moves an existing label
    (nothing when `src` is absent); templates read the labels as they were when the first
    template ran; a failing template leaves its label unset and sets
    `__error__=TemplateFormatErr` (the last failure's details win). With `PARSED_NAMES`
    carried, each label set is recorded there."""
    rendered = [lower_template(i.src, dialect, i.dst) if i.template else None for i in stage.items]
    track = PARSED_NAMES in layers.extra

    def on_snapshot(e: exp.Expression) -> exp.Expression:
        """The template reading the label snapshot column instead of `lbls`."""
        snap = col("_tpl_snap")
        return e.transform(lambda n: snap.copy() if n == col("lbls") else n, copy=True)

    def recorded(name: str, when: exp.Expression | None = None) -> dict[str, exp.Expression]:
        """`PARSED_NAMES` with `name` added (when `when` holds), if tracked."""
        if not track:
            return {}
        added = fn("list_append", col(PARSED_NAMES), lit(name))
        if when is not None:
            added = case((when, added), default=col(PARSED_NAMES))
        return {PARSED_NAMES: added}

    fails = any(r is not None and r.error is not None for r in rendered)
    if all(r is not None for r in rendered) and not fails:
        lbls: exp.Expression = col("lbls")
        for item, r in zip(stage.items, rendered, strict=True):
            lbls = map_set(lbls, item.dst, r.text)
        names: dict[str, exp.Expression] = {}
        if track:
            set_names = array(*(lit(i.dst) for i in stage.items))
            names = {PARSED_NAMES: fn("list_concat", col(PARSED_NAMES), set_names)}
        layers.push(lbls=lbls, **names)
        return
    if fails:
        layers.push(_tpl_err=exp.Null())
    snapshot = False
    for item, r in zip(stage.items, rendered, strict=True):
        if r is None:
            moved = map_without(
                map_set(col("lbls"), item.dst, get(col("lbls"), item.src)), [item.src]
            )
            present = negate(exp.Is(this=get(col("lbls"), item.src), expression=exp.Null()))
            layers.push(
                lbls=case((present, moved), default=col("lbls")),
                **recorded(item.dst, present.copy()),
            )
            continue
        if not snapshot:
            layers.push(_tpl_snap=col("lbls"))
            snapshot = True
        text = on_snapshot(r.text)
        if r.error is None:
            layers.push(lbls=map_set(col("lbls"), item.dst, text), **recorded(item.dst))
            continue
        layers.push(_tpl_e=on_snapshot(r.error))
        ok = exp.Is(this=col("_tpl_e"), expression=exp.Null())
        layers.push(
            lbls=case((ok, map_set(col("lbls"), item.dst, text)), default=col("lbls")),
            _tpl_err=exp.Coalesce(this=col("_tpl_e"), expressions=[col("_tpl_err")]),
            **recorded(item.dst, ok.copy()),
        )
    if fails:
        failed = map_set(
            map_set(col("lbls"), ERROR, lit("TemplateFormatErr")), ERROR_DETAILS, col("_tpl_err")
        )
        no_error = exp.Is(this=col("_tpl_err"), expression=exp.Null())
        layers.push(lbls=case((no_error, col("lbls")), default=failed))


def _named_condition(item: ast.NamedMatcher) -> exp.Expression:
    key = exp.Dot(this=col("e"), expression=exp.to_identifier("key"))
    value = exp.Dot(this=col("e"), expression=exp.to_identifier("value"))
    cond = exp.EQ(this=key, expression=lit(item.name))
    if item.matcher is not None:
        cond = exp.And(
            this=cond, expression=string_match(value, item.matcher.op, item.matcher.value)
        )
    return exp.Paren(this=cond)


def _drop(layers: Layers, stage: ast.Drop, dialect: str) -> None:
    any_match = _any(_named_condition(i) for i in stage.items)
    kept = fn(
        "list_filter",
        fn("map_entries", col("lbls")),
        lam(["e"], negate(any_match)),
    )
    layers.push(lbls=fn("map_from_entries", kept))


def _keep(layers: Layers, stage: ast.Keep, dialect: str) -> None:
    key = exp.Dot(this=col("e"), expression=exp.to_identifier("key"))
    errors = exp.In(this=key, expressions=[lit(ERROR), lit(ERROR_DETAILS)])
    any_match = exp.Or(this=errors, expression=_any(_named_condition(i) for i in stage.items))
    kept = fn("list_filter", fn("map_entries", col("lbls")), lam(["e"], any_match))
    layers.push(lbls=fn("map_from_entries", kept))


def _any(conds) -> exp.Expression:
    conds = list(conds)
    out = conds[0]
    for c in conds[1:]:
        out = exp.Or(this=out, expression=c)
    return out


def _unwrap(layers: Layers, stage: ast.Unwrap, dialect: str) -> None:
    raw = get(col("lbls"), stage.label)
    seconds = None
    if stage.conversion in ("duration", "duration_seconds"):
        # a first step here, the seconds from it in the next layer (see `durations`)
        converted = durations.unwrap_step(raw, dialect)
        seconds = durations.unwrap_seconds(col("_value"), raw.copy(), dialect)
    elif stage.conversion == "bytes":
        converted = go_bytes(raw)
    else:
        converted = go_float(raw)
    # Lines without the label (or with it empty) are skipped, as Loki skips them. One
    # reference to the label: DuckDB pushes this filter below the projection that builds
    # `lbls` by inlining that expression, once per reference (NULL <> '' filters too).
    layers.push(where=exp.NEQ(this=raw, expression=lit("")), _value=converted)
    if seconds is not None:
        layers.push(_value=seconds)
    # A value that does not convert is `SampleExtractionErr`, over any earlier error.
    failed = map_set(col("lbls"), ERROR, lit("SampleExtractionErr"))
    failed = map_set(failed, ERROR_DETAILS, conversion_error(stage.conversion, raw.copy()))
    layers.push(
        _value=col("_value"),
        lbls=case((exp.Is(this=col("_value"), expression=exp.Null()), failed), default=col("lbls")),
    )


_STAGES = {
    ast.LineFilter: _line_filter,
    ast.LogfmtParser: _logfmt,
    ast.JsonParser: _json,
    ast.UnpackParser: _unpack,
    ast.RegexpParser: _regexp,
    ast.PatternParser: _pattern,
    ast.Decolorize: _decolorize,
    ast.LabelFilterStage: _label_filter,
    ast.LineFormat: _line_format,
    ast.LabelFormat: _label_format,
    ast.Drop: _drop,
    ast.Keep: _keep,
    ast.Unwrap: _unwrap,
}

__all__ = [
    "Layers",
    "lower_pipeline",
    "label",
    "canonical",
    "converts",
    "sanitize",
    "string_leaf",
    "base_labels",
    "extracted_labels",
    "logfmt_pairs",
    "string_match",
    "COLUMNS",
]
